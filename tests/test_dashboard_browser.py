"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against a real
uvicorn server on a loopback port, reading a real store filled through the Store API from the
trained project's history.

Every page must draw each of its charts (an SVG per chart) without a console error, under the
service's Content-Security-Policy and without a single request to another host; the hand-off
table must list the leads the store holds for the day; a CSV download must equal its table.
Screenshots of each page go to a temporary folder, or to $LEADSCORE_SCREENSHOTS when set (to
refresh the committed docs/screenshots/dashboard-today.png: tests never write into the checkout
on their own).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import pandas as pd
import pytest

from tests.conftest import Project
from tests.live_server import running_dashboard

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(
    os.environ.get("LEADSCORE_SCREENSHOTS") or tempfile.mkdtemp(prefix="leadscore-screenshots-")
)
CHROMIUM = os.environ.get("LEADSCORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWER, SCORER, ADMIN = "viewer-key-7d1e", "scorer-key-52aa", "admin-key-c90b"
SECRET = "dashboard-test-secret-0b9c4e"
# The contract's policy (ROLES_AND_HEADERS): added by the test to any response that lacks it,
# so the pages are checked under it whether or not the headers middleware is installed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
PAGES = {
    "today": "/dashboard",
    "loop": "/dashboard/loop",
    "model": "/dashboard/model",
    "sla": "/dashboard/sla",
}
START_TIMEOUT_S = 60

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):  # .ci/run installs it: missing there is a failure, not a skip
        raise RuntimeError(f"no Chromium at {CHROMIUM} in CI (apt-get install chromium)")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@dataclass(frozen=True)
class Dashboard:
    base: str
    run_dates: list[date]
    db_url: str
    log: Path

    def handoff_ids(self, day: date) -> list[str]:
        """What the store holds for that day's hand-off, read back through the Store API."""
        from store import Store

        with Store.open(self.db_url) as store:
            return sorted(store.handoff(day)["lead_id"])


def run_days(root: Path) -> list[date]:
    """Two run days in the history: the first of the last month and the last day of the data
    (an earlier run to pick by date, and one that closes the loop on the month before)."""
    stages = pd.read_parquet(next((root / "data" / "interim").glob("stages*")))
    end = pd.Timestamp(stages["ts"].max()).tz_convert("UTC").normalize()
    this_month = end.replace(day=1)
    if this_month == end:
        this_month = (end - pd.Timedelta(days=1)).replace(day=1)
    return [this_month.date(), end.date()]


@pytest.fixture(scope="module")
def dashboard(
    trained_project: Project, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    from tests.dashboard_fill import fill_store

    work = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{work / 'store.db'}"
    days = run_days(trained_project.root)
    filled = fill_store(url, trained_project.root, days)
    log = work / "server.log"
    env = {
        **trained_project.env,
        "LEADSCORE_DB_URL": url,
        "LEADSCORE_API_KEYS": f"viewer:{VIEWER},scorer:{SCORER},admin:{ADMIN}",
        "LEADSCORE_SESSION_SECRET": SECRET,
        "LEADSCORE_MLFLOW_UI_URL": "http://127.0.0.1:5000",
        "PYTHONUNBUFFERED": "1",
    }
    # A real uvicorn (tests/live_server.py); the model is not loaded: the dashboard does not
    # need it and the viewer checks stop at the key guard.
    with running_dashboard(trained_project.root, env, log, START_TIMEOUT_S) as base:
        yield Dashboard(base, filled.run_dates, url, log)


@dataclass
class Watch:
    """What the browser did that a page must not: errors, and requests to other hosts."""

    errors: list[str]
    foreign: list[str]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def new_page(browser: object, dashboard: Dashboard) -> tuple[object, Watch]:
    """A fresh browser context whose every request is checked: another host fails the test."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    own = urlsplit(dashboard.base).netloc
    watch = Watch([], [])

    def guard(route: object) -> None:
        url = route.request.url
        if urlsplit(url).netloc != own:
            watch.foreign.append(url)
            route.abort()
            return
        if route.request.resource_type != "document":
            route.continue_()
            return
        response = route.fetch(max_redirects=0)  # the browser follows redirects itself
        headers = dict(response.headers)
        headers.setdefault("content-security-policy", CSP)
        route.fulfill(response=response, headers=headers)

    context.route("**/*", guard)
    page = context.new_page()
    page.on(
        "console",
        lambda m: watch.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: watch.errors.append(f"page error: {e}"))
    return page, watch


def sign_in(page: object, dashboard: Dashboard, key: str, path: str = "/dashboard") -> None:
    page.goto(dashboard.base + path)
    assert urlsplit(page.url).path == "/signin"
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def table_rows(page: object, name: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"#table-{name} tbody tr",
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))",
    )


def charts_drawn(page: object) -> tuple[int, int]:
    """(charts on the page, charts with an SVG inside), once every chart settled."""
    page.wait_for_selector("body[data-charts=ready]", timeout=20_000)
    return page.locator(".chart").count(), page.locator(".chart svg").count()


def screenshot(page: object, name: str) -> None:
    """The whole page; for Today also the first screen, the small one the README shows."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}-full.png"), full_page=True)
    if name == "today":
        clip = {"x": 0, "y": 0, "width": 1360, "height": 1250}
        page.screenshot(path=str(SCREENSHOTS / "dashboard-today.png"), full_page=True, clip=clip)


