"""GET /v1/leads/{lead_id}, GET /v1/handoff: what the daily runs stored (store of record).

Reads only. The store is the one `leadscore daily` writes: `LEADSCORE_DB_URL` (setting `db_url`),
else the default SQLite file `leadscore.db` in the service's folder when it exists. A service with
neither answers 503 naming the setting; it never creates an empty database of its own. The store
is opened on first use (opening migrates it to this version's schema), once per process.

Handlers are plain `def`: FastAPI runs them in its thread pool, so a slow database never blocks
the event loop that serves the scoring routes.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from foundation.text_limits import LEAD_ID_MAX
from serve.errors import json_response
from serve.routes_score import ERRORS
from serve.schemas import MessageResponse, Reason
from serve.store_outage import StoreUnavailable, first_line, outage_response

router = APIRouter()
DEFAULT_STORE_FILE = "leadscore.db"
HISTORY_RUNS = 30

READ_ERRORS: dict[int | str, dict[str, Any]] = {
    **{code: ERRORS[code] for code in (401, 403, 429)},
    422: {**ERRORS[422], "description": "A malformed parameter (e.g. the date); `loc` names it."},
    503: {
        "model": MessageResponse,
        "description": "No store configured (LEADSCORE_DB_URL) or the store cannot be read.",
    },
}


class _Open(BaseModel):
    """Stored payloads may gain fields in later versions: documented ones are typed, new ones
    pass through."""

    model_config = ConfigDict(extra="allow")


class ActivitySummary(_Open):
    """What the lead did up to the run's cut-off (docs/sales-rep.md, "The daily hand-off")."""

    visits: int | None = Field(None, description="Sessions of on-site events.")
    return_visits: int | None = None
    site_visits: int | None = None
    pages: int | None = None
    downloads: int | None = None
    download_topics: dict[str, int] | None = None
    newsletter: str | None = Field(None, examples=["subscribed"])
    newsletter_signups: int | None = None
    unsubscribes: int | None = None
    email_opens: int | None = None
    email_clicks: int | None = None
    webinars_registered: int | None = None
    webinars_attended: int | None = None
    pricing_views: int | None = None
    demo_requests: int | None = None
    form_submits: int | None = None
    active_days: int | None = None
    first_touch: datetime | None = None
    last_touch: datetime | None = None
    activity: str | None = Field(None, description="The same in one line of words.")


class Reasons(_Open):
    reasons_for: list[Reason] = []
    reasons_against: list[Reason] = []


class ScorePoint(BaseModel):
    run_date: date
    probability: float
    score: int
    tier: str | None = None
    decision: str


class HandedOver(BaseModel):
    run_date: date
    handed_at: datetime
    followup_deadline: datetime | None = None


class LeadRecord(BaseModel):
    """The lead's latest stored score and decision, why, what it did, and its score history."""

    lead_id: str
    run_date: date = Field(description="The daily run the score is from.")
    channel: str | None = None
    persona: str | None = None
    probability: float
    score: int
    tier: str | None = None
    decision: str
    rule: str | None = None
    grade: str | None = Field(None, description="Fit grade x engagement grade, e.g. A2.")
    expected_value_eur: float | None = None
    reasons: Reasons | None = Field(None, description="Stored for the day's MQLs.")
    activity: ActivitySummary | None = None
    handoff: HandedOver | None = Field(None, description="Its first hand-off, if any.")
    history: list[ScorePoint] = Field(description=f"The last {HISTORY_RUNS} runs, oldest first.")


class HandoffLead(_Open):
    """One handed-over lead as sent to the CRM (handoff.json's `leads[]`)."""

    lead_id: str
    channel: str | None = None
    persona: str | None = None
    probability: float | None = None
    score: int | None = None
    tier: str | None = None
    grade: str | None = None
    expected_value_eur: float | None = None
    handed_at: datetime | None = None
    followup_deadline: datetime | None = None
    reasons: list[str] = Field([], description="The top reasons, in words.")
    activity: ActivitySummary | None = None


class HandoffResponse(BaseModel):
    run_date: date
    n_leads: int
    leads: list[HandoffLead]


