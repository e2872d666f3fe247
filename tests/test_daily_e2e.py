"""`leadscore daily` end to end: the real pipeline's champion (`trained_project`: a real small
`dvc repro`), the real command in a subprocess, a real store (SQLite file and PostgreSQL), a
real webhook receiver on loopback."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml

from features.behaviour import WEB_EVENT_TYPES
from features.vocabularies import EVENT_TYPES
from store import Store
from tests.conftest import Project
from tests.daily_run import daily, ok
from tests.store_fixtures import pg_database, store_url
from tests.webhook_receiver import WebhookReceiver, whsec_for

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DAY1, DAY2, DAY3 = date(2026, 10, 20), date(2026, 10, 21), date(2026, 10, 22)
SECRET = whsec_for("daily-test")
FILES = ("handoff.csv", "handoff.json", "returning.csv", "overdue.csv", "recap.md", "recap.html")


def params_with(project: Project, tmp_path: Path, **paths: str) -> Path:
    """The project's params with its own artifacts folder (and other paths) for this test."""
    params = yaml.safe_load((project.root / "params.yaml").read_text())
    params["paths"] = {**params["paths"], "artifacts": str(tmp_path / "artifacts"), **paths}
    out = tmp_path / "params.yaml"
    out.write_text(yaml.safe_dump(params))
    return out


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


def row_counts(url: str) -> dict[str, int]:
    with Store.open(url) as store:
        runs = store.runs()
        return {
            "runs": len(runs),
            "scores": sum(len(store.scores(d)) for d in runs["run_date"]),
            "handoffs": sum(len(store.handoff(d)) for d in runs["run_date"]),
            "outbox": len(store.outbox()),
        }


@dataclass(frozen=True)
class TwoDays:
    """Day one, then day two (delivered to a receiver that refused once), then day two again."""

    params: Path
    out: Path
    url: str
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    snapshot: dict[str, str]
    counts: dict[str, int]
    after_rerun: tuple[dict[str, str], dict[str, int]]
    processed_keys: set[str]
    requests_before: int
    requests_after: int


def two_days(project: Project, url: str, tmp_path: Path) -> TwoDays:
    params = params_with(project, tmp_path)
    env = {"LEADSCORE_DB_URL": url}
    first = ok(daily(project, params, env, "--as-of", DAY1.isoformat()))
    out = tmp_path / "artifacts" / "daily" / DAY2.isoformat()
    with WebhookReceiver(secret=SECRET, refuse_first=1) as hook:
        hooked = {**env, "LEADSCORE_WEBHOOK_URL": hook.url, "LEADSCORE_WEBHOOK_SECRET": SECRET}
        second = ok(daily(project, params, hooked, "--as-of", DAY2.isoformat()))
        snapshot, counts, before = digests(out), row_counts(url), len(hook.requests)
        ok(daily(project, params, hooked, "--as-of", DAY2.isoformat()))
        return TwoDays(
            params,
            out,
            url,
            first,
            second,
            snapshot,
            counts,
            (digests(out), row_counts(url)),
            set(hook.processed),
            before,
            len(hook.requests),
        )


@pytest.fixture(scope="module")
def sqlite_days(trained_project: Project, tmp_path_factory: pytest.TempPathFactory) -> TwoDays:
    """The SQLite run, shared by the tests that read a real hand-off (one set of runs)."""
    tmp = tmp_path_factory.mktemp("daily")
    return two_days(trained_project, f"sqlite:///{tmp / 'store.db'}", tmp)


def check_two_days(project: Project, days: TwoDays) -> None:
    assert "compared with: 2026-10-20" in days.second.stdout
    handoff = pd.read_csv(days.out / "handoff.csv", dtype={"lead_id": str})
    # Day two's hand-off = the leads MQL on day two and not on day one (the stored scores),
    # leaving out those the CRM already shows with sales (an mql row or a sales touch).
    with Store.open(days.url) as store:
        before, after = store.scores(DAY1), store.scores(DAY2)
        stored_handoff = store.handoff(DAY2)
    stages = pd.read_parquet(project.root / "data" / "interim" / "stages.parquet")
    cut = pd.Timestamp(DAY2).tz_localize("UTC")
    sales = stages["stage"].isin(["mql", "contacted", "sql", "opportunity", "customer"])
    crm = set(stages.loc[sales & (pd.to_datetime(stages["ts"], utc=True) <= cut), "lead_id"])
    became = (
        set(after.loc[after["decision"] == "mql", "lead_id"])
        - set(before.loc[before["decision"] == "mql", "lead_id"])
        - crm
    )
    assert became, "the simulated data should produce new MQLs from one day to the next"
    assert set(handoff["lead_id"]) == became == set(stored_handoff["lead_id"])
    assert (handoff["reasons"].str.len() > 0).all()
    # Every hand-off arrived (the receiver refused the first attempt, then took them all).
    assert days.processed_keys == {f"{DAY2.isoformat()}:{lead}" for lead in became}
    # The same day again: same files byte for byte, same rows, nothing sent again.
    assert days.after_rerun == (days.snapshot, days.counts)
    assert days.requests_after == days.requests_before