def test_each_page_draws_its_charts_offline_with_no_console_error(
    browser: object, dashboard: Dashboard
) -> None:
    page, watch = new_page(browser, dashboard)
    sign_in(page, dashboard, VIEWER)
    for name, path in PAGES.items():
        response = page.goto(dashboard.base + path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "unsafe-eval" not in response.headers["content-security-policy"]
        charts, drawn = charts_drawn(page)
        assert charts >= 1, f"{path}: no chart on the page"
        assert drawn == charts, f"{path}: {drawn} of {charts} charts drawn"
        assert page.locator(".chart[data-rendered=error]").count() == 0, path
        screenshot(page, name)
    assert watch.errors == []
    assert watch.foreign == []
    page.context.close()


def test_handoff_table_lists_the_leads_the_store_holds_for_the_day(
    browser: object, dashboard: Dashboard
) -> None:
    page, watch = new_page(browser, dashboard)
    sign_in(page, dashboard, VIEWER)
    for day in (dashboard.run_dates[-1], dashboard.run_dates[0]):
        path = "/dashboard" if day == dashboard.run_dates[-1] else f"/dashboard?date={day}"
        page.goto(dashboard.base + path)
        shown = sorted(row[0] for row in table_rows(page, "handoff"))
        expected = dashboard.handoff_ids(day)
        assert expected, f"the test store has no hand-off on {day}"
        assert shown == expected, f"hand-off of {day}"
        assert str(day) in page.locator("#panel-handoff h2").inner_text()
    assert watch.errors == [] and watch.foreign == []
    page.context.close()


def test_csv_download_equals_the_table_on_the_page(
    browser: object, dashboard: Dashboard, tmp_path: Path
) -> None:
    page, _ = new_page(browser, dashboard)
    sign_in(page, dashboard, VIEWER)
    for page_key, table in (("today", "handoff"), ("loop", "speed"), ("model", "baselines")):
        page.goto(dashboard.base + PAGES[page_key])
        shown = table_rows(page, table)
        headers = page.eval_on_selector_all(
            f"#table-{table} thead th", "ths => ths.map(t => t.textContent.trim())"
        )
        with page.expect_download() as info:
            page.click(f"#panel-{table} a.csv")
        target = tmp_path / f"{page_key}-{table}.csv"
        info.value.save_as(target)
        rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
        assert rows[0] == headers, table
        assert rows[1:] == shown, table
        assert len(shown) > 0, table
    page.context.close()


def test_sign_out_ends_the_session(browser: object, dashboard: Dashboard) -> None:
    page, watch = new_page(browser, dashboard)
    sign_in(page, dashboard, ADMIN)
    assert urlsplit(page.url).path == "/dashboard"
    page.click("#signout")
    page.wait_for_load_state()
    assert urlsplit(page.url).path == "/signin"
    page.goto(dashboard.base + "/dashboard/model")
    assert urlsplit(page.url).path == "/signin"
    assert watch.foreign == []
    page.context.close()


def test_viewer_session_cannot_reach_the_scoring_api(browser: object, dashboard: Dashboard) -> None:
    page, _ = new_page(browser, dashboard)
    sign_in(page, dashboard, VIEWER)
    body = {"lead": {"lead_id": "x"}}
    # The browser's own session cookie goes along: it must not open /v1.
    with_cookie = page.request.post(dashboard.base + "/v1/score", data=body)
    assert with_cookie.status == 401  # the cookie is no API key
    with_key = page.request.post(
        dashboard.base + "/v1/score", data=body, headers={"X-API-Key": VIEWER}
    )
    assert with_key.status == 403  # a valid key, the wrong role
    page.context.close()


def test_scorer_key_cannot_open_the_dashboard(browser: object, dashboard: Dashboard) -> None:
    page, _ = new_page(browser, dashboard)
    sign_in(page, dashboard, SCORER)
    assert urlsplit(page.url).path == "/signin"
    assert "scorer key" in page.locator(".error").inner_text()
    page.goto(dashboard.base + "/dashboard")
    assert urlsplit(page.url).path == "/signin"
    screenshot(page, "signin")
    page.context.close()


def test_docs_are_self_hosted_and_load_no_other_host(browser: object, dashboard: Dashboard) -> None:
    page, watch = new_page(browser, dashboard)
    page.goto(dashboard.base + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "leadscore" in page.locator(".swagger-ui .info .title").inner_text()
    assert watch.foreign == []
    assert watch.errors == []
    assert httpx.get(dashboard.base + "/redoc").status_code == 404
    page.context.close()


# ---- without a browser: redirects and refused cookies ---------------------------------------


@pytest.mark.parametrize("path", [*PAGES.values(), "/dashboard/today/handoff.csv"])
def test_dashboard_without_session_redirects_to_signin(dashboard: Dashboard, path: str) -> None:
    answer = httpx.get(dashboard.base + path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=/dashboard")


def _cookie(secret: str, payload: dict[str, str], age_s: int = 0) -> str:
    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    from dashboard.session import SESSION_SALT

    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age_s

    return URLSafeTimedSerializer(secret, salt=SESSION_SALT, signer=Signer).dumps(payload)


def test_forged_or_expired_session_cookie_is_refused(dashboard: Dashboard) -> None:
    from dashboard.session import SESSION_COOKIE, key_fingerprint

    good = {"r": "admin", "c": "t", "k": key_fingerprint(SECRET.encode(), ADMIN.encode())}
    valid = _cookie(SECRET, good)
    cases = {
        "valid (control)": valid,
        "other secret": _cookie("not-the-secret", good),
        "tampered role": valid.replace(
            valid.split(".")[0], _cookie(SECRET, {**good, "r": "x"}).split(".")[0]
        ),
        "unknown key": _cookie(SECRET, {**good, "k": "0" * 32}),
        "expired": _cookie(SECRET, good, age_s=9 * 3600),
        "garbage": "not-a-cookie",
    }
    for name, value in cases.items():
        answer = httpx.get(dashboard.base + "/dashboard/sla", cookies={SESSION_COOKIE: value})
        expected = 200 if name == "valid (control)" else 303
        assert answer.status_code == expected, name


def test_signin_form_refuses_a_post_without_its_csrf_token(dashboard: Dashboard) -> None:
    answer = httpx.post(dashboard.base + "/signin", data={"api_key": VIEWER})
    assert answer.status_code == 400
    assert "leadscore_session" not in answer.cookies


def test_signout_refuses_a_post_without_the_session_csrf_token(dashboard: Dashboard) -> None:
    from dashboard.session import SESSION_COOKIE, key_fingerprint

    cookie = _cookie(
        SECRET,
        {"r": "viewer", "c": "right", "k": key_fingerprint(SECRET.encode(), VIEWER.encode())},
    )
    answer = httpx.post(
        dashboard.base + "/signout", data={"csrf": "wrong"}, cookies={SESSION_COOKIE: cookie}
    )
    assert answer.status_code == 400


def test_static_files_are_served_from_the_package() -> None:
    """The vendored builds are package data (a wheel without them would draw no chart)."""
    static = ROOT / "dashboard" / "static"
    for name in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "vega-interpreter.min.js"):
        assert (static / "vendor" / name).stat().st_size > 1000
    assert shutil.which("chromium") or Path(CHROMIUM).exists()
