"""POSTs to the scoring routes skip the framework's layers but not ours: the same middleware,
in the same order, the same error answers and policy headers as every other route.

(The whole API suite runs through the lane too: tests/test_serve_api.py, _e2e, _hostile, _fuzz.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.middleware.exceptions import ExceptionMiddleware

from serve.app import create_app
from serve.fast_lane import FastLaneAPI
from tests.serve_fixtures import HEADERS, feature_rows, settings_for, train_small_model

SECURITY = ("content-security-policy", "x-content-type-options", "x-frame-options")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastLaneAPI:
    model = train_small_model(tmp_path_factory.mktemp("lane") / "model.joblib", n_leads=300)
    app = create_app(settings_for(model))
    assert isinstance(app, FastLaneAPI)
    return app


@pytest.fixture(scope="module")
def client(app: FastLaneAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def lane_layers(app: FastLaneAPI) -> list[type]:
    layers, layer = [], app._fast_lane
    while layer is not None and not isinstance(layer, ExceptionMiddleware):
        layers.append(type(layer))
        layer = getattr(layer, "app", None)
    return layers


def test_the_lane_has_the_apps_own_middleware_in_order(
    client: TestClient, app: FastLaneAPI
) -> None:
    body = {"features": feature_rows(1)[0], "explain": False}
    assert client.post("/v1/score", json=body, headers=HEADERS).status_code == 200
    assert app._fast_routes is not None
    assert set(app._fast_routes) == {"/v1/score", "/v1/score/batch"}
    assert lane_layers(app) == [m.cls for m in app.user_middleware]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, b"{}", 401),  # no key: our guard
        ({**HEADERS, "content-type": "text/plain"}, b"{}", 415),  # not JSON
        ({**HEADERS, "content-type": "application/json"}, b"{", 422),  # our handlers
        ({**HEADERS, "content-type": "application/json"}, b'{"features": {"x": 1}}', 200),
    ],
)
def test_answers_on_the_lane_carry_the_policy_headers(
    client: TestClient, headers: dict[str, str], body: bytes, status: int
) -> None:
    response = client.post("/v1/score", content=body, headers=headers)
    assert response.status_code == status
    assert all(name in response.headers for name in SECURITY)


def test_other_methods_and_paths_take_the_full_stack(client: TestClient) -> None:
    assert client.get("/v1/score", headers=HEADERS).status_code == 405
    assert client.post(
        "/v1/score/", json={}, headers=HEADERS, follow_redirects=False
    ).status_code in (
        307,
        404,
    )
    assert client.get("/healthz").status_code == 200


def test_no_middleware_can_be_added_once_the_lane_has_answered(tmp_path: Path) -> None:
    """The lane copies the middleware list when it is built; one added later would be missing
    from the lane, so the lane's first request must make the app count as started. Here that
    first request is a lane POST straight to the ASGI app: no lifespan, no full-stack request
    before it, so nothing but the lane itself can have built the middleware stack."""
    model = train_small_model(tmp_path / "model.joblib", n_leads=300)
    fresh = create_app(settings_for(model))
    assert fresh.middleware_stack is None
    status = asyncio.run(post_once(fresh, "/v1/score", b'{"features": {}}'))
    assert status == 503  # the model was never loaded (no lifespan), and the lane answered
    assert fresh._fast_routes is not None
    with pytest.raises(RuntimeError, match="after an application has started"):
        fresh.add_middleware(ExceptionMiddleware)


async def post_once(app: FastLaneAPI, path: str, body: bytes) -> int:
    """One raw ASGI POST; returns the status the app sent."""
    sent: list[dict] = []
    request = {"type": "http.request", "body": body, "more_body": False}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "headers": [
            (b"content-type", b"application/json"),
            *((k.lower().encode(), v.encode()) for k, v in HEADERS.items()),
        ],
    }

    async def receive() -> dict:
        return request

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def test_a_new_app_builds_its_own_lane(tmp_path: Path) -> None:
    model = train_small_model(tmp_path / "model.joblib", n_leads=300)
    first, second = create_app(settings_for(model)), create_app(settings_for(model))
    with TestClient(first) as a, TestClient(second) as b:
        for c in (a, b):
            assert c.post("/v1/score", json={"features": {}}, headers=HEADERS).status_code == 200
    assert first._fast_lane is not second._fast_lane
