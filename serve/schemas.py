"""Request and response bodies of the scoring API, with the examples the OpenAPI page shows.

Requests are parsed from raw bytes by pydantic-core (`model_validate_json`) in the routes, not by
FastAPI's generic body machinery: one pass in Rust instead of `json.loads` plus a Python-object
validation, which matters at thousands of requests per second. The same models still define the
OpenAPI request schemas (see serve/openapi.py), so docs, validation and fuzzing agree.

The JSON contract (the same on every route, docs/operator.md, "The JSON contract"):
- standard JSON only: `NaN`, `Infinity` and numbers too large for a double are invalid JSON;
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


class ScoreRequest(LeadInput):
    """POST /v1/score."""

    model_config = ConfigDict(
        json_schema_extra={
            **ONE_SOURCE,
            "examples": [
                {"lead": EXAMPLE_LEAD, "events": EXAMPLE_EVENTS, "explain": True},
                {"lead_id": "L-000124", "features": EXAMPLE_FEATURES, "explain": False},
            ],
        }
    )

    explain: StrictBool = Field(True, description="Add the top reasons (about 0.1 ms more).")


class BatchRequest(_Strict):
    """POST /v1/score/batch, row form: a list of leads, each scored on its own."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "leads": [
                        {"lead": EXAMPLE_LEAD, "events": EXAMPLE_EVENTS},
                        {"lead_id": "L-000124", "features": EXAMPLE_FEATURES},
                    ],
                    "explain": False,
                }
            ]
        }
    )

    # A lead that is not a valid LeadInput (even `5` or `null`) is kept as it came and gets its
    # own error entry; the valid ones are parsed in the same Rust pass as the envelope.
    leads: list[Annotated[LeadInput | Any, Field(union_mode="left_to_right")]] = Field(
        description="Leads in the `LeadInput` shape. Any item is accepted here: one that is not "
        "a valid lead (a wrong field, or not even an object) gets its own error entry in the "
        "answer and the others are scored.",
    )
    explain: StrictBool = Field(False, description="Add reasons per lead (about 0.1 ms each).")
    as_of: UtcTime | None = Field(None, description="Default `as_of` for leads without one.")


class ColumnBatchRequest(_Strict):
    """POST /v1/score/batch, columnar form: feature columns of equal length, the fastest input."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead_ids": ["L-1", "L-2"],
                    "columns": {
                        "fit_score": [0.75, 0.2],
                        "engagement_score": [14.2, 0.0],
                        "channel": ["paid_search", None],
                    },
                    "explain": False,
                }
            ]
        }
    )

    columns: dict[str, list[FeatureValue]] = Field(
        description="Feature name -> one value per lead; all columns the same length."
    )
    lead_ids: list[str | None] | None = Field(None, description="One id per lead, echoed back.")
    explain: StrictBool = Field(False, description="Add reasons per lead (about 0.1 ms each).")
    as_of: UtcTime | None = Field(None, description="Scoring time (default now).")


class Reason(_Strict):
    """One feature's push on this lead's score, in words a salesperson understands."""

    feature: str
    text: str = Field(examples=["Viewed the pricing page 3 times in the last 30 days"])
    value: FeatureValue = None
    contribution: float = Field(description="SHAP contribution in log-odds (positive = for).")


class ModelRef(_Strict):
    name: str | None = None
    version: str | None = None


class ScoreResult(_Strict):
    """The score of one lead and what the agreement says to do with it."""

    lead_id: str | None = None
    probability: float = Field(ge=0, le=1, description="Calibrated P(lead reaches SQL).")
    score: int = Field(ge=0, le=100, description="The probability on a 0-100 scale.")
    tier: str | None = Field(None, description="Score band from the agreement (e.g. A-D).")
    fit_grade: str | None = Field(None, description="Persona fit grade (e.g. A-D).")
    engagement_grade: str | None = Field(None, description="Engagement grade (e.g. 1-4).")
    decision: str | None = Field(None, description="mql, nurture or disqualified.")
    rule: str | None = Field(None, description="The agreement rule that decided.")
    follow_up_by: datetime | None = Field(None, description="Sales follow-up deadline (MQLs).")
    persona: str | None = Field(None, description="Best-matching persona.")
    expected_value_eur: float | None = Field(
        None,
        description="probability x the persona's average deal value (EUR): the pipeline value "
        "this lead adds if it reaches SQL at the persona's usual deal size.",
    )
    as_of: datetime = Field(description="The time the lead was scored as of.")
    out_of_range: list[str] = Field(
        default_factory=list,
        description="Features whose value lies outside the range seen in training: scored, "
        "but the model is extrapolating there (empty: none).",
    )
    reasons_for: list[Reason] | None = Field(None, description="Top reasons raising the score.")
    reasons_against: list[Reason] | None = Field(None, description="Top reasons lowering it.")


class ScoreResponse(ScoreResult):
    model: ModelRef


class ErrorItem(_Strict):
    loc: list[str | int] = Field(description="Path to the bad field, e.g. body.lead.created_at.")
    field: str = Field(description="The same path, dotted.")
    msg: str
    type: str


class BatchItem(_Strict):
    """One lead's outcome in a batch: `result`, or `errors` naming the bad fields; never both."""

    index: int = Field(ge=0, description="Position of the lead in the request.")
    lead_id: str | None = None
    result: ScoreResult | None = None
    errors: list[ErrorItem] | None = None