class StoreAccess:
    """Opens the store on first use, once per process (thread-safe); remembers nothing else."""

    def __init__(self, db_url: str | None, folder: FilePath | None = None) -> None:
        self.db_url = db_url
        self.folder = folder or FilePath.cwd()
        self._store: Any = None
        self._lock = threading.Lock()

    def url(self) -> str:
        if self.db_url:
            return self.db_url
        default = self.folder / DEFAULT_STORE_FILE
        if default.exists():
            return f"sqlite:///{default}"
        raise StoreUnavailable(
            "no store configured: set LEADSCORE_DB_URL to the database `leadscore daily` "
            f"writes to (no {DEFAULT_STORE_FILE} in {self.folder} either)"
        )

    def get(self) -> Any:
        with self._lock:
            if self._store is None:
                from foundation.errors import LeadscoreError
                from store import Store

                try:
                    self._store = Store.open(self.url())
                except LeadscoreError as exc:  # its text names the host: for the log only
                    raise StoreUnavailable(detail=f"the store cannot be opened: {exc}") from exc
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def store_access(request: Request) -> StoreAccess:
    return request.app.state.store_access


def _read(request: Request, what: Any) -> Any:
    """Run a read on the store; any database failure is a 503 with its first line, never 500."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return what(store_access(request).get())
    except SQLAlchemyError as exc:
        raise StoreUnavailable(detail=f"the store cannot be read: {first_line(exc)}") from exc


def _unavailable(request: Request, exc: StoreUnavailable) -> Response:
    return outage_response(request, exc)


def _not_found(detail: str) -> Response:
    return json_response({"detail": detail}, 404)


def _clean(value: Any) -> Any:
    """NaN / NaT from a DataFrame row as None; pandas and numpy scalars as Python values."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        return None if value != value else value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, str | bytes | dict | list):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


@router.get(
    "/leads/{lead_id}",
    tags=["leads"],
    response_model=LeadRecord,
    responses={**READ_ERRORS, 404: {"model": MessageResponse, "description": "Unknown lead."}},
)
def get_lead(
    request: Request,
    lead_id: Annotated[str, Path(min_length=1, max_length=LEAD_ID_MAX)],
) -> Response:
    """The lead's latest stored score, decision, reasons and activity summary (from the last
    daily run that scored it), its first hand-off and its score over the last runs."""
    try:
        found = _read(
            request,
            lambda s: (
                (row := s.lead(lead_id)),
                s.lead_history(lead_id, HISTORY_RUNS) if row is not None else None,
            ),
        )
    except StoreUnavailable as exc:
        return _unavailable(request, exc)
    row, history = found
    if row is None:
        return _not_found(f"lead {lead_id!r} is not in any stored daily run")
    handed = row.get("handoff")
    body = {
        **{k: _clean(v) for k, v in row.items() if k not in ("handoff",)},
        "handoff": None
        if handed is None
        else {
            "run_date": handed["run_date"],
            "handed_at": handed["handed_at"],
            "followup_deadline": handed.get("followup_deadline"),
        },
        "history": [{k: _clean(v) for k, v in r.items()} for r in history.to_dict("records")],
    }
    activity = body.get("activity")
    if isinstance(activity, dict) and activity.get("activity") is None:
        body["activity"] = activity | {"activity": _words(activity)}
    return json_response(LeadRecord.model_validate(body).model_dump(mode="json"))


def _words(activity: dict[str, Any]) -> str | None:
    """The line of words a daily run stores only for its hand-off, rebuilt from the counts."""
    from daily.activity import activity_text

    try:
        return activity_text(activity)
    except (KeyError, TypeError):  # a record from an older or partial writer: counts only
        return None


@router.get(
    "/handoff",
    tags=["leads"],
    response_model=HandoffResponse,
    responses={
        **READ_ERRORS,
        404: {"model": MessageResponse, "description": "No daily run stored for that date."},
    },
)
def get_handoff(
    request: Request,
    run_date: Annotated[
        date | None,
        Query(alias="date", description="Run date YYYY-MM-DD; default the latest run."),
    ] = None,
) -> Response:
    """That day's hand-off (the leads that became MQL, as sent to the CRM)."""

    def read(store: Any) -> tuple[Any, Any]:
        run = store.last_run() if run_date is None else store.run(run_date)
        return run, (store.handoff(run.run_date) if run is not None else None)

    try:
        run, handoff = _read(request, read)
    except StoreUnavailable as exc:
        return _unavailable(request, exc)
    if run is None:
        what = "no daily run is stored yet" if run_date is None else f"no daily run on {run_date}"
        return _not_found(what)
    leads = [
        dict(p or {}) | {"lead_id": str(i)}
        for i, p in zip(handoff["lead_id"], handoff["payload"], strict=True)
    ]
    leads.sort(key=lambda r: (-(r.get("score") or 0), r["lead_id"]))
    body = {"run_date": run.run_date, "n_leads": len(leads), "leads": leads}
    return json_response(HandoffResponse.model_validate(body).model_dump(mode="json"))
