"""`leadscore daily`'s CRM write-back step: when crm.yaml's `hubspot.push_after_daily` is true,
the run's scores land on the HubSpot contacts they came from once the run is stored, as
`leadscore crm push --date D` would write them (crm/push.py).

Two halves, as for the webhook: the configuration is resolved at the run's start (a wrong
crm.yaml or an unset token stops the run before anything is written), the push runs after the
store step and never fails the run: HubSpot down, a refused token or records it rejects become
lines of the summary saying how to retry, and the run's files and store stand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DailyPush:
    """Where the daily run writes back, and with which token (never printed)."""

    config: Any  # crm.config.HubSpotConfig
    token: str

    def __repr__(self) -> str:
        return f"DailyPush(base_url={self.config.base_url!r}, token=***)"


def resolve_daily_push(path: Path | None = None) -> DailyPush | None:
    """The write-back the run should do: None without crm.yaml (--config, else
    $LEADSCORE_CRM_CONFIG, else ./crm.yaml), without a hubspot section, or when
    `push_after_daily` is false. ConfigError for a broken file or an unset token."""
    from crm.config import config_path, load_crm_config, secret_from_env

    where = config_path(path)
    if not where.exists():
        return None
    hubspot = load_crm_config(where).hubspot
    if hubspot is None or not hubspot.push_after_daily:
        return None
    return DailyPush(hubspot, secret_from_env(hubspot.token_env, "hubspot.token_env"))


def push_after_run(store: Any, push: DailyPush, run_date: date) -> list[str]:
    """Write the stored run's scores back; the summary's lines. Never raises: the run is
    stored already, and `leadscore crm push --date` repeats the push."""
    from crm.push import push_hubspot, push_lines

    retry = f"`leadscore crm push --date {run_date.isoformat()}` retries"
    try:
        result = push_hubspot(store, push.config, push.token, run_date)
    except Exception as exc:  # isolation: a write-back failure never undoes a stored run
        log.exception("crm push after the daily run failed")
        return [f"crm push: hubspot: not written ({type(exc).__name__}: {exc}); {retry}"]
    lines = [f"crm push: {line.strip()}" for line in push_lines(result)]
    report = result.report
    if report.stopped:
        lines.append(f"crm push: stopped: {report.stopped}; {retry}")
    elif report.failed:
        lines.append(f"crm push: {len(report.failed)} contact(s) not written; {retry}")
    return lines
