"""The one entry point for features: training, batch scoring and the HTTP service all call
`build_features`, so a model never sees features computed differently from how it was trained.

Point in time: a lead exists at T when created at or before T, and only events at or before T are
read (see features/behaviour.py). Firmographics are taken as they are in the leads table: the
contract has no history for them, so a later edit of a lead's industry is visible at every T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.behaviour import behaviour_columns, behaviour_features, lead_events, utc_datetimes
from features.calendar import calendar_columns, calendar_features
from features.event_families import family_columns, family_features
from features.funnel import funnel_columns, funnel_state
from features.persona import (
    CATEGORICAL,
    FIRMOGRAPHIC_NUMERIC,
    FIT_COLUMNS,
    Personas,
    company_size,
    firmographics,
    persona_fit,
)
from foundation.errors import DataError
from foundation.params import FeatureParams
from foundation.timestamps import as_utc_timestamp

LEAD_ID = "lead_id"
LEAD_COLUMNS: tuple[str, ...] = (LEAD_ID, "created_at")
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class FeatureSpec:
    """Feature names by kind, in table order: numeric first (float64), then categorical (text)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


def feature_spec(params: FeatureParams) -> FeatureSpec:
    """Depends on params only (windows, funnel_state), never on the data, so every table has
    the same columns."""
    funnel_numeric, funnel_categorical = funnel_columns(params)
    numeric = (
        "lead_age_days",
        *behaviour_columns(params),
        *family_columns(params),  # none unless the log has unmapped event types
        *FIRMOGRAPHIC_NUMERIC,
        *FIT_COLUMNS,
        *funnel_numeric,
        *calendar_columns(params),  # none unless features.calendar asks
    )
    return FeatureSpec(numeric=numeric, categorical=(*CATEGORICAL, *funnel_categorical))


def leads_at(leads: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The leads that exist at T (created at or before it), in input order, index 0..n-1.
    Leakage guard: a lead created after T is not in T's world."""
    missing = [c for c in LEAD_COLUMNS if c not in leads.columns]
    if missing:
        raise DataError(f"leads: missing column(s) {missing} (data contract: lead_id, created_at)")
    created = utc_datetimes(leads["created_at"])
    present = leads.loc[created <= np.datetime64(as_of.tz_convert(None).as_unit("ns"))]
    present = present.reset_index(drop=True)
    if not present[LEAD_ID].is_unique:
        dupes = present.loc[present[LEAD_ID].duplicated(), LEAD_ID].head(3).tolist()
        raise DataError(f"leads: lead_id is not unique (e.g. {dupes}); run `leadscore validate`")
    return present


def build_features(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    stages: pd.DataFrame | None,
    as_of: object,
    personas: Personas,
    params: FeatureParams,
) -> pd.DataFrame:
    """Features of every lead existing at `as_of`, from what was known at `as_of`.

    `stages` (lead_id, stage, ts) feeds the funnel-state features (features/funnel.py) when
    `params.funnel_state` is on; None means no lead has a funnel row yet.
    Returns `lead_id` then `feature_spec(params).columns`: numeric float64, categorical object
    with None for missing. Rows follow the order of `leads`. A lead without events gets a full
    row (counts 0, recency NaN). Events of other leads and unknown event types are ignored.
    """
    as_of = as_utc_timestamp(as_of)
    present = leads_at(leads, as_of)
    ev = lead_events(events, present[LEAD_ID], as_of)
    # One 2-D float64 block for the numeric features: one allocation instead of a hundred
    # columns, and no fragmented frame.
    spec = feature_spec(params)
    numeric: dict[str, np.ndarray] = {}
    created = utc_datetimes(present["created_at"])
    as_of_naive = np.datetime64(as_of.tz_convert(None).as_unit("ns"))
    numeric["lead_age_days"] = (as_of_naive - created) / np.timedelta64(SECONDS_PER_DAY, "s")
    numeric.update(behaviour_features(ev, params))
    numeric.update(family_features(events, present[LEAD_ID], as_of, params))

    firmo = firmographics(present)
    fit = persona_fit(firmo, company_size(present), personas, params.persona_min_fit)
    numeric.update({name: firmo[name].to_numpy() for name in FIRMOGRAPHIC_NUMERIC})
    numeric.update({name: fit[name].to_numpy() for name in FIT_COLUMNS})
    funnel: dict[str, np.ndarray] = {}
    if params.funnel_state:
        funnel = funnel_state(present[LEAD_ID], present["created_at"], stages, as_of)
        numeric.update({name: funnel.pop(name) for name in funnel_columns(params)[0]})
    numeric.update(calendar_features(as_of, len(present), params))
    # Filled feature by feature; pandas keeps columns as rows of its block, so this is its layout.
    block = np.empty((len(spec.numeric), len(present)), dtype=np.float64)
    for j, name in enumerate(spec.numeric):
        block[j] = numeric.pop(name)  # pop: free each column once copied in
    frame = pd.DataFrame(block.T, columns=list(spec.numeric), copy=False)
    for name in spec.categorical:
        if name in funnel:
            frame[name] = pd.Series(funnel[name], dtype=object)
            continue
        source = fit if name in fit.columns else firmo
        frame[name] = pd.Series(source[name].to_numpy(), dtype=object)
    frame.insert(0, LEAD_ID, present[LEAD_ID])
    return frame
