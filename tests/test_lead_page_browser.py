"""The lead page of a handed-over lead in a real browser (Debian's Chromium driven by Playwright)
against a real uvicorn server reading a real SQLite store and project folder
(tests/lead_page_fixtures.py): its contact fields, the timeline (every event up to the run's
cut-off, none after), the score of every stored run drawn as a chart, and reasons in words;
then a rep marks it contacted from the page and the action is listed with who and when.
No console error, no request to another host, under the service's Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest

from tests.lead_page_fixtures import CONTACT, EVENTS, LEAD, SCORES, make_lead_project
from tests.live_server import running_dashboard
from tests.test_dashboard_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    charts_drawn,
    new_page,
    playwright_api,
    screenshot,
    sign_in,
    table_rows,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

VIEWER, SALES = "viewer-key-browser-01", "sales-key-browser-01"
SECRET = "lead-page-browser-secret-0123"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Served:
    base: str
    cut_off: pd.Timestamp


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import os

    work = tmp_path_factory.mktemp("lead-page")
    project = make_lead_project(work / "project")
    env = {
        **os.environ,
        "LEADSCORE_DB_URL": project.db_url,
        "LEADSCORE_API_KEYS": f"viewer:{VIEWER},sales:{SALES}",
        "LEADSCORE_SESSION_SECRET": SECRET,
        "PYTHONUNBUFFERED": "1",
    }
    with running_dashboard(project.root, env, work / "server.log", START_TIMEOUT_S) as base:
        yield Served(base, project.cut_off)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def test_lead_page_shows_contact_timeline_every_runs_score_and_reasons_in_words(
    browser: object, served: Served
) -> None:
    page, watch = new_page(browser, served)
    sign_in(page, served, VIEWER, f"/dashboard/leads/{LEAD}")
    assert page.url.endswith(f"/dashboard/leads/{LEAD}")
    for field, value in CONTACT.items():
        assert page.locator(f'dd[data-field="{field}"]').inner_text() == value
    assert page.locator('dd[data-field="persona"]').inner_text() == "enterprise_it"

    charts, drawn = charts_drawn(page)
    assert charts == 1 and drawn == 1
    assert page.locator(".chart[data-rendered=error]").count() == 0
    points = page.locator("#panel-history .chart svg path[aria-roledescription=point]").count()
    assert points == len(SCORES), f"{points} points drawn for {len(SCORES)} stored runs"
    history = table_rows(page, "history")
    assert [int(r[1]) for r in history] == list(SCORES.values())

    timeline = table_rows(page, "timeline")
    events = [r for r in timeline if r[1] == "event"]
    expected = [e for e in EVENTS if pd.Timestamp(e[0]) <= served.cut_off]
    assert len(events) == len(expected) == 7
    shown_times = [pd.Timestamp(r[0], tz="UTC") for r in timeline]
    assert max(shown_times) <= served.cut_off  # none after the run's cut-off
    assert [r[0] for r in events] == [
        pd.Timestamp(e[0]).strftime("%Y-%m-%d %H:%M") for e in expected
    ]
    assert events[2][2:4] == ["downloaded content", "case study"]

    reasons_for = page.locator("#reasons-for li").all_inner_texts()
    against = page.locator("#reasons-against li").all_inner_texts()
    assert "requested a demo once in the last 30 days" in reasons_for
    assert any(r.startswith("meets 4 of the 4 criteria") for r in reasons_for)
    assert all("_" not in r and "1 visits" not in r for r in reasons_for + against)
    assert not any("heating" in r or "picking up" in r for r in against)
    assert page.locator("#form-contacted").count() == 0  # a viewer cannot act
    screenshot(page, "lead")
    assert watch.errors == [] and watch.foreign == []
    page.context.close()


def test_a_rep_marks_the_lead_contacted_from_its_page(browser: object, served: Served) -> None:
    page, watch = new_page(browser, served)
    sign_in(page, served, SALES, f"/dashboard/leads/{LEAD}")
    page.select_option("#form-contacted select[name=rep]", "ben")
    page.select_option("#form-contacted select[name=channel]", "email")
    page.fill("#form-contacted input[name=note]", "sent the case study")
    page.click("#form-contacted button[type=submit]")
    page.wait_for_selector("#action-done")
    rows = table_rows(page, "actions")
    assert [r[1:4] for r in rows] == [["contacted", "ben", "dashboard"]]
    assert "sent the case study" in rows[0][4]
    assert page.locator("#desk-state").get_attribute("data-state") in ("waiting", "due")
    assert watch.errors == [] and watch.foreign == []
    page.context.close()


def test_the_sales_desk_page_draws_its_chart_and_its_lead_ids_open_the_lead_page(
    browser: object, served: Served
) -> None:
    page, watch = new_page(browser, served)
    sign_in(page, served, VIEWER, "/dashboard/desk")
    charts, drawn = charts_drawn(page)
    assert charts >= 1 and drawn == charts
    late = table_rows(page, "late")
    assert [r[0] for r in late] == [LEAD]
    page.click(f'#table-late a.lead:has-text("{LEAD}")')
    page.wait_for_load_state()
    assert page.url.endswith(f"/dashboard/leads/{LEAD}")
    assert page.locator("#lead-id").inner_text() == LEAD
    screenshot(page, "desk")
    assert watch.errors == [] and watch.foreign == []
    page.context.close()
