"""GET /v1/summary: the day's figures every dashboard page and the recap show (daily/summary.py),
as JSON, so another tool reads the same numbers the managers read. Open to viewer keys.

A plain `def` handler, like the store reads of routes_leads: a slow database never blocks the
event loop of the scoring routes.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from serve.errors import json_response
from serve.routes_leads import READ_ERRORS, StoreUnavailable, _not_found, _read, _unavailable
from serve.schemas import MessageResponse

router = APIRouter()


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SummaryTargets(_Open):
    leads: int | None = None
    mqls: int | None = None
    sqls: int | None = None
    customers: int | None = None
    revenue_eur: int | None = None
    agreement_version: str = Field(description="First 12 hex digits of sla.yaml's SHA-256.")
    frozen_at: str = Field(description="When the month's first daily run froze these targets.")


class MonthToDate(_Open):
    leads: int | None = None
    mqls_crm: int | None = Field(None, description="MQLs by the CRM (see `definitions`).")
    mqls_handoff: int | None = Field(None, description="MQLs by hand-off (see `definitions`).")
    sqls: int | None = None
    customers: int | None = None
    revenue_eur: float | None = None


class SummaryResponse(_Open):
    date: str = Field(description="The run date (cut-off: that day, 00:00 UTC).")
    as_of: str | None = None
    month: str = Field(description="The month the figures are for, YYYY-MM.")
    model: dict[str, str]
    threshold: float
    targets: SummaryTargets | None = Field(None, description="None: no targets frozen.")
    month_to_date: MonthToDate
    open_leads: int = Field(description="Open leads scored by the run (see `definitions`).")
    mqls_open: int
    handoff: int
    returning: int
    overdue: int
    follow_up: dict[str, Any]
    definitions: dict[str, str]


@router.get(
    "/summary",
    tags=["summary"],
    response_model=SummaryResponse,
    responses={
        **READ_ERRORS,
        404: {"model": MessageResponse, "description": "No daily run stored for that date."},
    },
)
def get_summary(
    request: Request,
    run_date: Annotated[
        date | None,
        Query(alias="date", description="Run date YYYY-MM-DD; default the latest run."),
    ] = None,
) -> Response:
    """The day's summary: month targets as frozen, month-to-date counts, open leads."""
    from daily.summary import NoRun, day_summary

    def read(store: Any) -> dict[str, Any] | str:
        try:
            return day_summary(store, run_date)
        except NoRun as exc:
            return str(exc)

    try:
        summary = _read(request, read)
    except StoreUnavailable as exc:
        return _unavailable(exc)
    if isinstance(summary, str):
        return _not_found(summary)
    return json_response(SummaryResponse.model_validate(summary).model_dump(mode="json"))