def test_two_days_hand_off_the_new_mqls_and_a_rerun_changes_nothing_sqlite(
    trained_project: Project, sqlite_days: TwoDays
) -> None:
    check_two_days(trained_project, sqlite_days)
    # A date before the latest stored run is refused, unless --replay.
    env = {"LEADSCORE_DB_URL": sqlite_days.url}
    refused = daily(trained_project, sqlite_days.params, env, "--as-of", "2026-10-19")
    assert refused.returncode == 2
    assert "before the latest stored run (2026-10-21)" in refused.stderr
    assert "--replay" in refused.stderr
    assert row_counts(sqlite_days.url) == sqlite_days.counts


def test_two_days_hand_off_the_new_mqls_and_a_rerun_changes_nothing_postgresql(
    trained_project: Project, pg_database: str, tmp_path: Path
) -> None:
    check_two_days(trained_project, two_days(trained_project, pg_database, tmp_path))


def raw_events(project: Project) -> pd.DataFrame:
    events = pd.read_parquet(project.root / "data" / "interim" / "events.parquet")
    events["ts"] = pd.to_datetime(events["ts"], utc=True)
    return events


def sessions(web_ts: pd.Series, gap_minutes: float) -> int:
    """On-site events closer than the gap are one visit (plain pandas)."""
    ordered = web_ts.sort_values()
    return int(
        (ordered.diff().isna() | (ordered.diff() >= pd.Timedelta(minutes=gap_minutes))).sum()
    )


def test_activity_summary_recounts_from_events_and_ignores_what_came_after(
    trained_project: Project, sqlite_days: TwoDays
) -> None:
    handoff = json.loads((sqlite_days.out / "handoff.json").read_text())["leads"]
    cut = pd.Timestamp(DAY2).tz_localize("UTC")
    events = raw_events(trained_project)
    later = set(events.loc[events["ts"] > cut, "lead_id"])
    # Leads with activity after the cut-off first: the summary must not show it.
    chosen = sorted(handoff, key=lambda r: (r["lead_id"] not in later, r["lead_id"]))[:5]
    assert any(r["lead_id"] in later for r in chosen)
    gap = yaml.safe_load((trained_project.root / "params.yaml").read_text())["features"][
        "session_gap_minutes"
    ]
    for record in chosen:
        mine = events[(events["lead_id"] == record["lead_id"]) & (events["ts"] <= cut)]
        mine = mine[mine["event_type"].isin(EVENT_TYPES)]
        # Same lead, type and second is one event (tracking double-fires).
        mine = mine.assign(second=mine["ts"].dt.floor("s")).drop_duplicates(
            ["second", "event_type"]
        )
        n = mine["event_type"].value_counts()
        a = record["activity"]
        assert a["pages"] == n.get("page_view", 0)
        assert a["downloads"] == n.get("content_download", 0)
        assert a["pricing_views"] == n.get("pricing_view", 0)
        assert a["demo_requests"] == n.get("demo_request", 0)
        assert a["form_submits"] == n.get("form_submit", 0)
        assert a["webinars_attended"] == n.get("webinar_attend", 0)
        assert a["webinars_registered"] == n.get("webinar_register", 0)
        assert a["newsletter_signups"] == n.get("newsletter_signup", 0)
        web = mine[mine["event_type"].isin(WEB_EVENT_TYPES)]
        assert a["visits"] == sessions(web["second"], gap)
        assert pd.Timestamp(a["first_touch"]) == mine["second"].min()
        assert pd.Timestamp(a["last_touch"]) == mine["second"].max() <= cut


