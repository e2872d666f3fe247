"""How long a text value may be, and which characters it may not hold: one statement used by
validation (features/schemas.py), the HTTP API (serve/schemas.py) and the store's columns
(store/schema.py), so what validation accepts the store can keep on SQLite and PostgreSQL alike.

Before this, a 300-character lead id passed validation, SQLite kept it, and every daily run on
PostgreSQL then failed with `value too long for type character varying(200)`, naming neither
the lead nor the column.

Lengths count characters (not bytes): both databases' VARCHAR(n) do. The one character refused
everywhere is NUL: PostgreSQL text cannot hold it. Every other character, line breaks and emoji
included, is kept as it is (delivery percent-encodes the idempotency key: delivery/keys.py).
"""

from __future__ import annotations

import pandas as pd

LEAD_ID_MAX = 200  # lead_id in the exports, the API and the store
CATEGORY_MAX = 100  # channel, industry, job_role, country, event_type, content_topic, stage
EMAIL_DOMAIN_MAX = 320  # the longest an e-mail address (so its domain) can be
FORBIDDEN_CHARACTERS = ("\x00",)
FORBIDDEN_HINT = "contains a NUL character (no database can store it as text)"


def too_long(values: pd.Series, limit: int) -> pd.Series:
    """True where a text value has more than `limit` characters (missing values are fine)."""
    return values.str.len().gt(limit).fillna(False).astype(bool)


def has_forbidden_character(values: pd.Series) -> pd.Series:
    """True where a text value holds a character no store can keep."""
    mask = pd.Series(False, index=values.index)
    for character in FORBIDDEN_CHARACTERS:
        mask |= values.str.contains(character, regex=False).fillna(False).astype(bool)
    return mask


def text_problem(value: str, limit: int | None) -> str | None:
    """Why one value cannot be kept (too long, a forbidden character), or None."""
    if limit is not None and len(value) > limit:
        return f"is {len(value)} characters long (at most {limit})"
    if any(c in value for c in FORBIDDEN_CHARACTERS):
        return FORBIDDEN_HINT
    return None
