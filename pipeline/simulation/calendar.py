"""The day grid the simulation runs on: history days, the truth horizon beyond, seasonality.

Everything happens on whole days (day 0 = `start`); hazards are per day. The grid extends
`horizon_days` past the end of the history so the truth for the last snapshots can be computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from foundation.params import SimulateParams
from pipeline.simulation import world


def add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Calendar:
    start: date
    n_days: int  # history length: days [0, n_days) are observed
    horizon: int
    epoch_s: int  # `start` as unix seconds (UTC midnight)
    activity: np.ndarray  # (n_days + horizon,) float32: marketing season x weekday
    sales: np.ndarray  # (n_days + horizon,) float32: sales capacity season x weekday
    arrivals: np.ndarray  # (n_days,) float64 probabilities of a lead being created that day
    snapshot_days: np.ndarray  # (n_snapshots,) int32: month starts after `start`, to the end

    @property
    def n_grid(self) -> int:
        return self.n_days + self.horizon


def build_calendar(params: SimulateParams) -> Calendar:
    start = params.start.replace(day=1)  # snapshots are month starts, so the history is too
    end = add_months(start, params.months)
    n_days = (end - start).days
    n_grid = n_days + params.horizon_days
    days = np.arange(n_grid)
    dates = np.datetime64(start.isoformat(), "D") + days
    months = dates.astype("datetime64[M]").astype(np.int64) % 12  # 0 = January
    weekdays = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    activity = (
        np.asarray(world.MONTH_ACTIVITY)[months] * np.asarray(world.WEEKDAY_ACTIVITY)[weekdays]
    )
    sales = np.asarray(world.MONTH_SALES)[months] * np.asarray(world.WEEKDAY_SALES)[weekdays]
    growth = 1.0 + world.LEAD_GROWTH * days[:n_days] / n_days
    arrivals = growth * activity[:n_days]
    snapshots = [add_months(start, k) for k in range(1, params.months + 1)]
    return Calendar(
        start=start,
        n_days=n_days,
        horizon=params.horizon_days,
        epoch_s=int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()),
        activity=activity.astype(np.float32),
        sales=sales.astype(np.float32),
        arrivals=arrivals / arrivals.sum(),
        snapshot_days=np.array([(s - start).days for s in snapshots], dtype=np.int32),
    )


def snapshot_dates(calendar: Calendar) -> list[date]:
    return [add_months(calendar.start, k) for k in range(1, len(calendar.snapshot_days) + 1)]
