"""Funnel-state features at T: where each lead stands in the funnel, from stage rows at or before T.

Why: whether a lead was already handed to sales (MQL), whether sales has reached it and how long
ago, and whether it was disqualified are facts known at T that change its chance of becoming SQL
more than most behaviour does (on the default data 21% of test rows were MQL at T and converted
at 3x the rate of the rest). They are CRM facts, not guesses, so using them is not leakage as
long as only rows at or before T are read.

Leakage guard: `funnel_state` drops every stage row after T before anything is computed; a test
pins that adding later rows changes nothing.

Rules (one lead's rows sorted by time, ties in funnel order with `disqualified` last):
- `funnel_stage`: the stage of the last row (`prospect` when the lead has no row by T).
- `days_in_stage`: days since the current stage began (the first row of the final run of rows
  with that stage); NaN without rows.
- `reached_mql`, `days_since_mql`, `days_created_to_mql`: the first row at `mql` or a later
  funnel stage (a CRM that skipped the `mql` row still handed the lead over).
- `contacted`, `days_since_first_contact`, `hours_mql_to_contact`: the first sales touch
  (`contacted`, `sql`, `opportunity`, `customer`, as the SLA report counts follow-up); the
  follow-up delay is the simulator's and real life's strongest driver of conversion after MQL.
- `disqualified`, `days_since_disqualified`: the latest `disqualified` row.
- `recycled`: 1 when any other stage row follows the first `disqualified` row (the lead came back).
Flags are 0/1 floats; "never" is NaN for times. Unknown stage names are ignored.

Two implementations of the same rules: `funnel_state` (numpy, every lead at once: training and
batch scoring) and `funnel_state_one` (plain Python, one lead: the service's hot path). Both use
integer nanoseconds and one float division per figure, so they agree bit for bit
(tests/test_features_funnel.py pins it on random leads).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from features.behaviour import codes_in, utc_datetimes
from features.vocabularies import STAGES
from foundation.errors import DataError
from foundation.params import FeatureParams
from foundation.timestamps import as_utc_timestamp

NO_STAGE = "prospect"  # a lead known to us (in the leads table) with no funnel row yet
DISQUALIFIED = "disqualified"
MQL_OR_LATER: tuple[str, ...] = ("mql", "contacted", "sql", "opportunity", "customer")
SALES_TOUCH: tuple[str, ...] = ("contacted", "sql", "opportunity", "customer")
STAGE_COLUMNS: tuple[str, ...] = ("lead_id", "stage", "ts")
NANOS_PER_DAY = 86_400 * 10**9
NANOS_PER_HOUR = 3_600 * 10**9

FUNNEL_NUMERIC: tuple[str, ...] = (
    "reached_mql",
    "days_since_mql",
    "days_created_to_mql",
    "contacted",
    "days_since_first_contact",
    "hours_mql_to_contact",
    "disqualified",
    "days_since_disqualified",
    "recycled",
    "days_in_stage",
)
FUNNEL_CATEGORICAL: tuple[str, ...] = ("funnel_stage",)

_RANK = {stage: i for i, stage in enumerate(STAGES)}  # `disqualified` is last in STAGES
_DQ = _RANK[DISQUALIFIED]
_MQL_OR_LATER = np.array([_RANK[s] for s in MQL_OR_LATER])
_TOUCH = np.array([_RANK[s] for s in SALES_TOUCH])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def funnel_columns(params: FeatureParams) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(numeric, categorical) funnel-state names; none when `features.funnel_state` is off."""
    return (FUNNEL_NUMERIC, FUNNEL_CATEGORICAL) if params.funnel_state else ((), ())


def _days(delta_ns: np.ndarray) -> np.ndarray:
    return delta_ns.astype(np.float64) / float(NANOS_PER_DAY)


