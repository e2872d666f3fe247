"""/v1/score parses its body once (orjson, then the model over the decoded value) and must take
and refuse exactly what validating the JSON bytes did: same models, same error items."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from serve.errors import InputError, clean_errors
from serve.routes_score import parse_score_request
from serve.schemas import ScoreRequest

LEAD = {"created_at": "2026-02-03T09:15:00Z", "channel": "paid_search"}

BODIES: list[Any] = [
    {"features": {"fit_score": 0.5, "channel": "email", "n_visits": 3}},
    {"features": {"fit_score": 1}, "lead_id": "L-1", "explain": False},
    {"features": {"fit_score": "0.5"}},  # a numeric string: a string value, kept as given
    {"features": {"fit_score": True}},
    {"features": {"fit_score": None, "persona": None}},
    {"features": {"fit_score": [1]}},
    {"features": {"fit_score": {"a": 1}}},
    {"features": {}, "explain": 1},
    {"features": {}, "explain": "true"},
    {"features": {}, "lead_id": 5},
    {"features": {}, "as_of": "2026-01-01"},
    {"features": {}, "as_of": "2026-01-01T00:00:00+02:00"},
    {"features": {}, "as_of": 1767225600},
    {"features": {}, "as_of": "1767225600"},
    {"features": {}, "as_of": "yesterday"},
    {"features": {}, "as_of": "1800-01-01T00:00:00Z"},
    {"features": {}, "surprise": 1},
    {"lead": LEAD},
    {"lead": LEAD, "events": [{"ts": "2026-02-04T10:00:00Z", "event_type": "pricing_view"}]},
    {"lead": LEAD, "events": [{"ts": "2026-02-04", "event_type": 3}]},
    {"lead": {**LEAD, "company_size": 250}},
    {"lead": {**LEAD, "company_size": 250.0}},
    {"lead": {**LEAD, "company_size": "250"}},
    {"lead": {**LEAD, "company_size": -1}},
    {"lead": {**LEAD, "created_at": None}},
    {"lead": LEAD, "stages": [{"ts": "2026-02-05T00:00:00Z", "stage": "mql"}]},
    {"lead": LEAD, "features": {}},
    {"features": {}, "events": [{"ts": "2026-02-04T10:00:00Z", "event_type": "x"}]},
    {},
    [],
    "features",
    5,
    None,
]


def from_bytes(body: bytes) -> ScoreRequest | list[dict[str, Any]]:
    """What validating the JSON bytes gives: the model, or the error items the route answers."""
    try:
        return ScoreRequest.model_validate_json(body)
    except ValidationError as exc:
        return clean_errors(exc.errors(include_input=False), ("body",))


@pytest.mark.parametrize("value", BODIES, ids=lambda v: orjson.dumps(v).decode()[:60])
def test_parsing_once_accepts_and_refuses_what_validating_the_bytes_did(value: Any) -> None:
    body = orjson.dumps(value)
    expected = from_bytes(body)
    try:
        got: ScoreRequest | list[dict[str, Any]] = parse_score_request(body)
    except InputError as exc:
        got = exc.items
    assert got == expected


def test_nan_in_a_single_lead_body_is_invalid_json_at_body() -> None:
    with pytest.raises(InputError) as caught:
        parse_score_request(b'{"features": {"fit_score": NaN}}')
    assert caught.value.items[0]["loc"] == ["body"]
    assert caught.value.items[0]["type"] == "json_invalid"
