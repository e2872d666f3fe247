"""Limits on every list one lead carries in a request (issue 31, finding 8): a lead with 250,000
stages is refused with 422 naming `body.stages` before validation reads the items (counting is
done on the decoded JSON); events likewise; a batch names the lead's position. Also: a session
secret too short to resist guessing is refused at start-up (low finding)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from serve.app import create_app
from serve.errors import InputError
from serve.list_limits import ListLimits, check_lead_lists
from serve.settings import SESSION_SECRET_MIN_CHARS, Settings
from tests.serve_fixtures import AS_OF, HEADERS, lead_body, settings_for, train_small_model

JSON_HEADERS = {**HEADERS, "Content-Type": "application/json"}
STAGE = {"lead_id": "L1", "stage": "mql", "ts": AS_OF}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_model(tmp_path_factory.mktemp("model") / "model.joblib", n_leads=600)


def test_list_limits_are_checked_on_the_decoded_json_before_validation() -> None:
    limits = ListLimits(events=5, stages=3)
    check_lead_lists({"stages": [STAGE] * 3, "events": [{}] * 5}, limits)
    with pytest.raises(InputError) as refused:
        # Items that are not even valid stages: the count is refused before they are read.
        check_lead_lists({"stages": [None] * 250_000}, limits)
    (item,) = refused.value.items
    assert item["field"] == "body.stages" and item["type"] == "too_many_stages"
    assert "250000" in item["msg"]


def test_a_250000_stage_lead_is_refused_with_422_naming_the_field(model_path: Path) -> None:
    with TestClient(create_app(settings_for(model_path))) as client:
        body = lead_body()
        body["stages"] = [STAGE] * 250_000
        answer = client.post("/v1/score", content=orjson.dumps(body), headers=JSON_HEADERS)
        assert answer.status_code == 422
        (item,) = answer.json()["detail"]
        assert item["field"] == "body.stages" and item["type"] == "too_many_stages"

        body = lead_body()
        body["stages"] = [STAGE] * 3
        assert client.post("/v1/score", json=body, headers=HEADERS).status_code == 200

        batch = {"leads": [lead_body(0), {**lead_body(1), "stages": [STAGE] * 250_000}]}
        answer = client.post("/v1/score/batch", content=orjson.dumps(batch), headers=JSON_HEADERS)
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["field"] == "body.leads.1.stages"


def test_configured_limits_cannot_exceed_the_schema_ceilings() -> None:
    with pytest.raises(ValidationError):
        Settings(max_stages_per_lead=10**6)
    with pytest.raises(ValidationError):
        Settings(max_events_per_lead=10**7)


def test_a_short_session_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="session_secret"):
        Settings(session_secret=SecretStr("x"))
    Settings(session_secret=SecretStr("k" * SESSION_SECRET_MIN_CHARS))
    Settings(session_secret=SecretStr(""))  # unset: a random one per process
