"""POSTs to the scoring routes skip the framework's layers but not ours: the same middleware,
in the same order, the same error answers and policy headers as every other route.

(The whole API suite runs through the lane too: tests/test_serve_api.py, _e2e, _hostile, _fuzz.)
"""

from __future__ import annotations

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


def test_no_middleware_can_be_added_once_the_lane_is_built(app: FastLaneAPI) -> None:
    with TestClient(app) as c:
        c.post("/v1/score", json={"features": {}}, headers=HEADERS)
    with pytest.raises(RuntimeError):
        app.add_middleware(ExceptionMiddleware)


def test_a_new_app_builds_its_own_lane(tmp_path: Path) -> None:
    model = train_small_model(tmp_path / "model.joblib", n_leads=300)
    first, second = create_app(settings_for(model)), create_app(settings_for(model))
    with TestClient(first) as a, TestClient(second) as b:
        for c in (a, b):
            assert c.post("/v1/score", json={"features": {}}, headers=HEADERS).status_code == 200
    assert first._fast_lane is not second._fast_lane
