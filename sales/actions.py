"""What a rep can do with a handed-over lead, checked before anything is stored.

- contacted: an attempt to reach the lead, with its channel (phone, e-mail, ...);
- snoozed: not before a date (the lead asked to be called back then): it returns on that day;
- closed: done, with a reason; `recycled_to_nurture` hands it back to marketing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from store.actions import LeadAction

CONTACTED, SNOOZED, CLOSED = "contacted", "snoozed", "closed"
ASSIGNED, REASSIGNED = "assigned", "reassigned"
REP_ACTIONS = (CONTACTED, SNOOZED, CLOSED)
CONTACT_CHANNELS = ("phone", "email", "video_call", "meeting", "social", "other")
NOT_A_FIT, NO_BUDGET, DUPLICATE, RECYCLED = (
    "not_a_fit",
    "no_budget",
    "duplicate",
    "recycled_to_nurture",
)
CLOSE_REASONS = (NOT_A_FIT, NO_BUDGET, DUPLICATE, RECYCLED)
REASON_WORDS = {
    NOT_A_FIT: "not a fit",
    NO_BUDGET: "no budget",
    DUPLICATE: "duplicate",
    RECYCLED: "recycled to nurture",
}
DESK = "leadscore"  # the actor of the desk's own moves (assignment, reassignment, recycling)
NOTE_MAX = 2000


class ActionRequest(BaseModel):
    """One rep action as posted (`POST /v1/leads/{id}/actions`, the lead page's forms)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["contacted", "snoozed", "closed"]
    rep: str = Field(min_length=1, max_length=200, description="Who acted (a rep of sla.yaml).")
    channel: Literal["phone", "email", "video_call", "meeting", "social", "other"] | None = None
    until: date | None = Field(None, description="snoozed: the day the lead comes back.")
    reason: Literal["not_a_fit", "no_budget", "duplicate", "recycled_to_nurture"] | None = None
    note: str | None = Field(None, max_length=NOTE_MAX)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> ActionRequest:
        needs = {CONTACTED: "channel", SNOOZED: "until", CLOSED: "reason"}
        for kind, name in needs.items():
            given = getattr(self, name) is not None
            if kind == self.kind and not given:
                raise ValueError(f"{name} is required to mark a lead {kind}")
            if kind != self.kind and given:
                raise ValueError(f"{name} belongs to {kind}, not to {self.kind}")
        return self


class ActionRefused(ValueError):
    """A well-formed action that cannot apply (unknown rep, a snooze into the past, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_action(request: ActionRequest, reps: tuple[str, ...], at: datetime) -> None:
    """The checks that need the desk and the clock; ActionRefused naming the field."""
    if request.rep not in reps:
        raise ActionRefused("rep", f"rep {request.rep!r} is not a rep of sla.yaml sales_desk.teams")
    if request.until is not None and request.until <= at.astimezone(UTC).date():
        raise ActionRefused(
            "until", f"until {request.until} is not after today ({at.astimezone(UTC).date()})"
        )


def to_action(request: ActionRequest, lead_id: str, at: datetime, source: str) -> LeadAction:
    return LeadAction(
        lead_id=str(lead_id),
        kind=request.kind,
        at=at,
        actor=request.rep,
        source=source,
        channel=request.channel,
        until=request.until,
        reason=request.reason,
        note=request.note,
    )