class BatchResponse(_Strict):
    model: ModelRef
    scored: int = Field(ge=0)
    failed: int = Field(ge=0)
    items: list[BatchItem]


class BatchError(_Strict):
    index: int = Field(ge=0, description="Position of the lead in the request.")
    lead_id: str | None = None
    errors: list[ErrorItem]


class ResultColumns(_Strict):
    """`ScoreResult` column-wise: one list per field, one value per lead (null if it failed)."""

    lead_id: list[str | None]
    probability: list[float | None] | None = None
    score: list[int | None] | None = None
    tier: list[str | None] | None = None
    fit_grade: list[str | None] | None = None
    engagement_grade: list[str | None] | None = None
    decision: list[str | None] | None = None
    rule: list[str | None] | None = None
    follow_up_by: list[datetime | None] | None = None
    persona: list[str | None] | None = None
    expected_value_eur: list[float | None] | None = None
    as_of: list[datetime | None] | None = None
    out_of_range: list[list[str] | None] | None = None
    reasons_for: list[list[Reason] | None] | None = None
    reasons_against: list[list[Reason] | None] | None = None


class ColumnBatchResponse(_Strict):
    """The answer to a columnar batch: columnar too, so neither side builds per-lead objects."""

    model: ModelRef
    scored: int = Field(ge=0)
    failed: int = Field(ge=0)
    columns: ResultColumns
    errors: list[BatchError] = Field(description="The leads that failed, with the bad cells.")


class ValidationErrorResponse(_Strict):
    detail: list[ErrorItem]


class MessageResponse(_Strict):
    detail: str


class ModelInfo(_Strict):
    name: str | None
    version: str | None
    alias: str | None
    run_id: str | None
    trained_at: str | None
    uri: str
    loaded_at: datetime
    metrics: dict[str, float]
    features: list[str]
    categorical: list[str]


class HealthResponse(_Strict):
    status: str = Field(examples=["ok"])


class ReadyResponse(_Strict):
    ready: bool
    model: ModelRef | None = None
    reason: str | None = Field(None, description="Why not ready, when not.")


class ReloadResponse(_Strict):
    reloaded: bool
    model: ModelRef
    previous: ModelRef | None = None
    reason: str | None = Field(None, description="Why the new model was refused, when it was.")


class SlaInfo(_Strict):
    agreement: dict[str, Any] = Field(description="The agreement in force (sla.yaml, validated).")
    threshold: float | None = Field(None, description="MQL score threshold now applied (0-100).")
    threshold_source: str | None = Field(None, description="fixed, auto or default.")
    follow_up_hours: float | None = None
    notes: list[str] = Field(
        default_factory=list, description="What the service could not resolve."
    )
