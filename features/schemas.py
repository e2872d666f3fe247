"""The raw-data contract as pandera schemas: column names, dtypes of the typed (interim) tables,
which columns must be present and non-empty, and the value rules.

The schemas are the single statement of the contract. The triage (features/triage.py) applies
exactly these rules row by row with vectorised masks of its own, then validates the kept rows
with these schemas as a post-condition (`ensure_contract`), so what downstream reads is
guaranteed to match the contract. The vocabularies the rules name are in
features/vocabularies.py, the cell parsers in features/parsers.py.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from features.vocabularies import CHANNELS, CONTENT_TOPICS, EVENT_TYPES, STAGES, VOCABULARY
from foundation.text_limits import (
    CATEGORY_MAX,
    EMAIL_DOMAIN_MAX,
    FORBIDDEN_HINT,
    LEAD_ID_MAX,
    has_forbidden_character,
    too_long,
)

TIMESTAMP = "datetime64[us, UTC]"
TIMESTAMP_HINT = "expected ISO 8601, UTC"


def _text(
    *,
    nullable: bool = True,
    required: bool = True,
    max_length: int = CATEGORY_MAX,
    checks: pa.Check | None = None,
    **kwargs: Any,
) -> pa.Column:
    """A text column: at most `max_length` characters and no character a store cannot keep
    (foundation/text_limits.py), so validation never passes what the store would refuse."""
    rules = [
        pa.Check(
            lambda s: ~too_long(s, max_length),
            name="too_long",
            error=f"is longer than {max_length} characters (the longest the store keeps)",
        ),
        pa.Check(
            lambda s: ~has_forbidden_character(s), name="forbidden_character", error=FORBIDDEN_HINT
        ),
    ]
    if checks is not None:
        rules.insert(0, checks)
    return pa.Column(str, checks=rules, nullable=nullable, required=required, **kwargs)


LEADS_SCHEMA = pa.DataFrameSchema(
    {
        "lead_id": _text(
            nullable=False,
            unique=True,
            report_duplicates="exclude_first",
            max_length=LEAD_ID_MAX,
        ),
        "created_at": pa.Column(TIMESTAMP, nullable=False),
        "channel": _text(metadata={VOCABULARY: CHANNELS}),
        "company_size": pa.Column(
            "Int64",
            pa.Check.ge(0, name="negative", error="is not a non-negative integer"),
            nullable=True,
            required=False,
        ),
        "industry": _text(required=False),
        "job_role": _text(required=False),
        "country": _text(required=False),
        "email_domain": _text(required=False, max_length=EMAIL_DOMAIN_MAX),
        "company": _text(required=False),  # for the rep (lead page, hand-off); not a feature
    },
    name="leads",
)

EVENTS_SCHEMA = pa.DataFrameSchema(
    {
        "lead_id": _text(nullable=False, max_length=LEAD_ID_MAX),
        "ts": pa.Column(TIMESTAMP, nullable=False),
        "event_type": _text(nullable=False, metadata={VOCABULARY: EVENT_TYPES}),
        "content_topic": _text(required=False, metadata={VOCABULARY: CONTENT_TOPICS}),
    },
    name="events",
)

STAGES_SCHEMA = pa.DataFrameSchema(
    {
        "lead_id": _text(nullable=False, max_length=LEAD_ID_MAX),
        "stage": _text(
            nullable=False,
            checks=pa.Check.isin(
                STAGES,
                name="unknown",
                error=f"is not a funnel stage (expected one of: {', '.join(STAGES)})",
            ),
        ),
        "ts": pa.Column(TIMESTAMP, nullable=False),
        "deal_value_eur": pa.Column(
            "float64",
            pa.Check.ge(0, name="negative", error="is negative (expected an amount in EUR >= 0)"),
            nullable=True,
            required=False,
        ),
    },
    name="stages",
)

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "leads": LEADS_SCHEMA,
    "events": EVENTS_SCHEMA,
    "stages": STAGES_SCHEMA,
}


def dtype_name(column: pa.Column) -> str:
    # Text is pandas' `str` whether the schema spells it str, string or string[pyarrow]: an
    # absent optional text column was typed string[pyarrow] (NA) while a present one is `str`
    # (NaN), so CSV and Parquet inputs, or a re-validation, typed the same data differently.
    name = str(column.dtype)
    return "str" if name in {"str", "string"} or name.startswith("string[") else name


def ensure_contract(kept: pd.DataFrame, schema: pa.DataFrameSchema) -> None:
    """Post-condition: the kept rows satisfy the pandera schema. A failure here is a bug in the
    triage, not in the data, so it is not a DataError."""
    try:
        schema.validate(kept, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases[["column", "check"]].drop_duplicates().head(10)
        raise RuntimeError(
            f"{schema.name}: kept rows break the contract (a triage bug): "
            f"{cases.to_dict('records')}"
        ) from exc
