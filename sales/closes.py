"""The desk's closes as a list the next retrain reads (`leadscore db closes`).

One row per lead: its latest close, because the store is append-only and a rep corrects a
wrong reason by closing again; `by` is who closed it (a rep, `leadscore` for the desk's own
recycling, `crm` for a lead the CRM shows accepted). Filtering on the reason comes after
picking the latest close, so a lead first closed as `duplicate` and then corrected to
`not_a_fit` is not listed as a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from foundation.errors import ConfigError
from sales.actions import CLOSE_REASONS, CLOSED
from sales.service import ACCEPTED

KNOWN_REASONS = (*CLOSE_REASONS, ACCEPTED)
CLOSES_COLUMNS = ("lead_id", "reason", "closed_at", "by")


def check_reasons(reasons: Iterable[str]) -> tuple[str, ...]:
    """The reasons asked for, each a known one (a typo would export nothing, silently)."""
    asked = tuple(dict.fromkeys(reasons))
    unknown = [r for r in asked if r not in KNOWN_REASONS]
    if unknown:
        raise ConfigError(
            f"--reason {', '.join(unknown)}: not a close reason (one of {', '.join(KNOWN_REASONS)})"
        )
    return asked


def latest_closes(actions: pd.DataFrame, reasons: Iterable[str] | None = None) -> pd.DataFrame:
    """Each closed lead's latest close (of `reasons` when given), by lead_id: CLOSES_COLUMNS.

    `actions`: store.actions.lead_actions' frame (oldest first, ties in stored order).
    """
    closes = actions[actions["kind"] == CLOSED]
    latest = closes.drop_duplicates("lead_id", keep="last")
    if reasons is not None:
        latest = latest[latest["reason"].isin(check_reasons(reasons))]
    out = latest.rename(columns={"at": "closed_at", "actor": "by"})[list(CLOSES_COLUMNS)]
    return out.sort_values("lead_id", kind="stable").reset_index(drop=True)