def test_a_run_that_fails_half_way_leaves_the_store_as_it_was(
    trained_project: Project, sqlite_days: TwoDays
) -> None:
    env = {"LEADSCORE_DB_URL": sqlite_days.url}
    db = sqlite_days.url.removeprefix("sqlite:///")
    before = row_counts(sqlite_days.url)
    # A real failure inside the save's transaction: after the run and score rows, at the first
    # hand-off or flag row (day 3 has both: new MQLs, and day 2's hand-off is overdue).
    with sqlite3.connect(db) as conn:
        for table in ("handoffs", "lead_flags"):
            conn.execute(
                f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
    try:
        failed = daily(trained_project, sqlite_days.params, env, "--as-of", DAY3.isoformat())
    finally:
        with sqlite3.connect(db) as conn:
            for table in ("handoffs", "lead_flags"):
                conn.execute(f"DROP TRIGGER fail_{table}")
    assert failed.returncode == 2, failed.stderr
    assert "was not saved (nothing written)" in failed.stderr
    assert row_counts(sqlite_days.url) == before
    with Store.open(sqlite_days.url) as store:
        assert store.last_run().run_date == DAY2
        assert store.scores(DAY3).empty


def test_missing_champion_broken_agreement_and_empty_exports_exit_2(
    trained_project: Project, tmp_path: Path
) -> None:
    env = {"LEADSCORE_DB_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    broken = tmp_path / "sla.yaml"
    broken.write_text("revenue_goal_eur: lots\n")
    done = daily(trained_project, params_with(trained_project, tmp_path, sla=str(broken)), env)
    assert done.returncode == 2 and "revenue_goal_eur" in done.stderr

    empty = tmp_path / "raw"
    empty.mkdir()
    (empty / "leads.csv").write_text("lead_id,created_at,channel\n")
    (empty / "events.csv").write_text("lead_id,ts,event_type\n")
    (empty / "stages.csv").write_text("lead_id,stage,ts\n")
    params = params_with(trained_project, tmp_path, raw=str(empty))
    done = daily(trained_project, params, env, "--as-of", DAY1.isoformat())
    assert done.returncode == 2 and "leads" in done.stderr, done.stderr

    missing = {**env, "LEADSCORE_MODEL_URI": "models:/no-such-model@champion"}
    done = daily(
        trained_project, params_with(trained_project, tmp_path), missing, "--as-of", "2026-10-20"
    )
    assert done.returncode == 2 and "no-such-model" in done.stderr
    assert "Traceback" not in done.stderr
    with Store.open(env["LEADSCORE_DB_URL"]) as store:
        assert store.runs().empty


def test_the_hand_off_says_whom_to_call_and_who_calls_and_the_desk_keeps_each_assignment_once(
    sqlite_days: TwoDays,
) -> None:
    from sla.agreement import load_agreement
    from store.actions import lead_actions

    desk = load_agreement(ROOT / "sla.yaml").sales_desk
    handoff = pd.read_csv(sqlite_days.out / "handoff.csv", dtype={"lead_id": str})
    for column in ("company", "email_domain", "job_role", "country", "owner", "team"):
        assert column in handoff.columns, column
    assert handoff["owner"].isin(desk.reps()).all()
    assert handoff["email_domain"].notna().all() and handoff["job_role"].notna().any()
    overdue = pd.read_csv(sqlite_days.out / "overdue.csv", dtype={"lead_id": str})
    assert len(overdue) and overdue["owner"].isin(desk.reps()).all()
    assert (overdue["attempts"] == 0).all()  # none contacted in the CRM since the hand-off
    returning = pd.read_csv(sqlite_days.out / "returning.csv", dtype={"lead_id": str})
    handed_back = returning[returning["status"] == "handed_over"]
    assert "owner" in returning.columns and handed_back["owner"].isin(desk.reps()).all()
    with Store.open(sqlite_days.url) as store:
        day1 = store.handoff(DAY1)["lead_id"].tolist()
        actions = lead_actions(store, [*day1, *handoff["lead_id"]])
    assigned = actions[actions["kind"] == "assigned"]
    # Each handed-over lead assigned once, the day's re-run included.
    assert sorted(assigned["lead_id"]) == sorted([*day1, *handoff["lead_id"]])
    by_lead = dict(zip(assigned["lead_id"], assigned["owner"], strict=True))
    assert [by_lead[i] for i in handoff["lead_id"]] == handoff["owner"].tolist()
