"""What one lead to score looks like, in the JSON contract's strict types.

The scoring core (scoring/scorer.py, scoring/features_fast.py) reads these models; the HTTP API
(serve/schemas.py) wraps them into its request bodies and answers. They live here, below the
API, so the batch and cluster paths score the same inputs without importing the web layer.

The JSON contract (the same on every route, docs/operator.md, "The JSON contract"):
- types exactly as declared, pydantic's strict types: an integer field takes no `false` and no
  `1.5`, a boolean no `"yes"` or `1`, a number no `"5"` (except in a feature row, documented),
  a string no number;
- times only as ISO 8601 strings (`2026-02-03T09:15:00Z`; naive means UTC), never a number or
  a numeric string (no silent Unix times);
- request objects refuse unknown fields, except a lead profile or event, which ignore the CRM's
  extra columns (the data contract).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    WrapValidator,
    model_validator,
)
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from foundation.text_limits import CATEGORY_MAX, EMAIL_DOMAIN_MAX, LEAD_ID_MAX

# The most events and stages one lead may carry in a request, whatever the settings say.
EVENTS_CEILING = 50_000
STAGES_CEILING = 1_000

# Times the whole pipeline can hold: pandas (the batch path) stores nanoseconds since 1970 in
# int64, which ends in 2262; nothing in a CRM predates 1900.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)


# The start of an ISO 8601 date-time: pydantic would also read "1700000000" as a Unix time.
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
NOT_ISO = "expected an ISO 8601 date-time string, e.g. 2026-02-03T09:15:00Z"


def _utc_time(value: Any, parse: ValidatorFunctionWrapHandler) -> datetime:
    """ISO 8601 strings only; naive means UTC (the data contract); aware is converted; out of
    range is an error. One Python call per time, as the plain UTC conversion already cost."""
    if isinstance(value, str):
        if _ISO_START.match(value) is None:
            raise ValueError(NOT_ISO)
    elif not isinstance(value, datetime):  # a number, a bool: never a Unix time
        raise ValueError(NOT_ISO)
    value = parse(value)
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range (1900-2262)") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError("time is out of range (1900-2262)")
    return value


UtcTime = Annotated[datetime, WrapValidator(_utc_time)]
# Validated in Rust (a Python validator per value would cost ~15 ms per 1000-lead batch); the
# union's member names that pydantic adds to error paths are removed in serve/errors.py.
FeatureValue = StrictFloat | StrictStr | StrictBool | None

EXAMPLE_LEAD = {
    "lead_id": "L-000123",
    "created_at": "2026-02-03T09:15:00Z",
    "channel": "paid_search",
    "company_size": 250,
    "industry": "manufacturing",
    "job_role": "head_of_operations",
    "country": "DE",
    "email_domain": "example-gmbh.de",
}
EXAMPLE_EVENTS = [
    {"ts": "2026-02-03T09:15:00Z", "event_type": "site_visit"},
    {"ts": "2026-02-10T14:02:00Z", "event_type": "content_download", "content_topic": "case_study"},
    {"ts": "2026-02-21T08:40:00Z", "event_type": "pricing_view", "content_topic": "pricing"},
    {"ts": "2026-02-21T08:47:00Z", "event_type": "demo_request"},
]
EXAMPLE_FEATURES: dict[str, Any] = {
    "fit_score": 0.75,
    "engagement_score": 14.2,
    "channel": "paid_search",
    "persona": "midmarket_ops",
}


class _Strict(BaseModel):
    # No NaN/inf in a float field; the strict types below refuse coercion field by field (in
    # JSON and in Python, so internal callers may still pass ISO strings for times).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class LeadProfile(BaseModel):
    """A lead's CRM profile (data contract `leads`); extra firmographic fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    lead_id: str | None = Field(None, max_length=LEAD_ID_MAX, description="Your id, echoed back.")
    created_at: UtcTime = Field(description="When the lead was created (ISO 8601; UTC if naive).")
    channel: str | None = Field(None, max_length=CATEGORY_MAX, description="Acquisition channel.")
    company_size: StrictInt | None = Field(None, ge=0, le=10_000_000, description="Employees.")
    industry: str | None = Field(None, max_length=CATEGORY_MAX)
    job_role: str | None = Field(None, max_length=CATEGORY_MAX)
    country: str | None = Field(None, max_length=CATEGORY_MAX, description="ISO-2 country code.")
    email_domain: str | None = Field(
        None, max_length=EMAIL_DOMAIN_MAX, description="Domain of the e-mail."
    )


