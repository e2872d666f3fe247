"""The daily run's view of what the store holds beside the file exports: the events posted as
they happened and the leads first known from an `identify` or a CRM, added to the exports'
events and leads, each event and lead once, so the day's scores, recap and dashboard count both.
Pure functions over frames, here so the pandas path (pipeline/daily_steps.py) and the Dask
workers (engine/) merge alike.

An event a marketing tool both posted live and exported to the daily file is the same lead,
time, type and topic: kept once. A lead known only from an `identify` joins the leads with its
traits; a lead in the exports keeps the exports' profile (the CRM is the record of it).
"""

from __future__ import annotations

import pandas as pd

EVENT_KEY = ["lead_id", "ts", "event_type", "content_topic"]


def with_ingested_events(
    events: pd.DataFrame, ingested: pd.DataFrame, cut_off: pd.Timestamp
) -> pd.DataFrame:
    """The exports' events plus the ingested ones up to the cut-off, duplicates dropped; the
    exports' columns and dtypes kept (columns the ingested rows lack are empty)."""
    ingested = ingested[pd.to_datetime(ingested["ts"], utc=True) <= cut_off]
    if not len(ingested):
        return events
    events, add = _alike(events, ingested.reindex(columns=events.columns))
    key = [c for c in EVENT_KEY if c in events.columns]
    # An ingested event the exports hold too is left out; the exports' own rows are all kept
    # (a log may hold the same event twice: the daily run counted both before).
    exported = pd.MultiIndex.from_frame(events[key].astype(object).where(events[key].notna(), None))
    mine = pd.MultiIndex.from_frame(add[key].astype(object).where(add[key].notna(), None))
    add = add[~mine.isin(exported)]
    return pd.concat([events, add], ignore_index=True)


def with_ingested_leads(
    leads: pd.DataFrame, live: pd.DataFrame, cut_off: pd.Timestamp
) -> pd.DataFrame:
    """The exports' leads plus those first known elsewhere (an `identify`, a CRM record),
    created by the cut-off; a lead the exports hold keeps the exports' profile."""
    if not len(live):
        return leads
    live = live[pd.to_datetime(live["created_at"], utc=True) <= cut_off]
    new = live[~live["lead_id"].astype(str).isin(set(leads["lead_id"].astype(str)))]
    if not len(new):
        return leads
    leads, add = _alike(leads, new.reindex(columns=leads.columns))
    return pd.concat([leads, add], ignore_index=True)


def _alike(base: pd.DataFrame, add: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`add` in `base`'s dtypes (a category column gains the new values as categories), so the
    concatenation keeps the exports' types (company_size stays Int64, not object)."""
    add = add.copy()
    for column in base.columns:
        dtype = base[column].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            categories = dtype.categories.union(pd.Index(add[column].dropna().unique()))
            base = base.assign(**{column: base[column].cat.set_categories(categories)})
            add[column] = pd.Categorical(add[column], categories=categories)
        elif isinstance(dtype, pd.DatetimeTZDtype):
            add[column] = pd.to_datetime(add[column], utc=True).astype(dtype)
        else:
            add[column] = add[column].astype(dtype)
    return base, add
