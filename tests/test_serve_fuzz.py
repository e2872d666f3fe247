"""Schema-driven fuzzing (schemathesis over our OpenAPI document): whatever a client sends,
valid or not, the service never answers 500, and every answer matches the document.

Bounded: a few dozen generated requests per operation, in-process (ASGI), a few seconds each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from serve.app import create_app
from tests.serve_fixtures import HEADERS, settings_for, train_small_model

MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    path = train_small_model(tmp_path_factory.mktemp("fuzz") / "model.joblib", n_leads=600)
    app = create_app(settings_for(path, max_batch=20))
    with TestClient(app):  # runs the lifespan: the model is loaded while fuzzing
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app: object) -> object:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_gets_a_500_and_answers_match_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers=HEADERS,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_openapi_document_is_valid(fuzz_app: object) -> None:
    from openapi_spec_validator import validate

    doc = fuzz_app.openapi()  # type: ignore[attr-defined]
    validate(doc)
    score = doc["paths"]["/v1/score"]["post"]
    assert score["requestBody"]["content"]["application/json"]["examples"]
    assert {"401", "413", "422", "503"} <= set(score["responses"])


def test_fuzz_module_is_bounded() -> None:
    assert MAX_EXAMPLES <= 50, "keep the fuzz test within the suite's time budget"
    assert Path(__file__).exists()
