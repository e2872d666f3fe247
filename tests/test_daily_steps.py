"""The steps of `leadscore daily`, each called alone (pipeline/daily_steps.py, daily_record.py),
against a real SQLite store in a temporary folder."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from daily.activity import ACTIVITY_COLUMNS
from foundation.completion import is_complete
from foundation.errors import DataError
from foundation.params import load_params
from pipeline.daily_record import SCORE_COLUMNS, store_run
from pipeline.daily_steps import Day, compare_with_last_run, open_leads_at
from store import Store

ROOT = Path(__file__).resolve().parents[1]
# One site visit, nothing else: the counts a scheduled run stores per open lead.
ACTIVITY = {name: 0 for name in ACTIVITY_COLUMNS if name not in ("lead_id", "activity")} | {
    "visits": 1,
    "site_visits": 1,
    "download_topics": {},
    "newsletter": "no",
    "first_touch": "2026-10-01T09:00:00+00:00",
    "last_touch": "2026-10-01T09:00:00+00:00",
}
STAGES = pd.DataFrame(
    {"lead_id": pd.Series([], dtype=str), "stage": pd.Series([], dtype=str)}
).assign(ts=pd.to_datetime(pd.Series([], dtype=str), utc=True))


def scores_of(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    """A day's scored open leads in the columns the store keeps (SCORE_COLUMNS)."""
    frame = pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "channel": "email",
            "persona": "enterprise_it",
            "probability": [r[2] / 100 for r in rows],
            "score": [r[2] for r in rows],
            "tier": "B",
            "decision": [r[1] for r in rows],
            "rule": "score_at_or_above_threshold",
            "grade": "A2",
            "expected_value_eur": 100.0,
            "reasons": [{"reasons_for": [{"text": "asked for a demo"}]} for _ in rows],
            "activity": [ACTIVITY for _ in rows],
        }
    )
    return frame[list(SCORE_COLUMNS)]


def events_of(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "ts": pd.to_datetime([r[1] for r in rows], utc=True),
            "event_type": "site_visit",
            "content_topic": None,
        }
    )


def run_day(store: Store, day: Day, scores: pd.DataFrame, events: pd.DataFrame):
    """compare_with_last_run, then store_run: the two steps that make tomorrow's comparison."""
    params = load_params(ROOT / "params.yaml")
    compared = compare_with_last_run(day, store, scores, (None, STAGES, events), 24, params)
    counts = {
        "open": len(scores),
        "mql": int((scores["decision"] == "mql").sum()),
        "handoff": len(compared.handoff),
        "returning": len(compared.returning),
        "overdue": len(compared.overdue),
    }
    header = {
        "run_date": day.run_date.isoformat(),
        "as_of": day.t.isoformat(),
        "model": {"name": "lead-propensity", "version": "1"},
        "threshold": 7.0,
        "follow_up_hours": 24,
    }
    day.out.mkdir(parents=True)
    store_run(day, store, scores, compared, {"notes": []}, counts, header, webhook=None)
    return compared


def test_compare_then_store_hands_each_mql_over_once_and_flags_the_ones_that_wait(
    tmp_path: Path,
) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'leadscore.db'}") as store:
        first = Day(date(2026, 10, 20), tmp_path / "2026-10-20")
        day1 = run_day(
            store, first, scores_of([("A", "mql", 30), ("B", "nurture", 5)]), events_of([])
        )
        assert day1.previous is None  # a first run: every MQL is new
        assert day1.handoff["lead_id"].tolist() == ["A"]
        assert day1.handoff["followup_deadline"].tolist() == ["2026-10-21T00:00:00+00:00"]
        assert is_complete(first.out)  # stored: the day's marker says the files and store agree
        assert store.run(first.run_date).n_handoff == 1

        second = Day(date(2026, 10, 22), tmp_path / "2026-10-22")
        today = scores_of([("A", "mql", 31), ("B", "mql", 12), ("C", "nurture", 6)])
        visits = [
            ("A", "2026-09-01T09:00:00Z"),  # seen before, then quiet for 50 days
            ("A", "2026-10-21T09:00:00Z"),
            ("B", "2026-10-21T10:00:00Z"),  # never on the site before: nothing to come back from
        ]
        day2 = run_day(store, second, today, events_of(visits))
    assert day2.previous.run_date == first.run_date
    assert day2.handoff["lead_id"].tolist() == ["B"]  # A went over on the 20th: not again
    assert day2.overdue["lead_id"].tolist() == ["A"]  # its deadline passed with no sales touch
    assert day2.returning["lead_id"].tolist() == ["A"]
    assert day2.returning["status"].tolist() == ["handed_over"]


def test_day_step_reports_progress_and_adds_up_each_steps_time(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    day = Day(date(2026, 10, 20), tmp_path, progress=lambda *a: seen.append(a))
    day.step("score", 10, 30)
    day.step("score", 20, 30)
    day.step("store")
    assert seen == [("score", 10, 30), ("score", 20, 30), ("store", 0, 0)]
    assert list(day.timings) == ["score", "store"]
    assert all(seconds >= 0 for seconds in day.timings.values())
    assert day.t == pd.Timestamp("2026-10-20", tz="UTC")  # the cut-off: 00:00 UTC that day


def test_no_open_lead_at_the_cut_off_is_an_error_naming_the_exports() -> None:
    leads = pd.DataFrame(
        {"lead_id": ["A"], "created_at": pd.to_datetime(["2026-11-01"], utc=True)}
    )  # created after the cut-off
    with pytest.raises(DataError, match=r"no open lead at 2026-10-20T00:00:00\+00:00 in data/raw"):
        open_leads_at(leads, STAGES, pd.Timestamp("2026-10-20", tz="UTC"), "data/raw")
