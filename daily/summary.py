"""The day's summary: the one set of figures every dashboard page, the recap and
`GET /v1/summary` show, computed from the store alone.

Before it, each page computed its own month: the Agreement page recomputed targets from today's
history, Closed loop counted MQLs to the end of the data, Today read the run's recap, so one
October had three MQL targets and two MQL counts. Now a figure that appears in two places is
read from here in both, and its name says what it counts (DEFINITIONS, shown beside it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from store import RunRecord, Store
from store.month_targets import FrozenTargets, frozen_targets, handoffs_between

# One concept, one name: the JSON field, the label on every page and in the recap.
DEFINITIONS: dict[str, str] = {
    "mqls_crm": "MQLs by the CRM: leads whose first `mql` stage in the CRM export falls in the "
    "month, up to the run's cut-off (what the agreement's MQL target is counted against).",
    "mqls_handoff": "MQLs by hand-off: leads leadscore handed to sales on the month's daily "
    "runs up to this one, each lead once.",
    "open_leads": "Open leads: leads created by the run's cut-off that are not yet SQL, "
    "customer or disqualified; the daily run scores each of them.",
    "targets": "Month targets: computed from sla.yaml on the month's first daily run and frozen "
    "for the whole month with the agreement version; a change of sla.yaml applies next month.",
}
TARGET_FIELDS = {  # summary key -> sla.targets.Targets field
    "leads": "leads_needed",
    "mqls": "mqls_needed",
    "sqls": "sqls_needed",
    "customers": "customers_needed",
    "revenue_eur": "revenue_goal_eur",
}
LABELS = {  # the words a page and the recap put beside each figure
    "targets.leads": "Leads target",
    "targets.mqls": "MQL target",
    "targets.sqls": "SQL target",
    "month_to_date.leads": "Leads so far",
    "month_to_date.mqls_crm": "MQLs by the CRM so far",
    "month_to_date.mqls_handoff": "MQLs by hand-off so far",
    "month_to_date.sqls": "SQLs so far",
    "open_leads": "Open leads",
}


class NoRun(LookupError):
    """The store holds no daily run for the date asked (or none at all)."""


def month_of(run_date: date) -> str:
    """The month a run reports on (daily.recap.report_month): a run cut at midnight on the
    1st reports the month that just ended."""
    from datetime import timedelta

    day = run_date - timedelta(days=1)
    return f"{day:%Y-%m}"


def _int(value: Any) -> int | None:
    return None if value is None else round(float(value))


def summarise(run: RunRecord, frozen: FrozenTargets | None, mqls_handoff: int) -> dict[str, Any]:
    """The summary of one stored run (pure: the store reads are in `day_summary`)."""
    recap = run.recap or {}
    metrics = recap.get("metrics") or {}
    month = recap.get("month") or month_of(run.run_date)
    targets = None
    if frozen is not None:
        t = frozen.targets
        targets = {k: _int(t.get(f)) for k, f in TARGET_FIELDS.items()}
        targets |= {
            "agreement_version": frozen.agreement_version,
            "frozen_at": frozen.frozen_at.isoformat(),
        }

    def actual(name: str) -> int | None:
        return _int((metrics.get(name) or {}).get("actual"))

    follow = recap.get("follow_up") or {}
    return {
        "date": run.run_date.isoformat(),
        "as_of": recap.get("as_of"),
        "month": month,
        "model": {"name": run.model_name, "version": run.model_version},
        "threshold": run.threshold,
        "targets": targets,
        "month_to_date": {
            "leads": actual("leads"),
            "mqls_crm": actual("mqls"),
            "mqls_handoff": mqls_handoff,
            "sqls": actual("sqls"),
            "customers": actual("customers"),
            "revenue_eur": (metrics.get("revenue_eur") or {}).get("actual"),
        },
        "projected": {k: (m or {}).get("projected") for k, m in metrics.items()},
        "open_leads": run.n_open,
        "mqls_open": run.n_mql,
        "handoff": run.n_handoff,
        "returning": run.n_returning,
        "overdue": run.n_overdue,
        "follow_up": {
            "hours": follow.get("hours"),
            "agreed_compliance": follow.get("agreed_compliance"),
            "mqls_due": follow.get("mqls_due"),
            "mqls_on_time": follow.get("mqls_on_time"),
            "compliance": follow.get("compliance"),
        },
        "definitions": DEFINITIONS,
    }


def day_summary(store: Store, run_date: date | None = None) -> dict[str, Any]:
    """The summary of the run of `run_date` (default: the latest run); NoRun when none."""
    run = store.last_run() if run_date is None else store.run(run_date)
    if run is None:
        raise NoRun(
            "the store holds no daily run yet (run `leadscore daily`)"
            if run_date is None
            else f"the store holds no daily run of {run_date}"
        )
    month = (run.recap or {}).get("month") or month_of(run.run_date)
    first = date.fromisoformat(f"{month}-01")
    # Hand-offs of the runs of the month (the run of the 1st reports the month before).
    from datetime import timedelta

    start = first + timedelta(days=1)
    return summarise(
        run, frozen_targets(store, month), handoffs_between(store, start, run.run_date)
    )


def figure(summary: dict[str, Any], path: str) -> Any:
    """A figure by its dotted path (`targets.mqls`): what the pages and the recap look up."""
    value: Any = summary
    for part in path.split("."):
        value = None if value is None else value.get(part)
    return value
