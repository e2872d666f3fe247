"""Dashboard sign-in and pages in-process (FastAPI TestClient, the real app and the repo's own
sla.yaml), with no pipeline run: what a team sees before the first `dvc repro`, and the session
rules that do not need a browser. The browser tests (tests/test_dashboard_browser.py) cover
the same routes over a real server with data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from dashboard.routes_auth import safe_next
from dashboard.session import SESSION_COOKIE, SessionSigner
from serve.app import create_app
from serve.security import Role
from serve.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
VIEWER, SCORER, ADMIN = "v-key-1", "s-key-2", "a-key-3"


@pytest.fixture()
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    # An empty project folder: no artifacts, no history, an empty store.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADSCORE_DB_URL", f"sqlite:///{tmp_path / 'store.db'}")
    settings = Settings(
        api_keys=SecretStr(f"viewer:{VIEWER},scorer:{SCORER},admin:{ADMIN}"),
        session_secret=SecretStr("s" * 32),
        params_path=ROOT / "params.yaml",
        sla_path=ROOT / "sla.yaml",
        personas_path=ROOT / "personas.yaml",
    )
    with TestClient(create_app(settings, load_model=False), follow_redirects=False) as c:
        yield c


def sign_in(client: TestClient, key: str, next_: str = "/dashboard"):
    form = client.get("/signin").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    return client.post("/signin", data={"api_key": key, "csrf": token, "next": next_})


def test_viewer_signs_in_and_lands_where_it_was_going(client: TestClient) -> None:
    answer = sign_in(client, VIEWER, "/dashboard/sla")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/sla"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    assert VIEWER not in cookie  # the key never goes into the cookie


def test_pages_without_pipeline_outputs_say_what_is_missing(client: TestClient) -> None:
    sign_in(client, VIEWER)
    for path in ("/dashboard", "/dashboard/loop", "/dashboard/model", "/dashboard/sla"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<script>" not in page.text  # no inline script: CSP script-src 'self'
    assert "leadscore daily" in client.get("/dashboard").text
    assert "dvc repro" in client.get("/dashboard/model").text
    # The agreement page needs only sla.yaml: the words are there without any run.
    assert "within 24 hours" in client.get("/dashboard/sla").text


def test_scorer_key_is_refused_at_sign_in_with_the_reason(client: TestClient) -> None:
    answer = sign_in(client, SCORER)
    assert answer.status_code == 403
    assert "scorer key" in answer.text
    assert SESSION_COOKIE not in answer.cookies


def test_wrong_key_is_refused_without_detail(client: TestClient) -> None:
    answer = sign_in(client, "nope")
    assert answer.status_code == 401
    assert "not valid" in answer.text


def test_csv_of_an_unknown_table_is_404(client: TestClient) -> None:
    sign_in(client, ADMIN)
    assert client.get("/dashboard/sla/tiers.csv").status_code == 200
    assert client.get("/dashboard/sla/nope.csv").status_code == 404
    assert client.get("/dashboard/nope/tiers.csv").status_code == 404


def test_docs_page_loads_swagger_from_this_server_only(client: TestClient) -> None:
    page = client.get("/docs").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/") or s.startswith("data:") for s in sources)
    assert "<script>" not in page
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/redoc").status_code == 404


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/dashboard/loop", "/dashboard/loop"),
        ("https://evil.example/dashboard", "/dashboard"),
        ("//evil.example/dashboard", "/dashboard"),
        ("/v1/score", "/dashboard"),
        ("/dashboard\\@evil.example", "/dashboard"),
        ("", "/dashboard"),
    ],
)
def test_sign_in_redirects_only_into_the_dashboard(target: str, expected: str) -> None:
    assert safe_next(target) == expected


def test_session_of_a_removed_key_or_changed_role_is_refused() -> None:
    secret = b"x" * 32
    before = SessionSigner(secret, 3600, {b"k1": Role.VIEWER})
    cookie, _ = before.issue(b"k1", Role.VIEWER)
    assert before.read(cookie) is not None
    assert SessionSigner(secret, 3600, {}).read(cookie) is None  # key removed
    assert SessionSigner(secret, 3600, {b"k1": Role.SCORER}).read(cookie) is None  # role changed
    assert SessionSigner(b"y" * 32, 3600, {b"k1": Role.VIEWER}).read(cookie) is None


def test_a_copy_of_the_cookie_opens_nothing_after_sign_out(client: TestClient) -> None:
    sign_in(client, VIEWER)
    cookie = client.cookies[SESSION_COOKIE]
    page = client.get("/dashboard/sla")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert client.post("/signout", data={"csrf": token}).status_code == 303
    client.cookies.clear()
    again = client.get("/dashboard/sla", cookies={SESSION_COOKIE: cookie})
    assert again.status_code == 303
    assert again.headers["location"].startswith("/signin")
