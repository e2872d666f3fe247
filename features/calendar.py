"""Calendar features of the snapshot date T: when in the year (or the week) the lead is scored.

Conversion rates move with the calendar: budgets close at the year's end, summers are slow, a
public office pays out by quarter. A lead's own history cannot tell the model which part of the
year T falls in, so a project may ask for it (`features.calendar`, default none):

- `calendar_month_of_year`: the month of T, 1 (January) to 12;
- `calendar_day_of_week`: the weekday of T, 0 (Monday) to 6, for daily snapshots.

Both are read from T in UTC, the time every snapshot and score is taken at. They are the same for
every lead of one snapshot: they move the level of the probability between snapshots and let the
trees read the other features differently by season. The drift check leaves them out (a day's
scores all share one month, which says nothing about the population moving).

Point in time by construction: T is known when scoring at T.
"""

from __future__ import annotations

from datetime import datetime
from typing import get_args

import numpy as np

from foundation.params import CalendarPart, FeatureParams

PREFIX = "calendar_"
PARTS: tuple[str, ...] = get_args(CalendarPart)


def calendar_columns(params: FeatureParams) -> tuple[str, ...]:
    """The calendar columns the parameters ask for, in the order they list them."""
    return tuple(f"{PREFIX}{part}" for part in params.calendar)


def is_calendar(name: str) -> bool:
    return name.startswith(PREFIX) and name[len(PREFIX) :] in PARTS


def calendar_values(as_of: datetime, params: FeatureParams) -> dict[str, float]:
    """One value per calendar column for the snapshot date `as_of` (aware; read in UTC)."""
    values = {"month_of_year": float(as_of.month), "day_of_week": float(as_of.weekday())}
    return {f"{PREFIX}{part}": values[part] for part in params.calendar}


def calendar_features(
    as_of: datetime, n_leads: int, params: FeatureParams
) -> dict[str, np.ndarray]:
    """The calendar columns for `n_leads` leads scored at `as_of`: one value repeated."""
    return {
        name: np.full(n_leads, value, dtype=np.float64)
        for name, value in calendar_values(as_of, params).items()
    }