class LeadEvent(BaseModel):
    """One behaviour event (data contract `events`); unknown event types are kept and ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    ts: UtcTime = Field(description="When it happened (ISO 8601; UTC if naive).")
    event_type: str = Field(max_length=CATEGORY_MAX, examples=["pricing_view"])
    content_topic: str | None = Field(None, max_length=CATEGORY_MAX, examples=["pricing"])


class LeadStage(BaseModel):
    """One funnel row (data contract `stages`): feeds the funnel-state features at `as_of`."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    ts: UtcTime = Field(description="When the lead reached the stage (ISO 8601; UTC if naive).")
    stage: str = Field(
        max_length=CATEGORY_MAX, examples=["mql"], description="Unknown stages are ignored."
    )


# "Exactly one of `lead` or `features`" in the document's own terms, so a generated request
# that the service refuses for it is one the document calls invalid too.
ONE_SOURCE: dict[str, Any] = {
    "oneOf": [
        {
            "required": ["lead"],
            "properties": {"lead": {"type": "object"}, "features": {"type": "null"}},
        },
        {
            "required": ["features"],
            "properties": {
                "features": {"type": "object"},
                "lead": {"type": "null"},
                "events": {"maxItems": 0},
                "stages": {"maxItems": 0},
            },
        },
    ]
}


class LeadInput(_Strict):
    """One lead: either `lead` (+ `events`), from which the service computes the features, or a
    ready `features` row (as in the training table). Exactly one of the two."""

    model_config = ConfigDict(json_schema_extra=ONE_SOURCE)

    lead: LeadProfile | None = Field(None, description="The lead's profile.")
    # Hard ceilings, checked while the list is read (validation stops at the first item past
    # them): one lead with 250,000 stages held the event loop for seconds before any check.
    # The configured limits (settings max_events_per_lead, max_stages_per_lead) are at most these.
    events: list[LeadEvent] = Field(
        default_factory=list,
        max_length=EVENTS_CEILING,
        description="The lead's events; those after `as_of` are ignored.",
    )
    stages: list[LeadStage] = Field(
        default_factory=list,
        max_length=STAGES_CEILING,
        description="The lead's funnel rows (mql, contacted, disqualified, ...); none: a lead "
        "not yet handed over. Rows after `as_of` are ignored.",
    )
    features: dict[str, FeatureValue] | None = Field(
        None,
        description="A ready feature row: feature name -> value (see GET /v1/model `features`). "
        "Missing features count as unknown; unknown names are ignored. A numeric feature takes "
        "a number, a numeric string or a boolean (1/0); null or an empty string is unknown. "
        "Impossible values are refused with 422 naming the feature: a negative count, day "
        "count, age, decayed count or size, a fraction, fit or flag outside 0-1, any value "
        "that is not finite. Values possible but outside the training range are scored and "
        "listed in the answer's `out_of_range`.",
        examples=[EXAMPLE_FEATURES],
    )
    lead_id: str | None = Field(
        None, max_length=LEAD_ID_MAX, description="Echoed back (feature rows)."
    )
    as_of: UtcTime | None = Field(
        None, description="Score as of this time (default: now). Features see events up to it."
    )

    @model_validator(mode="after")
    def _one_source(self) -> LeadInput:
        if (self.lead is None) == (self.features is None):
            raise ValueError("give exactly one of `lead` (with `events`) or `features`")
        if self.features is not None and (self.events or self.stages):
            raise ValueError("`events` and `stages` go with `lead`, not with a `features` row")
        return self
