"""The last daily run's scores of the leads HubSpot sent, as write-back updates (crm/writeback.py).

Only CRM leads: a lead is written back when it came from HubSpot (`crm_leads`, by record id) and
the run scored it. Reasons are the rep's words (sales/words.py), the top three for.
"""

from __future__ import annotations

from datetime import date

from crm.hubspot import CRM
from crm.writeback import ScoreUpdate
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
