"""The lead page in-process against a real SQLite store and a project folder
(tests/lead_page_fixtures.py): what it shows, who may act from it, and the links to it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from sales.words import activity_words, plain_reasons
from serve.app import create_app
from serve.settings import Settings
from store import Store
from store.actions import lead_actions
from tests.lead_page_fixtures import CONTACT, EVENTS, LEAD, REASONS, SCORES, make_lead_project
from tests.test_dashboard_session import sign_in

VIEWER, SALES, SCORER = "viewer-key-lead-0001", "sales-key-lead-0001", "scorer-key-lead-0001"


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    made = make_lead_project(tmp_path / "project")
    monkeypatch.chdir(made.root)
    monkeypatch.setenv("LEADSCORE_DB_URL", made.db_url)
    yield made.root


def _client(root: Path) -> TestClient:
    settings = Settings(
        api_keys=SecretStr(f"viewer:{VIEWER},sales:{SALES},scorer:{SCORER}"),
        session_secret=SecretStr("s" * 32),
        params_path=root / "params.yaml",
        sla_path=root / "sla.yaml",
        personas_path=root / "personas.yaml",
    )
    return TestClient(create_app(settings, load_model=False), follow_redirects=False)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page should carry the session's CSRF token"
    return found.group(1)


def test_a_viewer_opens_the_lead_page_with_contact_reasons_in_words_and_timeline(
    project: Path,
) -> None:
    with _client(project) as client:
        sign_in(client, VIEWER)
        page = client.get(f"/dashboard/leads/{LEAD}")
        assert page.status_code == 200, page.text[:500]
        text = page.text
    for value in CONTACT.values():
        assert value in text
    assert "requested a demo once in the last 30 days" in text
    assert "meets 4 of the 4 criteria" in text
    assert "1 visit to the site in the last 30 days" in text
    assert "agreed personas: 1" not in text and "1 visits" not in text
    assert "heating up" not in text and "picking up" not in text.split("What holds it back")[1]
    # The timeline: every event up to the cut-off, none after.
    assert "requested a demo" in text and "clicked a link in an e-mail" in text
    assert "attended a webinar" not in text
    assert "(7 events)" in text
    assert "accepted by sales" not in text  # the SQL stage came after the cut-off
    for score in SCORES.values():
        assert f'<td class="num">{score}</td>' in text
    # A viewer sees no form and cannot post one.
    assert 'id="form-contacted"' not in text


def test_a_viewer_cannot_act_a_sales_session_can_a_scorer_cannot_sign_in(project: Path) -> None:
    with _client(project) as client:
        sign_in(client, VIEWER)
        token = _csrf(client.get(f"/dashboard/leads/{LEAD}").text)
        form = {"csrf": token, "kind": "contacted", "rep": "anna", "channel": "phone"}
        refused = client.post(f"/dashboard/leads/{LEAD}", data=form)
        assert refused.status_code == 403
    with _client(project) as client:
        sign_in(client, SALES)
        page = client.get(f"/dashboard/leads/{LEAD}")
        assert 'id="form-contacted"' in page.text
        form = {"csrf": _csrf(page.text), "kind": "contacted", "rep": "anna", "channel": "phone"}
        done = client.post(f"/dashboard/leads/{LEAD}", data=form)
        assert done.status_code == 303, done.text[:500]
        shown = client.get(done.headers["location"]).text
        assert "Recorded: contacted" in shown and "anna" in shown
        bad = client.post(f"/dashboard/leads/{LEAD}", data={**form, "csrf": "forged"})
        assert bad.status_code == 403
        no_channel = {k: v for k, v in form.items() if k != "channel"}
        assert client.post(f"/dashboard/leads/{LEAD}", data=no_channel).status_code == 422
    with _client(project) as client:
        answer = sign_in(client, SCORER, f"/dashboard/leads/{LEAD}")
        assert answer.status_code == 403
        assert client.get(f"/dashboard/leads/{LEAD}").status_code == 303  # to /signin
    with Store.open(None) as store:
        stored = lead_actions(store, [LEAD])
    assert stored[["kind", "actor", "channel", "source"]].values.tolist() == [
        ["contacted", "anna", "phone", "dashboard"]
    ]


def test_an_unknown_lead_is_404_and_lead_ids_on_the_today_page_link_to_their_page(
    project: Path,
) -> None:
    with _client(project) as client:
        sign_in(client, VIEWER)
        assert client.get("/dashboard/leads/nobody").status_code == 404
        today = client.get("/dashboard?date=2026-10-20").text
    assert f'href="/dashboard/leads/{LEAD}"' in today


def test_plain_reasons_never_show_a_rising_trend_as_a_reason_against() -> None:
    for_, against = plain_reasons(REASONS)
    assert for_[0] == "requested a demo once in the last 30 days"
    assert not any("trend" in r or "heating" in r or "picking up" in r for r in against)
    assert "last activity 9 days ago" in against
    assert activity_words({"visits": 1, "return_visits": 0, "pages": 0}) == (
        "1 visit, no pages viewed"
    )
    assert len(EVENTS) == 9


def _rows(page: str, table: str) -> list[list[str]]:
    body = page.split(f'id="table-{table}"')[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], flags=re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)
        ]
        for r in rows
    ]


def test_the_sales_desk_page_lists_what_is_owed_per_rep_and_late_and_closed_by_reason(
    project: Path,
) -> None:
    from datetime import UTC, datetime

    from sales.service import assign_new
    from sla.agreement import load_agreement

    with Store.open(None) as store:
        assign_new(store, load_agreement(project / "sla.yaml").sales_desk, datetime.now(UTC))
    with _client(project) as client:
        sign_in(client, SALES)
        before = client.get("/dashboard/desk").text
        assert [r[:2] for r in _rows(before, "overdue")] == [[LEAD, "anna"]]
        reps = {r[0]: r for r in _rows(before, "reps")}
        assert set(reps) == {"anna", "ben", "carla"}
        assert reps["anna"][2:5] == ["1", "0", "1"]  # owned, due, overdue
        page = client.get(f"/dashboard/leads/{LEAD}").text
        form = {"csrf": _csrf(page), "kind": "closed", "rep": "anna", "reason": "duplicate"}
        assert client.post(f"/dashboard/leads/{LEAD}", data=form).status_code == 303
        after = client.get("/dashboard/desk").text
        assert _rows(after, "overdue") == [["Nothing to show."]]
        assert [r[0] for r in _rows(after, "late")] == [LEAD]  # never contacted, deadline passed
        assert _rows(after, "closed")[0] == ["duplicate", "duplicate", "1"]
        loop = client.get("/dashboard/loop").text
        assert 'id="table-closed"' in loop
        csv = client.get("/dashboard/desk/reps.csv")
        assert csv.status_code == 200 and "anna" in csv.text


def test_recap_files_link_each_handed_over_lead_to_its_page_and_name_its_owner() -> None:
    import numpy as np
    import pandas as pd

    from daily.recap import month_recap
    from daily.render import recap_html, recap_markdown
    from sla.agreement import load_agreement

    ts = pd.Timestamp
    leads = pd.DataFrame(
        {"lead_id": ["A"], "created_at": [ts("2026-10-02", tz="UTC")], "channel": ["email"]}
    )
    stages = pd.DataFrame(
        {
            "lead_id": ["A", "A"],
            "stage": ["mql", "contacted"],
            "ts": [ts("2026-10-03", tz="UTC"), ts("2026-10-04", tz="UTC")],
            "deal_value_eur": np.nan,
        }
    )
    agreement = load_agreement(Path(__file__).resolve().parents[1] / "sla.yaml")
    recap = month_recap(
        leads,
        stages,
        pd.Series(["p"], index=["A"]),
        agreement,
        None,
        np.array([0.1]),
        ts("2026-10-21", tz="UTC"),
        60,
        0.9,
    )
    handoff = pd.DataFrame(
        [
            {
                "lead_id": "L/1<b>",
                "owner": "anna",
                "score": 40,
                "tier": "A",
                "grade": "A1",
                "channel": "email",
                "persona": "p",
                "reasons": ["requested a demo"],
                "followup_deadline": "2026-10-21T00:00:00+00:00",
            }
        ]
    )
    counts = {"handoff": 1, "returning": 0, "overdue": 0}
    page = recap_html(recap, handoff, counts, "Recap", "https://leads.example.com/")
    text = recap_markdown(recap, handoff, counts, "Recap", "https://leads.example.com")
    url = "https://leads.example.com/dashboard/leads/L%2F1%3Cb%3E"
    assert f'<a href="{url}">L/1&lt;b&gt;</a>' in page and "anna" in page
    assert f"[L/1&lt;b&gt;](<{url}>)" in text
    plain = recap_html(recap, handoff, counts, "Recap")
    assert "<a href" not in plain
