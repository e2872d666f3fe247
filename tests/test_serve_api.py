"""The scoring API in-process (FastAPI TestClient, real model, real agreement): what a CRM
integration relies on — keys, validation with field paths, limits, batches, reload, readiness."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from tests.serve_fixtures import (
    ADMIN_HEADERS,
    API_KEY,
    AS_OF,
    HEADERS,
    feature_rows,
    lead_body,
    settings_for,
    train_small_model,
)
from tests.serve_openapi import assert_matches_openapi


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_model(tmp_path_factory.mktemp("model") / "model.joblib")


@pytest.fixture(scope="module")
def client(model_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(model_path))) as c:
        yield c


def post(client: TestClient, path: str, body: Any, **kwargs: Any) -> Any:
    response = client.post(path, json=body, headers=HEADERS, **kwargs)
    assert_matches_openapi(client.app, "post", path, response)
    return response


# ---- health and readiness -------------------------------------------------------------------


def test_healthz_needs_no_key_and_readyz_reports_the_model(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert_matches_openapi(client.app, "get", "/readyz", ready)


def test_readyz_is_503_until_a_model_loads(model_path: Path) -> None:
    with TestClient(create_app(settings_for(model_path), load_model=False)) as c:
        response = c.get("/readyz")
        assert response.status_code == 503 and response.json()["ready"] is False
        assert_matches_openapi(c.app, "get", "/readyz", response)
        scored = c.post("/v1/score", json=lead_body(), headers=HEADERS)
        assert scored.status_code == 503


def test_a_model_that_fails_to_load_leaves_the_service_up_but_not_ready(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path / "missing.joblib"))) as c:
        assert c.get("/healthz").status_code == 200
        response = c.get("/readyz")
        assert response.status_code == 503
        assert "missing.joblib" in response.json()["reason"]


# ---- API keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/score"),
        ("post", "/v1/score/batch"),
        ("get", "/v1/model"),
        ("get", "/v1/sla"),
        ("post", "/v1/admin/reload"),
    ],
)
@pytest.mark.parametrize("key", [None, "wrong-key", API_KEY + "x", ""])
def test_every_v1_route_needs_a_valid_key(
    client: TestClient, method: str, path: str, key: str | None
) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    response = client.request(method, path, json=lead_body(), headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid API key (header X-API-Key)"}
    assert API_KEY not in response.text


def test_no_key_configured_fails_closed(model_path: Path) -> None:
    from pydantic import SecretStr

    with TestClient(create_app(settings_for(model_path, api_keys=SecretStr("")))) as c:
        assert c.get("/v1/model", headers=HEADERS).status_code == 401


def test_keys_can_come_from_a_file(model_path: Path, tmp_path: Path) -> None:
    from pydantic import SecretStr

    keys = tmp_path / "keys.txt"
    keys.write_text("# rotated monthly\nfile-key-1\n\nfile-key-2  # ops\n")
    settings = settings_for(model_path, api_keys=SecretStr(""), api_keys_file=keys)
    with TestClient(create_app(settings)) as c:
        assert c.get("/v1/model", headers={"X-API-Key": "file-key-2"}).status_code == 200
        assert c.get("/v1/model", headers={"X-API-Key": "# rotated"}).status_code == 401


# ---- scoring one lead ---------------------------------------------------------------------------


def test_score_a_lead_from_profile_and_events(client: TestClient) -> None:
    response = post(client, "/v1/score", lead_body(n_events=30))
    assert response.status_code == 200
    body = response.json()
    assert 0 < body["probability"] < 1
    assert body["score"] == int(body["probability"] * 100 + 0.5)
    assert body["tier"] in {"A", "B", "C", "D"}
    assert body["fit_grade"] in {"A", "B", "C", "D"}
    assert body["decision"] in {"mql", "nurture", "disqualified"} and body["rule"]
    assert (body["follow_up_by"] is not None) == (body["decision"] == "mql")
    assert body["as_of"].startswith("2025-06-01T00:00:00")
    assert body["model"]["name"] == "model"
    assert len(body["reasons_for"]) <= 3 and len(body["reasons_against"]) <= 3
    assert all(r["text"] for r in body["reasons_for"] + body["reasons_against"])


def test_mql_gets_a_follow_up_deadline_from_the_agreement(model_path: Path) -> None:
    settings = settings_for(model_path, mql_threshold=0.0)
    with TestClient(create_app(settings)) as c:
        body = lead_body()
        body["lead"].update(
            company_size=2500,
            industry="software",
            job_role="cto",
            country="DE",
            email_domain="acme.com",
        )
        result = c.post("/v1/score", json=body, headers=HEADERS).json()
        assert (result["decision"], result["rule"]) == ("mql", "score_at_or_above_threshold")
        assert result["follow_up_by"].startswith("2025-06-02T00:00:00")  # as_of + 24 h
        assert result["persona"] == "enterprise_it"
        assert result["expected_value_eur"] == pytest.approx(
            result["probability"] * 48000, abs=0.01
        )


def test_score_a_ready_feature_row_without_reasons(client: TestClient) -> None:
    row = feature_rows(1)[0]
    response = post(client, "/v1/score", {"features": row, "lead_id": "F-1", "explain": False})
    assert response.status_code == 200
    body = response.json()
    assert body["lead_id"] == "F-1" and body.get("reasons_for") is None


def probability(client: TestClient, body: dict[str, Any]) -> float:
    response = post(client, "/v1/score", {**body, "explain": False})
    assert response.status_code == 200, response.text
    return response.json()["probability"]


def test_unknown_categories_and_unknown_fields_are_accepted(client: TestClient) -> None:
    """An unseen category scores as a missing one, an unknown field and an unknown event type
    change nothing: the same probability as the lead without them."""
    body = lead_body()
    odd = lead_body()
    odd["lead"].update(channel="carrier_pigeon", industry="space mining", favourite_colour="red")
    odd["events"].append({"ts": "2025-05-30T10:00:00Z", "event_type": "hologram_view"})
    plain = lead_body()
    plain["lead"].update(channel=None, industry=None)
    assert probability(client, odd) == probability(client, plain)
    assert 0 < probability(client, body) < 1

    row = feature_rows(1)[0]
    odd_row = {**row, "channel": "carrier_pigeon", "not_a_feature": 3}
    missing_row = {**row, "channel": None}
    assert probability(client, {"features": odd_row}) == probability(
        client, {"features": missing_row}
    )
    # This small model hardly splits on channel, so the probabilities alone could agree by
    # chance: the encoded rows must be equal too (the unseen category is NaN, as a missing one).
    scorer = client.app.state.service.current().scorer  # type: ignore[attr-defined]
    np.testing.assert_array_equal(scorer.encode_row(odd_row), scorer.encode_row(missing_row))


@pytest.mark.parametrize(
    "features",
    [
        {"n_events": 1e308, "trend_30d": -1.0},
        {"lead_age_days": "NaN", "fit_score": "1"},
        {"channel": 12345678901234567890, "persona": True, "fit_score": ""},
    ],
)
def test_extreme_but_possible_values_still_score(client: TestClient, features: dict) -> None:
    response = post(client, "/v1/score", {"features": features})
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0 < body["probability"] < 1 and 0 <= body["score"] <= 100
    assert body["decision"] in {"mql", "nurture", "disqualified"}


def test_missing_features_count_as_unknown(client: TestClient) -> None:
    """A row that names one feature scores exactly as the full row with every other one null."""
    row = feature_rows(1)[0]
    nulls = {name: None for name in row} | {"fit_score": 0.9}
    assert probability(client, {"features": {"fit_score": 0.9}}) == probability(
        client, {"features": nulls}
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lead": {"created_at": "yesterday"}}, "body.lead.created_at"),
        ({"lead": {"created_at": AS_OF, "company_size": -5}}, "body.lead.company_size"),
        (
            {"lead": {"created_at": AS_OF}, "events": [{"ts": AS_OF}]},
            "body.events.0.event_type",
        ),
        ({"features": {"fit_score": "high"}}, "body.features.fit_score"),
        ({"features": {"fit_score": [1]}}, "body.features.fit_score"),
        ({"lead": {"created_at": "2025-07-01T00:00:00Z"}, "as_of": AS_OF}, "body.lead.created_at"),
        ({"explain": "maybe", "features": {}}, "body.explain"),
        ({}, "body"),
        ([1, 2], "body"),
        ({"features": {}, "surprise": 1}, "body.surprise"),
        ({"lead": {"created_at": "0001-01-01T00:00:00+01:00"}}, "body.lead.created_at"),
        (
            {"lead": {"created_at": AS_OF}, "as_of": "9999-12-31T23:59:59-01:00"},
            "body.as_of",
        ),
        ({"features": {"channel": {"a": 1}}}, "body.features.channel"),
    ],
)
def test_malformed_input_is_422_naming_the_field(client: TestClient, body: Any, field: str) -> None:
    response = post(client, "/v1/score", body)
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["detail"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields


def test_invalid_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/score", content=b'{"lead": ', headers={**HEADERS, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_errors_never_echo_lead_data(client: TestClient) -> None:
    body = {"lead": {"created_at": "not-a-date-jane.doe@secret-corp.example"}}
    response = post(client, "/v1/score", body)
    assert response.status_code == 422 and "secret-corp" not in response.text


def test_too_many_events_for_one_lead_is_422(model_path: Path) -> None:
    with TestClient(create_app(settings_for(model_path, max_events_per_lead=5))) as c:
        body = lead_body()
        body["events"] = [{"ts": AS_OF, "event_type": "page_view"}] * 6
        response = c.post("/v1/score", json=body, headers=HEADERS)
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "body.events"


# ---- limits --------------------------------------------------------------------------------------


def test_oversize_batch_is_413(model_path: Path) -> None:
    with TestClient(create_app(settings_for(model_path, max_batch=3))) as c:
        rows = feature_rows(4)
        response = c.post(
            "/v1/score/batch", json={"leads": [{"features": r} for r in rows]}, headers=HEADERS
        )
        assert response.status_code == 413 and "limit is 3" in response.json()["detail"]
        columns = {k: [r[k] for r in rows] for k in rows[0]}
        response = c.post("/v1/score/batch", json={"columns": columns}, headers=HEADERS)
        assert response.status_code == 413


def test_oversize_body_is_413_with_or_without_content_length(model_path: Path) -> None:
    with TestClient(create_app(settings_for(model_path, max_body_bytes=2048))) as c:
        big = lead_body()
        big["events"] = [{"ts": AS_OF, "event_type": "page_view"}] * 100
        response = c.post("/v1/score", json=big, headers=HEADERS)
        assert response.status_code == 413

        def chunks() -> Iterator[bytes]:
            yield b'{"features": {"fit_score": 0.5}, "lead_id": "'
            for _ in range(10):
                yield b"x" * 512
            yield b'"}'

        response = c.post(
            "/v1/score",
            content=chunks(),
            headers={**HEADERS, "content-type": "application/json"},
        )
        assert response.status_code == 413


# ---- batches -------------------------------------------------------------------------------------


def test_batch_with_one_bad_lead_scores_the_others(client: TestClient) -> None:
    good = [lead_body(i) for i in range(3)]
    bad = {"lead": {"lead_id": "BAD-1", "created_at": "no"}}
    response = post(client, "/v1/score/batch", {"leads": [good[0], bad, good[1], good[2]]})
    assert response.status_code == 200
    body = response.json()
    assert (body["scored"], body["failed"]) == (3, 1)
    items = body["items"]
    assert [i["index"] for i in items] == [0, 1, 2, 3]
    assert items[1]["lead_id"] == "BAD-1" and "result" not in items[1]
    assert items[1]["errors"][0]["field"] == "body.leads.1.lead.created_at"
    assert all(items[i]["result"]["probability"] > 0 for i in (0, 2, 3))


def test_batch_and_single_give_the_same_answers(client: TestClient) -> None:
    leads = [lead_body(i, n_events=20) for i in range(5)]
    singles = [post(client, "/v1/score", {**b, "explain": False}).json() for b in leads]
    batch = post(client, "/v1/score/batch", {"leads": leads}).json()["items"]
    for single, item in zip(singles, batch, strict=True):
        result = item["result"]
        for key in ("probability", "score", "tier", "decision", "rule", "fit_grade", "persona"):
            assert result[key] == single[key], key


def test_columnar_batch_equals_row_batch_and_flags_bad_cells(client: TestClient) -> None:
    rows = feature_rows(20)
    ids = [f"C-{i}" for i in range(20)]
    row_items = post(
        client,
        "/v1/score/batch",
        {"leads": [{"features": r, "lead_id": i} for r, i in zip(rows, ids, strict=True)]},
    ).json()["items"]
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    columns["fit_score"][4] = "not a number"
    body = post(
        client, "/v1/score/batch", {"columns": columns, "lead_ids": ids, "explain": True}
    ).json()
    assert (body["scored"], body["failed"]) == (19, 1)
    assert body["errors"][0]["index"] == 4 and body["errors"][0]["lead_id"] == "C-4"
    assert body["errors"][0]["errors"][0]["field"] == "body.columns.fit_score.4"
    answer = body["columns"]
    assert answer["lead_id"] == ids
    assert answer["probability"][4] is None and answer["reasons_for"][4] is None
    for i, item in enumerate(row_items):
        if i != 4:
            assert answer["probability"][i] == item["result"]["probability"]
            assert answer["decision"][i] == item["result"]["decision"]
            assert answer["tier"][i] == item["result"]["tier"]
            assert answer["reasons_for"][i] is not None


@pytest.mark.parametrize(
    "body",
    [
        {"columns": {"fit_score": [1, 2], "engagement_score": [1]}},
        {"columns": {"fit_score": "x"}},
        {"columns": {"fit_score": [1]}, "lead_ids": ["a", "b"]},
        {"columns": {"fit_score": [1]}, "explain": "yes"},
        {"columns": {"fit_score": [1]}, "as_of": "soon"},
        {"leads": "all of them"},
        {"leads": [], "extra": True},
    ],
)
def test_malformed_batch_envelope_is_422(client: TestClient, body: Any) -> None:
    assert post(client, "/v1/score/batch", body).status_code == 422


# ---- model, agreement, reload -------------------------------------------------------------------


def test_model_and_sla_describe_what_is_served(client: TestClient) -> None:
    model = client.get("/v1/model", headers=HEADERS)
    assert_matches_openapi(client.app, "get", "/v1/model", model)
    info = model.json()
    assert "engagement_score" in info["features"] and "persona" in info["categorical"]
    sla = client.get("/v1/sla", headers=HEADERS)
    assert_matches_openapi(client.app, "get", "/v1/sla", sla)
    assert sla.json()["threshold"] == 40.0
    assert sla.json()["agreement"]["follow_up_hours"] == 24


def test_unresolved_auto_threshold_scores_without_a_decision(model_path: Path) -> None:
    with TestClient(create_app(settings_for(model_path, mql_threshold=None))) as c:
        sla = c.get("/v1/sla", headers=HEADERS).json()
        assert sla["threshold"] is None and sla["notes"]
        result = c.post("/v1/score", json=lead_body(), headers=HEADERS).json()
        assert result["probability"] > 0 and result["tier"] is not None
        assert result["decision"] in {None, "disqualified", "nurture"}


def test_reload_with_a_broken_model_keeps_the_old_one(model_path: Path, tmp_path: Path) -> None:
    served = tmp_path / "model.joblib"
    shutil.copy(model_path, served)
    with TestClient(create_app(settings_for(served))) as c:
        before = c.post("/v1/score", json=lead_body(), headers=HEADERS).json()
        served.write_bytes(b"not a model at all")
        response = c.post("/v1/admin/reload", headers=ADMIN_HEADERS)
        assert_matches_openapi(c.app, "post", "/v1/admin/reload", response)
        assert response.status_code == 409  # a deploy script's `curl -f` fails
        body = response.json()
        assert body["reloaded"] is False and "ModelLoadError" in body["reason"]
        after = c.post("/v1/score", json=lead_body(), headers=HEADERS).json()
        assert after["probability"] == before["probability"]
        assert c.get("/readyz").status_code == 200

        train_small_model(served, seed=3, n_leads=800)
        body = c.post("/v1/admin/reload", headers=ADMIN_HEADERS).json()
        assert body["reloaded"] is True and body["reason"] is None
        newer = c.post("/v1/score", json=lead_body(), headers=HEADERS).json()
        assert newer["probability"] != before["probability"]


def test_lead_data_is_never_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    secret = "jane.doe.secret-corp.example"
    body = lead_body()
    body["lead"].update(email_domain=secret, lead_id=secret)
    with caplog.at_level(logging.DEBUG):
        post(client, "/v1/score", body)
        post(client, "/v1/score/batch", {"leads": [body, {"lead": {"lead_id": secret}}]})
        post(client, "/v1/score", {"lead": {"created_at": secret}})
    assert secret not in caplog.text
