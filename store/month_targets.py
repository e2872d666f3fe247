"""The month's targets, frozen in the store on the month's first daily run, and the month's
hand-off count: the two store reads behind the day's summary (daily/summary.py).

Targets are frozen because `measured` figures move every day: recomputed at each run, the MQL
target drifted 82 -> 83 -> 84 during one month and each page showed another. Frozen, the month
has one set, stamped with the agreement version it came from; a change of sla.yaml applies from
the next month on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from store import schema
from store.records import Store


@dataclass(frozen=True)
class FrozenTargets:
    """One month's targets as frozen: `targets` is sla.targets.Targets.to_dict()."""

    month: str  # YYYY-MM
    agreement_version: str
    frozen_at: datetime
    targets: dict[str, Any]


def frozen_targets(store: Store, month: str) -> FrozenTargets | None:
    """The targets frozen for `month` (YYYY-MM), or None before its first run."""
    table = schema.month_targets
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.month == month)).mappings().first()
    if row is None:
        return None
    return FrozenTargets(
        row["month"], row["agreement_version"], row["frozen_at"], row["targets_json"]
    )


def freeze_targets(
    store: Store, month: str, agreement_version: str, targets: dict[str, Any], at: datetime
) -> FrozenTargets:
    """Freeze `targets` for `month` unless the month already has some; return what is frozen.

    Two runs racing on the month's first day both try to insert: the primary key lets one win
    and the other reads the winner's, so the month still has exactly one set."""
    table = schema.month_targets
    try:
        with store.engine.begin() as conn:
            exists = conn.execute(sa.select(table.c.month).where(table.c.month == month)).first()
            if exists is None:
                conn.execute(
                    table.insert(),
                    [
                        {
                            "month": month,
                            "agreement_version": agreement_version,
                            "frozen_at": at,
                            "targets_json": targets,
                        }
                    ],
                )
    except sa.exc.IntegrityError:
        pass  # another run froze the month first: theirs stands
    frozen = frozen_targets(store, month)
    assert frozen is not None
    return frozen


def handoffs_between(store: Store, first: date, last: date) -> int:
    """Leads handed over by leadscore on run days `first`..`last` (inclusive), each lead once
    ("MQLs by hand-off")."""
    table = schema.handoffs
    query = sa.select(sa.func.count(sa.distinct(table.c.lead_id))).where(
        table.c.run_date >= first, table.c.run_date <= last
    )
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
