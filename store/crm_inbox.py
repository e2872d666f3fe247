"""What CRMs sent, stored once: the `crm_messages`, `crm_leads` and `crm_stages` tables.

CRMs deliver at least once and out of order (Salesforce's outbound messages say so; HubSpot
retries what it did not see answered). So every write here is order-free and repeat-free:
- a message id already in `crm_messages` changes nothing (the whole message is skipped);
- a lead row keeps the record's newest state (`changed_at` decides, not arrival order);
- a stage row keeps the earliest time the lead reached that stage.
One message is one transaction: its id, its leads and its stages land together or not at all,
so a CRM told "stored" (Salesforce's Ack) can rely on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from store import schema
from store.records import Store

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CrmLead:
    """A CRM record that is a lead in leadscore (`lead_id`)."""

    crm: str
    record_id: str
    lead_id: str
    changed_at: datetime
    email: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CrmStage:
    """A lead reached a funnel stage: the CRM status that means it, and when."""

    lead_id: str
    stage: str
    ts: datetime
    crm_status: str


@dataclass(frozen=True)
class CrmMessage:
    """One delivery unit a CRM may repeat: a HubSpot event, a Salesforce Notification."""

    crm: str
    message_id: str
    kind: str
    leads: tuple[CrmLead, ...] = ()
    stages: tuple[CrmStage, ...] = ()


@dataclass(frozen=True)
class InboxResult:
    stored: int  # messages new to the store
    duplicates: int  # messages seen before: nothing changed


def record_messages(store: Store, messages: Sequence[CrmMessage], now: datetime) -> InboxResult:
    """Store every message not stored before, each in its own transaction (see module doc).
    Raises what the database raises: the caller must not acknowledge then."""
    stored = duplicates = 0
    for message in messages:
        with store.engine.begin() as conn:
            if _claim(conn, message, now):
                for lead in message.leads:
                    _upsert_lead(conn, lead)
                for stage in message.stages:
                    _upsert_stage(conn, stage, message)
                stored += 1
            else:
                duplicates += 1
    return InboxResult(stored, duplicates)


def _insert_ignoring_conflict(conn: sa.Connection, table: sa.Table, row: dict[str, Any]) -> bool:
    """INSERT the row unless its primary key exists (race-free on both backends); True when
    inserted."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table).values(**row).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).values(**row).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg's rowcount for a skipped ON CONFLICT row is not 0.
    key = next(iter(table.primary_key.columns))
    return conn.execute(stmt.returning(key)).first() is not None


def _claim(conn: sa.Connection, message: CrmMessage, now: datetime) -> bool:
    row = {
        "crm": message.crm,
        "message_id": message.message_id,
        "kind": message.kind,
        "received_at": now,
    }
    return _insert_ignoring_conflict(conn, schema.crm_messages, row)


def _upsert_lead(conn: sa.Connection, lead: CrmLead) -> None:
    table = schema.crm_leads
    row = {
        "crm": lead.crm,
        "record_id": lead.record_id,
        "lead_id": lead.lead_id,
        "email": lead.email,
        "changed_at": lead.changed_at,
        "properties_json": lead.properties,
    }
    if _insert_ignoring_conflict(conn, table, row):
        return
    # Known record: take this state only if it is newer; an older one arriving late is history.
    newer = {k: v for k, v in row.items() if k not in ("crm", "record_id", "lead_id")}
    if lead.email is None:
        newer.pop("email")
    if not lead.properties:
        newer.pop("properties_json")
    conn.execute(
        table.update()
        .where(
            table.c.crm == lead.crm,
            table.c.record_id == lead.record_id,
            table.c.changed_at < schema.to_utc(lead.changed_at),
        )
        .values(**newer)
    )


def _upsert_stage(conn: sa.Connection, stage: CrmStage, message: CrmMessage) -> None:
    table = schema.crm_stages
    row = {
        "lead_id": stage.lead_id,
        "stage": stage.stage,
        "ts": stage.ts,
        "crm": message.crm,
        "crm_status": stage.crm_status,
        "message_id": message.message_id,
    }
    if _insert_ignoring_conflict(conn, table, row):
        return
    conn.execute(  # the earliest time a lead reached a stage wins, whatever came first
        table.update()
        .where(
            table.c.lead_id == stage.lead_id,
            table.c.stage == stage.stage,
            table.c.ts > schema.to_utc(stage.ts),
        )
        .values(ts=stage.ts, crm_status=stage.crm_status, message_id=message.message_id)
    )


def crm_leads(store: Store, crm: str | None = None) -> list[CrmLead]:
    """The stored CRM leads (one CRM's, or all), by CRM and record id."""
    table = schema.crm_leads
    query = sa.select(table).order_by(table.c.crm, table.c.record_id)
    if crm is not None:
        query = query.where(table.c.crm == crm)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        CrmLead(
            crm=r["crm"],
            record_id=r["record_id"],
            lead_id=r["lead_id"],
            changed_at=r["changed_at"],
            email=r["email"],
            properties=r["properties_json"] or {},
        )
        for r in rows
    ]


def crm_stages(store: Store) -> list[CrmStage]:
    """The stage rows CRMs gave, by lead and time (the stages table's lead_id, stage, ts)."""
    table = schema.crm_stages
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.lead_id, table.c.ts)).mappings()
        return [CrmStage(r["lead_id"], r["stage"], r["ts"], r["crm_status"]) for r in rows]


def crm_stage_frame(store: Store, until: datetime | None = None) -> pd.DataFrame:
    """The CRMs' stages as the stages table's columns (lead_id, stage, ts UTC) plus the CRM and
    its status, up to `until` when given: what the daily run, the SLA report and the dashboard
    merge with the exports' stages (sla/crm_stages.py)."""
    import pandas as pd  # not at import: the service starts without it

    table = schema.crm_stages
    query = sa.select(table.c.lead_id, table.c.stage, table.c.ts, table.c.crm, table.c.crm_status)
    if until is not None:
        query = query.where(table.c.ts <= schema.to_utc(until))
    with store.engine.connect() as conn:
        rows = conn.execute(query.order_by(table.c.lead_id, table.c.ts)).all()
    frame = pd.DataFrame(rows, columns=["lead_id", "stage", "ts", "crm", "crm_status"])
    return frame.assign(ts=pd.to_datetime(frame["ts"], utc=True))


def stored_crm(url: str | None = None) -> tuple[pd.DataFrame, list[CrmLead]] | None:
    """`crm_stage_frame` and `crm_leads` of the store at `url` (default $LEADSCORE_DB_URL,
    else the default SQLite file); None when there is no store: no URL set and no SQLite file,
    so a report run where no service ever stored anything does not create an empty store. A
    store that is configured but cannot be opened is the ConfigError `Store.open` raises."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from store.urls import resolve_url

    resolved = resolve_url(url)
    parsed = make_url(resolved)
    if parsed.get_backend_name() == "sqlite" and (
        not parsed.database or not Path(parsed.database).exists()
    ):
        return None
    with Store.open(resolved) as store:
        return crm_stage_frame(store), crm_leads(store)


def message_count(store: Store, crm: str) -> int:
    table = schema.crm_messages
    with store.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(table.c.crm == crm)
        return int(conn.execute(query).scalar_one())
