"""Failed authentication is throttled (issue 31, low finding: 1,000 wrong keys went through at
2,293/s, all plain 401): per client address and per presented key, a real sliding-window
limiter answering 429 with Retry-After, checked before the key so a guess over the limit is
never tried; on the API and on the dashboard's sign-in form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from serve.app import create_app
from serve.auth_throttle import FailureThrottle
from serve.settings import Settings
from tests.test_dashboard_session import ROOT

VIEWER, SCORER = "viewer-key-throttle-1", "scorer-key-throttle-2"
LIMIT = 5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_past_the_limit_wait_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window_s=60, clock=clock)
    who = throttle.subjects("10.0.0.7", b"wrong")
    for _ in range(3):
        assert throttle.retry_after_s(who) is None
        throttle.record_failure(who)
        clock.now += 10
    assert throttle.retry_after_s(who) == 30  # the first failure leaves the window at +60
    assert throttle.retry_after_s(throttle.subjects("10.0.0.8", b"other")) is None
    # The same key from another address is held too (per key), by its hash only.
    assert throttle.retry_after_s(throttle.subjects("10.0.0.9", b"wrong")) == 30
    assert not any("wrong" in s for s in throttle.subjects("x", b"wrong"))
    clock.now += 31
    assert throttle.retry_after_s(who) is None


def test_the_throttle_forgets_the_least_recent_beyond_its_bound() -> None:
    throttle = FailureThrottle(limit=1, window_s=60, clock=Clock(), max_tracked=100)
    for i in range(1000):
        throttle.record_failure([f"addr:10.0.{i // 256}.{i % 256}"])
    assert len(throttle._failures) == 100


@pytest.fixture()
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADSCORE_DB_URL", f"sqlite:///{tmp_path / 'store.db'}")
    settings = Settings(
        api_keys=SecretStr(f"viewer:{VIEWER},scorer:{SCORER}"),
        session_secret=SecretStr("s" * 32),
        params_path=ROOT / "params.yaml",
        sla_path=ROOT / "sla.yaml",
        personas_path=ROOT / "personas.yaml",
        auth_failures_per_window=LIMIT,
        auth_failure_window_s=600,
    )
    return TestClient(create_app(settings, load_model=False), follow_redirects=False)


def test_wrong_api_keys_past_the_limit_get_429_even_with_the_right_key(
    client: TestClient,
) -> None:
    with client:
        for i in range(LIMIT):
            assert client.get("/v1/model", headers={"X-API-Key": f"guess-{i}"}).status_code == 401
        refused = client.get("/v1/model", headers={"X-API-Key": "guess-next"})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 600
        # Checked before the key: the right guess is not told apart from a wrong one.
        assert client.get("/v1/model", headers={"X-API-Key": SCORER}).status_code == 429


def test_failed_sign_ins_past_the_limit_get_429(client: TestClient) -> None:
    with client:

        def sign_in(key: str):
            form = client.get("/signin").text
            token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            return client.post("/signin", data={"api_key": key, "csrf": token, "next": ""})

        for i in range(LIMIT):
            assert sign_in(f"guess-{i}").status_code == 401
        refused = sign_in(VIEWER)
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        assert "Too many failed sign-ins" in refused.text


def test_a_compressed_body_is_refused_with_415_not_read_as_json(client: TestClient) -> None:
    """Content-Encoding: gzip used to be ignored (the gzip bytes parsed as JSON: 422)."""
    import gzip

    body = gzip.compress(b'{"lead": {"created_at": "2026-01-01T00:00:00Z"}}')
    headers = {"X-API-Key": SCORER, "Content-Type": "application/json"}
    with client:
        answer = client.post(
            "/v1/score", content=body, headers={**headers, "Content-Encoding": "gzip"}
        )
        assert answer.status_code == 415
        assert "Content-Encoding" in answer.json()["detail"]
