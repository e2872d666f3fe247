"""The month's targets for a daily run: the ones frozen in the store for that month, or, on the
month's first run, computed from sla.yaml and the history and frozen there (store/month_targets).

A re-run or a replay of any day of the month reads the same frozen set, so the month's MQL
target no longer moves as the measured rates move day by day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sla.targets import Targets
from store import Store
from store.month_targets import FrozenTargets, freeze_targets, frozen_targets


def targets_for_month(
    store: Store,
    month: str,
    agreement_version: str,
    compute: Callable[[], Targets | None],
    at: datetime,
) -> tuple[Targets | None, FrozenTargets | None, str | None]:
    """(targets in force, what is frozen, a note for the run's summary or None).

    `compute` runs only when the month has nothing frozen yet; when it returns None (the
    history cannot support targets) nothing is frozen and the next run tries again."""
    frozen = frozen_targets(store, month)
    if frozen is None:
        computed = compute()
        if computed is None:
            return None, None, None
        frozen = freeze_targets(store, month, agreement_version, computed.to_dict(), at)
    note = None
    if frozen.agreement_version != agreement_version:
        note = (
            f"sla.yaml changed since {month}'s targets were frozen (version "
            f"{frozen.agreement_version}, now {agreement_version}): the new agreement's targets "
            "apply from next month"
        )
    return Targets.from_dict(frozen.targets), frozen, note
