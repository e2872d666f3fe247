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

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictBool

from scoring.inputs import (
    EARLIEST,
    EVENTS_CEILING,
    EXAMPLE_EVENTS,
    EXAMPLE_FEATURES,
    EXAMPLE_LEAD,
    LATEST,
    NOT_ISO,
    ONE_SOURCE,
    STAGES_CEILING,
    FeatureValue,
    LeadEvent,
    LeadInput,
    LeadProfile,
    LeadStage,
    UtcTime,
    _Strict,
)

__all__ = [
    "EARLIEST",
    "EVENTS_CEILING",
    "LATEST",
    "NOT_ISO",
    "STAGES_CEILING",
    "LeadEvent",
    "LeadInput",
    "LeadProfile",
    "LeadStage",
]


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
