"""What sales did with each handed-over lead, and who owns it: the `lead_actions` table.

Append-only: an action is never updated or deleted, so "who did what, when" is a plain read and
the current state of a lead (its owner, its attempts, a snooze, a close) is always recomputed
from the whole history (sales/worklist.py). Writers give who (`actor`: a rep's name, or
`leadscore` for the desk's own moves) and where from (`source`: api, dashboard, crm, leadscore);
`at` is the moment the store received it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from foundation.errors import DataError
from store import schema
from store.records import Store

if TYPE_CHECKING:
    import pandas as pd

ACTION_COLUMNS = (
    "id",
    "lead_id",
    "kind",
    "at",
    "actor",
    "source",
    "channel",
    "until",
    "reason",
    "owner",
    "team",
    "note",
)


@dataclass(frozen=True)
class LeadAction:
    """One act on a lead; `id` is given by the store."""

    lead_id: str
    kind: str
    at: datetime
    actor: str
    source: str
    channel: str | None = None
    until: date | None = None
    reason: str | None = None
    owner: str | None = None
    team: str | None = None
    note: str | None = None
    id: int | None = None

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("id")
        return row


def record_actions(store: Store, actions: Sequence[LeadAction]) -> list[LeadAction]:
    """Store `actions` in ONE transaction (all or none); returns them with their ids."""
    if not actions:
        return []
    for n, action in enumerate(actions):
        if action.kind not in schema.ACTION_KINDS:
            raise DataError(
                f"store: action {n} (lead {action.lead_id!r}): kind {action.kind!r} is not one "
                f"of {', '.join(schema.ACTION_KINDS)}"
            )
    table = schema.lead_actions
    out = []
    try:
        with store.engine.begin() as conn:
            for action in actions:
                new_id = conn.execute(
                    table.insert().returning(table.c.id), [action.to_row()]
                ).scalar_one()
                out.append(LeadAction(**{**asdict(action), "id": int(new_id)}))
    except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise DataError(f"store: actions not saved (nothing written): {first[0]}") from exc
    return out


def record_action(store: Store, action: LeadAction) -> LeadAction:
    """Store one action; returns it with its id."""
    return record_actions(store, [action])[0]


def lead_actions(
    store: Store, lead_ids: Sequence[str] | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """Every action (of `lead_ids` when given; at or before `until` when given), oldest first
    (ties by id: the order they were stored in), columns ACTION_COLUMNS."""
    import pandas as pd

    table = schema.lead_actions
    query = sa.select(*(table.c[c] for c in ACTION_COLUMNS)).order_by(table.c.at, table.c.id)
    if until is not None:
        query = query.where(table.c.at <= until)
    rows: list[Any] = []
    with store.engine.connect() as conn:
        if lead_ids is None:
            rows = list(conn.execute(query).all())
        else:
            ids = [str(i) for i in dict.fromkeys(lead_ids)]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows.extend(conn.execute(query.where(table.c.lead_id.in_(chunk))).all())
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(ACTION_COLUMNS))
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    if lead_ids is not None and len(frame):
        frame = frame.sort_values(["at", "id"], kind="stable").reset_index(drop=True)
    return frame


def handed_over_leads(store: Store) -> pd.DataFrame:
    """Every lead ever handed over, once (its first hand-off): lead_id, run_date, handed_at,
    followup_deadline and the hand-off's payload (tier, grade, channel, persona, contact)."""
    import pandas as pd

    table = schema.handoffs
    query = sa.select(
        table.c.lead_id, table.c.run_date, table.c.handed_at, table.c.payload_json
    ).order_by(table.c.lead_id, table.c.run_date)
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query).all()]
    frame = pd.DataFrame(rows, columns=["lead_id", "run_date", "handed_at", "payload"])
    frame["handed_at"] = pd.to_datetime(frame["handed_at"], utc=True)
    return frame.drop_duplicates("lead_id", keep="first").reset_index(drop=True)


def outbox_of(store: Store, lead_id: str) -> pd.DataFrame:
    """The lead's deliveries (outbox rows), oldest first: key, run_date, status, attempts,
    acknowledged_at, last_error."""
    import pandas as pd

    table = schema.outbox
    columns = (
        "key",
        "run_date",
        "created_at",
        "status",
        "attempts",
        "acknowledged_at",
        "last_error",
    )
    query = (
        sa.select(*(table.c[c] for c in columns))
        .where(table.c.lead_id == str(lead_id))
        .order_by(table.c.created_at)
    )
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query).all()]
    return pd.DataFrame(rows, columns=list(columns))


def handoffs_of(store: Store, lead_id: str) -> pd.DataFrame:
    """The lead's hand-offs (normally one), oldest first: run_date, handed_at,
    followup_deadline, payload (decoded)."""
    import pandas as pd

    table = schema.handoffs
    query = (
        sa.select(
            table.c.run_date, table.c.handed_at, table.c.followup_deadline, table.c.payload_json
        )
        .where(table.c.lead_id == str(lead_id))
        .order_by(table.c.run_date)
    )
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query).all()]
    return pd.DataFrame(rows, columns=["run_date", "handed_at", "followup_deadline", "payload"])
