"""The training table: monthly snapshots T, the leads eligible at each, features as of T, labels.

Leakage guards, each one a rule a test pins:
- a lead is in snapshot T only if created at or before T (features/build.py `leads_at`);
- a lead that already reached the target stage (or any later funnel stage) at or before T is left
  out: predicting what has already happened teaches the model nothing and inflates metrics;
- features use events at or before T only (features/behaviour.py);
- the label looks only at (T, T + H]: reaching the target stage later does not count (the month
  label `label_month`, used only to calibrate the monthly SQL forecast, at (T, next month start));
- a snapshot whose horizon T + H ends after the data does is left out of the table: its missing
  positives have not happened yet, not failed to happen.

A lead appears in many snapshots (one row each); the time split (models/split.py) keeps a lead's
later rows out of its earlier rows' training.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.behaviour import utc_datetimes
from features.build import LEAD_ID, build_features, feature_spec, leads_at
from features.persona import Personas
from features.vocabularies import STAGES
from foundation.params import FeatureParams
from foundation.timestamps import as_utc_timestamp

SNAPSHOT = "snapshot"
LABEL = "label"
# The agreement counts SQLs per calendar month: this second label (target reached before the next
# month start) calibrates the month forecast behind the `auto` MQL threshold (models/horizon.py).
# It is never a feature and never the training target.
LABEL_MONTH = "label_month"
LABEL_DTYPE = np.int8
# The funnel in order (the contract's STAGES). `contacted` is the first sales touch, before sql.
# `disqualified` is not on this path: it ends a lead without reaching any later stage.
FUNNEL_ORDER: tuple[str, ...] = tuple(s for s in STAGES if s != "disqualified")
SUMMARY_COLUMNS: tuple[str, ...] = (
    SNAPSHOT,
    "rows",
    "positives",
    "positive_rate",
    "horizon_complete",
)


def stages_at_or_beyond(target_stage: str) -> tuple[str, ...]:
    """A lead at `opportunity` is past `sql` even if the CRM never logged the sql step."""
    return FUNNEL_ORDER[FUNNEL_ORDER.index(target_stage) :]


def target_reached_at(stages: pd.DataFrame, target_stage: str) -> pd.Series:
    """First time each lead reached the target stage or beyond (index lead_id, UTC timestamps).
    Leads that never did are absent."""
    reached = stages.loc[stages["stage"].isin(stages_at_or_beyond(target_stage)).to_numpy()]
    when = pd.Series(utc_datetimes(reached["ts"]), index=reached[LEAD_ID].to_numpy())
    return when.groupby(level=0).min().dt.tz_localize("UTC")


def observed_until(
    events: pd.DataFrame, stages: pd.DataFrame, explicit: object | None = None
) -> pd.Timestamp:
    """The end of the data: `explicit` (params.features.data_end) if given, else the latest
    event or stage time. Beyond it, absence of a conversion means nothing."""
    if explicit is not None:
        return as_utc_timestamp(explicit)
    latest = [
        pd.Timestamp(utc_datetimes(frame["ts"]).max())
        for frame in (events, stages)
        if len(frame) and "ts" in frame.columns
    ]
    latest = [t for t in latest if not pd.isna(t)]
    if not latest:
        raise ValueError("no events or stages with a timestamp: cannot tell where the data ends")
    return as_utc_timestamp(max(latest))


def month_start(moment: pd.Timestamp) -> pd.Timestamp:
    return as_utc_timestamp(pd.Timestamp(year=moment.year, month=moment.month, day=1))


# features.snapshot_every -> the pandas frequency of the snapshot dates (00:00 UTC).
SNAPSHOT_FREQUENCIES: dict[str, str] = {
    "month": "MS",
    "quarter": "QS",
    "week": "W-MON",
    "day": "D",
}


def period_start(moment: pd.Timestamp, every: str) -> pd.Timestamp:
    """The start of the cadence's period holding `moment` (month, quarter, Monday or day)."""
    day = as_utc_timestamp(moment).normalize()
    if every == "month":
        return month_start(day)
    if every == "quarter":
        return as_utc_timestamp(
            pd.Timestamp(year=day.year, month=3 * ((day.month - 1) // 3) + 1, day=1)
        )
    if every == "week":
        return day - pd.Timedelta(days=day.dayofweek)
    return day


def snapshot_dates(
    first: date, last: date | None, data_end: pd.Timestamp, every: str = "month"
) -> list[pd.Timestamp]:
    """Period starts (00:00 UTC; month starts by default, or quarter starts, Mondays, days) from
    `first` to `last` (default: the latest period start at or before the end of the data). A date
    that is not a period start is moved to its period's start."""
    start = period_start(as_utc_timestamp(first), every)
    stop = period_start(as_utc_timestamp(last) if last is not None else data_end, every)
    return list(pd.date_range(start, stop, freq=SNAPSHOT_FREQUENCIES[every]))


def recent_enough(
    present: pd.DataFrame, snapshot: pd.Timestamp, max_age_days: int | None
) -> np.ndarray:
    """Leads created within `max_age_days` before T (all when None): a long log would otherwise
    carry every lead that never converted into every later snapshot."""
    if max_age_days is None:
        return np.ones(len(present), dtype=bool)
    oldest = np.datetime64(
        (snapshot - pd.Timedelta(days=max_age_days)).tz_convert(None).as_unit("ns")
    )
    return utc_datetimes(present["created_at"]) > oldest


def first_reached(lead_ids: pd.Series, reached_at: pd.Series) -> pd.Series:
    """When each lead (positionally) first reached the target stage; NaT if it never did."""
    return reached_at.reindex(lead_ids.to_numpy()).reset_index(drop=True)


def eligible(first: pd.Series, snapshot: pd.Timestamp) -> np.ndarray:
    """Not yet at (or beyond) the target stage at T. NaT (never reached) compares False."""
    return ~(first <= snapshot).to_numpy()


def labels(first: pd.Series, snapshot: pd.Timestamp, horizon_days: int) -> np.ndarray:
    """1 when the target stage was first reached in (T, T + H]: strictly after T (at T the lead
    is already excluded) and no later than the horizon end; what happens after T + H is unseen."""
    end = snapshot + pd.Timedelta(days=horizon_days)
    return ((first > snapshot) & (first <= end)).to_numpy().astype(LABEL_DTYPE)


def month_labels(first: pd.Series, snapshot: pd.Timestamp) -> np.ndarray:
    """1 when the target stage was first reached after T and before the next month starts: the
    SQLs of T's calendar month when T is a month start (the agreement's unit)."""
    end = snapshot + pd.DateOffset(months=1)
    return ((first > snapshot) & (first < end)).to_numpy().astype(LABEL_DTYPE)


@dataclass(frozen=True)
class TrainingTable:
    """`table`: lead_id, snapshot, label, features (complete snapshots only).
    `snapshots`: one row per snapshot date, complete or not (SUMMARY_COLUMNS)."""

    table: pd.DataFrame
    snapshots: pd.DataFrame
    data_end: pd.Timestamp


def training_table(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    stages: pd.DataFrame,
    personas: Personas,
    params: FeatureParams,
) -> TrainingTable:
    """Build every complete snapshot's rows; report incomplete ones without building them."""
    end = observed_until(events, stages, params.data_end)
    reached_at = target_reached_at(stages, params.target_stage)
    horizon = pd.Timedelta(days=params.horizon_days)
    parts, stats = [], []
    every = params.snapshot_every
    for snapshot in snapshot_dates(params.first_snapshot, params.last_snapshot, end, every):
        present = leads_at(leads, snapshot)
        first = first_reached(present[LEAD_ID], reached_at)
        keep = eligible(first, snapshot) & recent_enough(
            present, snapshot, params.max_lead_age_days
        )
        complete = snapshot + horizon <= end
        row = {SNAPSHOT: snapshot, "rows": int(keep.sum()), "horizon_complete": bool(complete)}
        if not complete:
            # Positives so far would understate the rate: report none rather than a wrong one.
            stats.append({**row, "positives": None, "positive_rate": None})
            continue
        features = build_features(present, events, stages, snapshot, personas, params)
        features = features.loc[keep].reset_index(drop=True)
        kept_first = first[keep].reset_index(drop=True)
        label = labels(kept_first, snapshot, params.horizon_days)
        features.insert(1, SNAPSHOT, snapshot)
        features.insert(2, LABEL, label)
        features.insert(3, LABEL_MONTH, month_labels(kept_first, snapshot))
        parts.append(features)
        positives = int(label.sum())
        rate = positives / len(label) if len(label) else None
        stats.append({**row, "positives": positives, "positive_rate": rate})
    empty = pd.DataFrame(
        columns=[LEAD_ID, SNAPSHOT, LABEL, LABEL_MONTH, *feature_spec(params).columns]
    )
    table = pd.concat(parts, ignore_index=True) if parts else empty
    snapshots = pd.DataFrame(stats, columns=list(SUMMARY_COLUMNS))
    return TrainingTable(table=table, snapshots=snapshots, data_end=end)


def summarise(result: TrainingTable, params: FeatureParams) -> dict[str, object]:
    """summary.json: per snapshot rows, positives, positive rate, horizon_complete; totals over
    the snapshots in the table (complete ones)."""
    snaps = result.snapshots
    complete = snaps[snaps["horizon_complete"]]
    rows, positives = int(complete["rows"].sum()), int(complete["positives"].fillna(0).sum())
    return {
        "target_stage": params.target_stage,
        "horizon_days": params.horizon_days,
        "data_end": result.data_end.isoformat(),
        "snapshots": [
            {
                SNAPSHOT: s[SNAPSHOT].date().isoformat(),
                "rows": int(s["rows"]),
                "positives": None if pd.isna(s["positives"]) else int(s["positives"]),
                "positive_rate": None
                if pd.isna(s["positive_rate"])
                else round(float(s["positive_rate"]), 6),
                "horizon_complete": bool(s["horizon_complete"]),
            }
            for _, s in snaps.iterrows()
        ],
        "totals": {
            "snapshots": len(snaps),
            "snapshots_in_table": len(complete),
            "rows": rows,
            "positives": positives,
            "positive_rate": round(positives / rows, 6) if rows else None,
        },
    }
