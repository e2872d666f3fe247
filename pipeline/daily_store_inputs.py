"""Step 1b of the daily run (pipeline/daily_cli.py): what the store of record adds to the day's
exports before anything is scored. The events posted to `POST /v1/events`, the leads first
known from an `identify` or created in a CRM, and the stages the CRMs sent, each counted once
with the exports' own rows (the exports keep precedence), for the pandas run here and, through
`store_additions`, for the Dask workers. Kept apart from pipeline/daily_steps.py because each
new live source lands here, not in the steps that score and compare."""

from __future__ import annotations

from typing import Any

import pandas as pd


def add_ingested(
    store: Any, leads: pd.DataFrame, events: pd.DataFrame | None, t: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame | None, set[str]]:
    """The events posted to `POST /v1/events` up to the cut-off, added to the exports' (each
    event once), the leads first known from an `identify`, and the leads the real-time path
    handed over already (daily/store_merge.py). With Dask (`events` None: the event log stays
    on the workers) the ingested events reach the workers with `store_additions`."""
    from daily.store_merge import with_ingested_events, with_ingested_leads
    from store.events import EventStore

    live = EventStore(store)
    leads = with_ingested_leads(leads, live.live_leads(), t)
    if events is not None:
        events = with_ingested_events(events, live.events_until(t.to_pydatetime()), t)
    return leads, events, live.handed_over_live()


def add_crm_leads(store: Any, leads: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    """The leads created in a CRM (the store's crm_leads: a BottleCRM, HubSpot or Salesforce
    record) by the cut-off that the exports and `identify` do not hold, their profile in the
    leads contract's columns (crm/lead_profiles.py): they are scored, handed over and counted
    like the exports' leads, and their CRM stages count for them. The exports keep precedence
    (daily/store_merge.py), as for `identify` leads."""
    from crm.lead_profiles import crm_lead_profiles
    from daily.store_merge import with_ingested_leads
    from store.crm_inbox import crm_leads, crm_stage_frame

    records = crm_leads(store)
    if not records:
        return leads
    profiles = crm_lead_profiles(records, crm_stage_frame(store, until=t.to_pydatetime()))
    return with_ingested_leads(leads, profiles, t)


def add_crm_stages(
    store: Any, stages: pd.DataFrame, t: pd.Timestamp
) -> tuple[pd.DataFrame, str | None]:
    """The stages HubSpot and Salesforce sent (the store's crm_stages) up to the cut-off,
    counted with the exports' (sla/crm_stages.py: one row per fact, the earliest time wins),
    so a lead marked contacted, SQL or lost in the CRM since the last export is so for every
    later step: open leads, hand-off, the sales desk's touches, overdue, recap, drift; with
    Dask the workers merge the same rows per partition (`store_additions`). Returns the stages
    and the summary's note (None when the CRMs changed nothing)."""
    from sla.crm_stages import with_crm_stages
    from store.crm_inbox import crm_stage_frame

    merged = with_crm_stages(stages, crm_stage_frame(store, until=t.to_pydatetime()), t)
    return merged.stages, merged.note()


def store_additions(
    store: Any, exported_ids: pd.Series, leads: pd.DataFrame, t: pd.Timestamp
) -> Any:
    """For the Dask workers (engine/daily_dask.py `StoreAdditions`), which read the exports'
    Parquet: the leads the store added to the exports (`leads` less `exported_ids`), the events
    posted live and the CRMs' stages up to the cut-off, merged per lead partition there with
    the functions `add_ingested` and `add_crm_stages` use here."""
    from engine.daily_dask import StoreAdditions
    from store.crm_inbox import crm_stage_frame
    from store.events import EventStore

    added = leads[~leads["lead_id"].astype(str).isin(set(exported_ids.astype(str)))]
    return StoreAdditions(
        added.reset_index(drop=True),
        EventStore(store).events_until(t.to_pydatetime()),
        crm_stage_frame(store, until=t.to_pydatetime()),
    )