def _first_per_lead(
    lead: np.ndarray, values: np.ndarray, mask: np.ndarray, n: int, last: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(has, value) per lead of the first (or last) masked row; rows sorted by lead then time."""
    rows = np.flatnonzero(mask)
    has = np.zeros(n, dtype=bool)
    out = np.zeros(n, dtype=values.dtype)
    if rows.size:
        picked_lead = lead[rows]
        if last:
            # The last row of a lead is the one whose successor belongs to another lead.
            end = np.r_[picked_lead[1:] != picked_lead[:-1], True]
            chosen = rows[end]
        else:
            start = np.r_[True, picked_lead[1:] != picked_lead[:-1]]
            chosen = rows[start]
        has[lead[chosen]] = True
        out[lead[chosen]] = values[chosen]
    return has, out


def funnel_state(
    lead_ids: pd.Series,
    created_at: pd.Series,
    stages: pd.DataFrame | None,
    as_of: object,
) -> dict[str, np.ndarray]:
    """Funnel-state features of the leads `lead_ids` (positionally) as of `as_of`.

    Returns FUNNEL_NUMERIC as float64 arrays and `funnel_stage` as an object array of stage
    names. `stages=None` or an empty table means no lead has a funnel row (all `prospect`).
    Only rows of these leads at or before `as_of` are read; no state crosses leads, so the
    function runs unchanged on a partition of leads with their own stage rows.
    """
    n = len(lead_ids)
    as_of = as_utc_timestamp(as_of)
    t_ns = as_of.value
    created_ns = utc_datetimes(created_at).astype("datetime64[ns]").view(np.int64)
    nan = np.full(n, np.nan)
    out: dict[str, np.ndarray] = {name: nan.copy() for name in FUNNEL_NUMERIC}
    for flag in ("reached_mql", "contacted", "disqualified", "recycled"):
        out[flag] = np.zeros(n)
    stage_name = np.full(n, NO_STAGE, dtype=object)
    out["funnel_stage"] = stage_name
    if stages is None or not len(stages) or not n:
        return out
    missing = [c for c in STAGE_COLUMNS if c not in stages.columns]
    if missing:
        raise DataError(f"stages: missing column(s) {missing} (data contract: lead_id, stage, ts)")

    when = utc_datetimes(stages["ts"]).astype("datetime64[ns]")
    # Leakage guard: a stage row after T never reaches a feature at T (NaT compares False).
    keep = when <= np.datetime64(t_ns, "ns")
    lead = codes_in(stages["lead_id"], lead_ids.astype(str).tolist())
    rank = codes_in(stages["stage"], STAGES)
    keep &= (lead >= 0) & (rank >= 0)
    lead, rank, ts = lead[keep], rank[keep], when[keep].view(np.int64)
    if not lead.size:
        return out
    order = np.lexsort((rank, ts, lead))  # by lead, then time, ties in funnel order
    lead, rank, ts = lead[order], rank[order], ts[order]

    # Current stage and when it began: the last row, and the first row of its final run.
    has_rows, last_rank = _first_per_lead(lead, rank, np.ones(lead.size, bool), n, last=True)
    run_start = np.r_[True, (lead[1:] != lead[:-1]) | (rank[1:] != rank[:-1])]
    _, began = _first_per_lead(lead, ts, run_start, n, last=True)
    stage_name[has_rows] = np.asarray(STAGES, dtype=object)[last_rank[has_rows]]
    out["days_in_stage"] = np.where(has_rows, _days(t_ns - began), np.nan)

    is_mql, mql_ts = _first_per_lead(lead, ts, np.isin(rank, _MQL_OR_LATER), n)
    out["reached_mql"] = is_mql.astype(np.float64)
    out["days_since_mql"] = np.where(is_mql, _days(t_ns - mql_ts), np.nan)
    out["days_created_to_mql"] = np.where(is_mql, _days(mql_ts - created_ns), np.nan)

    touched, touch_ts = _first_per_lead(lead, ts, np.isin(rank, _TOUCH), n)
    out["contacted"] = touched.astype(np.float64)
    out["days_since_first_contact"] = np.where(touched, _days(t_ns - touch_ts), np.nan)
    both = touched & is_mql
    hours = (touch_ts - mql_ts).astype(np.float64) / float(NANOS_PER_HOUR)
    out["hours_mql_to_contact"] = np.where(both, hours, np.nan)

    dq = rank == _DQ
    was_dq, dq_last_ts = _first_per_lead(lead, ts, dq, n, last=True)
    out["disqualified"] = was_dq.astype(np.float64)
    out["days_since_disqualified"] = np.where(was_dq, _days(t_ns - dq_last_ts), np.nan)
    position = np.arange(lead.size)
    _, first_dq_pos = _first_per_lead(lead, position, dq, n)
    other, last_other_pos = _first_per_lead(lead, position, ~dq, n, last=True)
    out["recycled"] = (was_dq & other & (last_other_pos > first_dq_pos)).astype(np.float64)
    return out


def _ns(moment: datetime) -> int:
    """Integer nanoseconds since the epoch at microsecond precision (as pandas stores them)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return ((moment - _EPOCH) // _MICROSECOND) * 1000


def funnel_state_one(
    created_at: datetime, stages: Iterable[tuple[datetime, str]], as_of: datetime
) -> dict[str, object]:
    """`funnel_state` for one lead from (ts, stage) pairs, in plain Python (same rules, same
    arithmetic: integer nanoseconds, one float division per figure)."""
    t_ns, created_ns = _ns(as_of), _ns(created_at)
    rows = sorted(
        (when, _RANK[stage])
        for when, stage in ((_ns(ts), stage) for ts, stage in stages)
        if stage in _RANK and when <= t_ns  # leakage guard: nothing after T
    )
    nan = math.nan
    out: dict[str, object] = {name: nan for name in FUNNEL_NUMERIC}
    out.update(reached_mql=0.0, contacted=0.0, disqualified=0.0, recycled=0.0)
    out["funnel_stage"] = NO_STAGE
    if not rows:
        return out
    mql_or_later, touch = set(_MQL_OR_LATER.tolist()), set(_TOUCH.tolist())
    last_rank = rows[-1][1]
    began = rows[-1][0]
    for when, rank in reversed(rows):
        if rank != last_rank:
            break
        began = when
    out["funnel_stage"] = STAGES[last_rank]
    out["days_in_stage"] = float(t_ns - began) / float(NANOS_PER_DAY)
    mql_ts = next((w for w, r in rows if r in mql_or_later), None)
    touch_ts = next((w for w, r in rows if r in touch), None)
    if mql_ts is not None:
        out["reached_mql"] = 1.0
        out["days_since_mql"] = float(t_ns - mql_ts) / float(NANOS_PER_DAY)
        out["days_created_to_mql"] = float(mql_ts - created_ns) / float(NANOS_PER_DAY)
    if touch_ts is not None:
        out["contacted"] = 1.0
        out["days_since_first_contact"] = float(t_ns - touch_ts) / float(NANOS_PER_DAY)
        if mql_ts is not None:
            out["hours_mql_to_contact"] = float(touch_ts - mql_ts) / float(NANOS_PER_HOUR)
    dq_positions = [i for i, (_, r) in enumerate(rows) if r == _DQ]
    if dq_positions:
        out["disqualified"] = 1.0
        out["days_since_disqualified"] = float(t_ns - rows[dq_positions[-1]][0]) / float(
            NANOS_PER_DAY
        )
        others = [i for i, (_, r) in enumerate(rows) if r != _DQ]
        out["recycled"] = float(bool(others) and others[-1] > dq_positions[0])
    return out
