"""The JSON contract, kind by kind: what the scoring routes accept is exactly what the OpenAPI
document declares, and the single and batch routes give the same answer for the same input.

In-process (ASGI) with a real small model: these are the app's rules, not the server's (the
server's own behaviour, disconnects, slow bodies and headers, is in test_serve_http_hostile.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from tests.serve_fixtures import (
    ADMIN_HEADERS,
    AS_OF,
    HEADERS,
    VIEWER_KEY,
    feature_rows,
    lead_body,
    settings_for,
    train_small_model,
)
from tests.serve_openapi import assert_matches_openapi


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_model(tmp_path_factory.mktemp("contract") / "model.joblib", n_leads=600)


@pytest.fixture(scope="module")
def client(model_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(model_path))) as c:
        yield c


def raw_post(client: TestClient, path: str, body: bytes, headers: dict | None = None) -> Any:
    response = client.post(
        path,
        content=body,
        headers={**HEADERS, "Content-Type": "application/json", **(headers or {})},
    )
    assert_matches_openapi(client.app, "post", path, response)
    return response


def post(client: TestClient, path: str, body: Any) -> Any:
    return raw_post(client, path, json.dumps(body).encode())


def fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["detail"]]


def lead(**changes: Any) -> dict[str, Any]:
    body = lead_body(as_of=AS_OF)
    body["lead"].update(changes)
    return body


# ---- standard JSON only, the same way on both routes -----------------------------------------


@pytest.mark.parametrize(
    "token", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"], ids=lambda t: t.decode()
)
@pytest.mark.parametrize("where", ["feature", "ignored_extra"])
def test_non_standard_json_numbers_are_refused_alike_on_single_and_batch(
    client: TestClient, token: bytes, where: str
) -> None:
    if where == "feature":
        one = b'{"features": {"fit_score": ' + token + b"}}"
    else:  # a CRM's extra column, otherwise ignored: still not JSON
        one = b'{"lead": {"created_at": "2025-05-01T00:00:00Z", "x": ' + token + b"}}"
    single = raw_post(client, "/v1/score", one)
    batch = raw_post(client, "/v1/score/batch", b'{"leads": [' + one + b"]}")
    assert single.status_code == batch.status_code == 422
    assert single.json()["detail"][0]["type"] == batch.json()["detail"][0]["type"] == "json_invalid"
    assert fields(single) == fields(batch) == ["body"]
    assert "inf" not in single.text.lower().replace("infinity", "")


# ---- types exactly as declared -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"as_of": 0}, "as_of"),  # a number is never a Unix time
        ({"as_of": "1700000000"}, "as_of"),  # nor a numeric string
        ({"as_of": "2025-06-01"}, "as_of"),  # a date is not a date-time
        ({"as_of": True}, "as_of"),
        ({"lead_id": 5}, "lead_id"),
    ],
)
def test_times_only_as_iso_strings_and_strings_only_as_strings(
    client: TestClient, change: dict, field: str
) -> None:
    body = {**lead(), **change}
    single = post(client, "/v1/score", body)
    assert single.status_code == 422 and fields(single) == [f"body.{field}"]
    batch = post(client, "/v1/score/batch", {"leads": [body]})
    item = batch.json()["items"][0]
    assert [e["field"] for e in item["errors"]] == [f"body.leads.0.{field}"]


@pytest.mark.parametrize(
    ("lead_change", "field"),
    [
        ({"company_size": False}, "lead.company_size"),  # no bool as int
        ({"company_size": 12.5}, "lead.company_size"),
        ({"company_size": "250"}, "lead.company_size"),
        ({"created_at": 1717200000}, "lead.created_at"),
        ({"created_at": -1}, "lead.created_at"),
    ],
)
def test_no_coercion_in_the_lead_profile(client: TestClient, lead_change: dict, field: str) -> None:
    single = post(client, "/v1/score", lead(**lead_change))
    assert single.status_code == 422 and fields(single) == [f"body.{field}"]


@pytest.mark.parametrize("value", ["yes", 1, "true", None])
def test_explain_takes_a_boolean_only(client: TestClient, value: Any) -> None:
    assert post(client, "/v1/score", {**lead(), "explain": value}).status_code == 422
    assert post(client, "/v1/score/batch", {"leads": [lead()], "explain": value}).status_code == 422
    columns = {"columns": {"fit_score": [0.5]}, "explain": value}
    assert post(client, "/v1/score/batch", columns).status_code == 422


def test_columnar_cells_must_be_scalars(client: TestClient) -> None:
    body = {"columns": {"fit_score": [0.5, {"a": 1}], "channel": ["email", ["x"]]}}
    response = post(client, "/v1/score/batch", body)
    assert response.status_code == 422
    assert set(fields(response)) == {"body.columns.fit_score", "body.columns.channel"}


# ---- single and batch agree ---------------------------------------------------------------------


def test_single_and_batch_give_the_same_answer_and_the_same_errors(client: TestClient) -> None:
    good = lead()
    bad = {**lead(), "as_of": "yesterday"}
    single = post(client, "/v1/score", {**good, "explain": False}).json()
    batch = post(client, "/v1/score/batch", {"leads": [good, bad]}).json()
    scored = batch["items"][0]["result"]
    assert {k: scored[k] for k in single if k != "model"} == {
        k: v for k, v in single.items() if k != "model"
    }
    single_error = post(client, "/v1/score", bad).json()["detail"]
    batch_error = batch["items"][1]["errors"]
    assert [(e["msg"], e["type"]) for e in single_error] == [
        (e["msg"], e["type"]) for e in batch_error
    ]
    assert [e["loc"][1:] for e in single_error] == [e["loc"][3:] for e in batch_error]


# ---- batch items that are not objects ------------------------------------------------------------


def test_batch_items_that_are_not_objects_get_their_own_error_entry(client: TestClient) -> None:
    leads = [5, None, lead(), "a lead", [], True, {"features": {"fit_score": 0.5}}]
    response = post(client, "/v1/score/batch", {"leads": leads})
    assert response.status_code == 200
    body = response.json()
    assert body["scored"] == 2 and body["failed"] == 5
    for i in (0, 1, 3, 4, 5):
        item = body["items"][i]
        assert item["index"] == i and "result" not in item
        assert [e["field"] for e in item["errors"]] == [f"body.leads.{i}"]
        assert item["errors"][0]["type"] == "model_type"
    assert body["items"][2]["result"]["probability"] >= 0


# ---- impossible values refused, unseen values flagged --------------------------------------------


@pytest.mark.parametrize(
    "feature",
    [
        {"n_events": -1},
        {"days_since_last_event": -0.5},
        {"fit_score": 1.5},
        {"email_ctr": -0.1},
        {"newsletter_subscribed": 2},
        {"trend_30d": 1.01},
        {"lead_age_days": "-3"},  # a numeric string is read as its number, and judged so
        {"engagement_score": "Infinity"},
    ],
    ids=lambda f: next(iter(f)),
)
def test_impossible_values_are_422_naming_the_feature_on_every_form(
    client: TestClient, feature: dict
) -> None:
    name = next(iter(feature))
    row = {**feature_rows(1)[0], **feature}
    single = post(client, "/v1/score", {"features": row})
    assert single.status_code == 422
    assert fields(single) == [f"body.features.{name}"]
    assert single.json()["detail"][0]["type"] == "impossible_value"

    batch = post(client, "/v1/score/batch", {"leads": [{"features": row}, {"features": {}}]})
    items = batch.json()["items"]
    assert [e["field"] for e in items[0]["errors"]] == [f"body.leads.0.features.{name}"]
    assert "result" in items[1]

    columns = {k: [v, None] for k, v in row.items()}
    answer = post(client, "/v1/score/batch", {"columns": columns}).json()
    assert answer["failed"] == 1 and answer["errors"][0]["index"] == 0
    assert [e["field"] for e in answer["errors"][0]["errors"]] == [f"body.columns.{name}.0"]


def test_values_outside_the_training_range_are_scored_and_flagged(client: TestClient) -> None:
    row = {**feature_rows(1)[0], "n_events": 1e6, "n_pricing_view": 1e308}
    single = post(client, "/v1/score", {"features": row})
    assert single.status_code == 200
    assert {"n_events", "n_pricing_view"} <= set(single.json()["out_of_range"])

    typical = post(client, "/v1/score", {"features": {"fit_score": 0.5}}).json()
    assert typical["out_of_range"] == []

    batch = post(client, "/v1/score/batch", {"leads": [{"features": row}]}).json()
    assert batch["items"][0]["result"]["out_of_range"] == single.json()["out_of_range"]
    columns = {k: [v] for k, v in row.items()}
    answer = post(client, "/v1/score/batch", {"columns": columns}).json()
    assert answer["columns"]["out_of_range"] == [single.json()["out_of_range"]]


# ---- roles and reload ---------------------------------------------------------------------------


def test_roles_scorer_cannot_reload_viewer_cannot_score(client: TestClient) -> None:
    reload = client.post("/v1/admin/reload", headers=HEADERS)
    assert reload.status_code == 403 and "admin" in reload.json()["detail"]
    assert_matches_openapi(client.app, "post", "/v1/admin/reload", reload)
    viewer = {"X-API-Key": VIEWER_KEY}
    score = client.post("/v1/score", json=lead(), headers=viewer)
    assert score.status_code == 403
    assert_matches_openapi(client.app, "post", "/v1/score", score)
    assert client.get("/v1/model", headers=viewer).status_code == 403
    assert client.post("/v1/score", json=lead(), headers=ADMIN_HEADERS).status_code == 200


def test_a_key_without_a_role_prefix_is_a_scorer(model_path: Path) -> None:
    from pydantic import SecretStr

    keys = SecretStr("plain-key,admin:root-key,nonrole:with-colon")
    with TestClient(create_app(settings_for(model_path, api_keys=keys))) as c:
        assert c.post("/v1/score", json=lead(), headers={"X-API-Key": "plain-key"}).is_success
        # "nonrole:" names no role: the whole string is a scorer key
        assert c.get("/v1/model", headers={"X-API-Key": "nonrole:with-colon"}).is_success
        assert c.post("/v1/admin/reload", headers={"X-API-Key": "plain-key"}).status_code == 403
        assert c.post("/v1/admin/reload", headers={"X-API-Key": "root-key"}).status_code == 200


# ---- what /v1/model reports ---------------------------------------------------------------------


def test_a_model_file_reports_its_run_json_and_metrics_never_its_mtime(
    model_path: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare" / "model.joblib"
    bare.parent.mkdir()
    bare.write_bytes(model_path.read_bytes())
    with TestClient(create_app(settings_for(bare))) as c:
        info = c.get("/v1/model", headers=HEADERS).json()
    assert info["trained_at"] is None and info["run_id"] is None and info["metrics"] == {}

    served = tmp_path / "artifacts" / "train" / "model.joblib"
    served.parent.mkdir(parents=True)
    served.write_bytes(model_path.read_bytes())
    run = {"run_id": "abc123", "trained_at": "2025-06-02T03:04:05+00:00"}
    (served.parent / "run.json").write_text(json.dumps(run))
    evaluation = tmp_path / "artifacts" / "evaluate" / "metrics.json"
    evaluation.parent.mkdir()
    evaluation.write_text(json.dumps({"rows": 10, "model": {"auc": 0.75, "ece": 0.01}}))
    with TestClient(create_app(settings_for(served))) as c:
        response = c.get("/v1/model", headers=HEADERS)
    assert_matches_openapi(c.app, "get", "/v1/model", response)
    info = response.json()
    assert info["run_id"] == "abc123" and info["trained_at"] == run["trained_at"]
    assert info["metrics"] == {"test.model.auc": 0.75, "test.model.ece": 0.01}

    os.utime(evaluation, (0, 0))  # older than the model: it describes another model
    with TestClient(create_app(settings_for(served))) as c:
        assert c.get("/v1/model", headers=HEADERS).json()["metrics"] == {}
