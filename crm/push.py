"""The last daily run's scores of the leads HubSpot sent, as write-back updates (crm/writeback.py),
and the push itself: `leadscore crm push` and the daily run's own step both run `push_hubspot`.

Only CRM leads: a lead is written back when it came from HubSpot (`crm_leads`, by record id) and
the run scored it. Reasons are the rep's words (sales/words.py), the top three for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from crm.config import HubSpotConfig
from crm.hubspot import CRM
from crm.writeback import ScoreUpdate, WritebackReport, write_scores
from foundation.errors import DataError
from sales.words import plain_reasons
from store import Store
from store.crm_inbox import crm_leads

TOP_REASONS = 3


def hubspot_updates(store: Store, run_date: date | None = None) -> tuple[date, list[ScoreUpdate]]:
    """(the run's date, one update per HubSpot lead it scored). DataError when no run is
    stored (or not that date's)."""
    run = store.last_run() if run_date is None else store.run(run_date)
    if run is None:
        which = "no daily run" if run_date is None else f"no daily run of {run_date}"
        raise DataError(f"store: {which} is stored: run `leadscore daily` first")
    record_of = {lead.lead_id: lead.record_id for lead in crm_leads(store, CRM)}
    if not record_of:
        return run.run_date, []
    scores = store.scores(run.run_date, columns=["lead_id", "score", "tier", "reasons"])
    scores = scores[scores["lead_id"].isin(record_of)]
    updates = [
        ScoreUpdate(
            record_id=record_of[row.lead_id],
            score=int(row.score),
            tier=None if row.tier is None or row.tier != row.tier else str(row.tier),
            reasons=tuple(plain_reasons(row.reasons)[0][:TOP_REASONS]),
            model_version=run.model_version,
            scored_at=run.finished_at,
        )
        for row in scores.itertuples(index=False)
    ]
    return run.run_date, updates


@dataclass(frozen=True)
class PushResult:
    run_date: date
    records: int  # HubSpot leads the run scored
    report: WritebackReport


def push_hubspot(
    store: Store, config: HubSpotConfig, token: str, run_date: date | None = None
) -> PushResult:
    """Write the run's scores (the last run's when `run_date` is None) onto its HubSpot
    contacts. Raises DataError when no such run is stored; HubSpot's answers are in the report."""
    day, updates = hubspot_updates(store, run_date)
    return PushResult(day, len(updates), write_scores(updates, config, token))


def push_lines(result: PushResult, most: int = 10) -> list[str]:
    """What a push did, for a terminal: the count, then each failed record (at most `most`)."""
    report = result.report
    lines = [
        f"hubspot: run {result.run_date}: wrote {report.updated} of {result.records} "
        f"contact(s) in {report.requests} request(s)"
    ]
    lines += [f"  {record_id}: {why}" for record_id, why in list(report.failed.items())[:most]]
    return lines
