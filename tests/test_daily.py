"""Unit tests of the daily hand-off logic (daily/): tiny hand-made frames, no files, no store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from daily.activity import activity_from_events, activity_records
from daily.handoff import (
    handoff_diff,
    handoff_records,
    open_leads,
    overdue_followups,
    returning_candidates,
    returning_leads,
    with_sales,
)
from daily.recap import month_recap, projection, remaining_probability, report_month
from daily.render import handoff_csv, handoff_json, recap_html, recap_markdown
from foundation.params import FeatureParams
from sla.agreement import load_agreement

ROOT = Path(__file__).resolve().parents[1]
T = pd.Timestamp("2026-10-20", tz="UTC")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def events_frame(rows: list[tuple[str, str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "ts": pd.to_datetime([r[1] for r in rows], utc=True),
            "event_type": [r[2] for r in rows],
            "content_topic": [r[3] for r in rows],
        }
    )


# ---------------------------------------------------------------------------- activity


def test_activity_counts_visits_pages_downloads_intent_and_touches_up_to_the_cut_off() -> None:
    events = events_frame(
        [
            ("A", "2026-10-01 09:00:00", "site_visit", None),
            ("A", "2026-10-01 09:05:00", "page_view", None),
            ("A", "2026-10-01 09:05:00", "page_view", None),  # double-fired: counts once
            ("A", "2026-10-10 14:00:00", "site_visit", None),  # a second visit
            ("A", "2026-10-10 14:01:00", "content_download", "case_study"),
            ("A", "2026-10-10 14:02:00", "content_download", None),  # topic unknown: other
            ("A", "2026-10-12 08:00:00", "newsletter_signup", None),
            ("A", "2026-10-15 10:00:00", "webinar_register", "product"),
            ("A", "2026-10-16 10:00:00", "webinar_attend", "product"),
            ("A", "2026-10-18 11:00:00", "pricing_view", None),
            ("A", "2026-10-19 23:59:59", "demo_request", None),
            ("A", "2026-10-19 12:00:00", "made_up_event", None),  # not in the vocabulary
            ("A", "2026-10-20 00:00:01", "form_submit", None),  # after the cut-off
            ("B", "2026-10-21 09:00:00", "site_visit", None),  # only after the cut-off
        ]
    )
    summary = activity_from_events(pd.Series(["A", "B"]), events, T, FeatureParams())
    a = activity_records(summary)["A"]
    # Sessions of on-site events: 10-01, 10-10, the pricing view, the demo request.
    assert a["visits"] == 4 and a["return_visits"] == 3
    assert a["pages"] == 1 and a["site_visits"] == 2
    assert a["downloads"] == 2 and a["download_topics"] == {"case_study": 1, "other": 1}
    assert a["newsletter"] == "subscribed"
    assert (a["webinars_registered"], a["webinars_attended"]) == (1, 1)
    assert (a["pricing_views"], a["demo_requests"], a["form_submits"]) == (1, 1, 0)
    assert a["first_touch"] == "2026-10-01T09:00:00+00:00"
    assert a["last_touch"] == "2026-10-19T23:59:59+00:00"
    # Counts of one read in the singular: "1 page", "1 demo request", never "1 visits".
    assert "1 demo request;" in a["activity"] and "; 1 page;" in a["activity"]
    b = activity_records(summary)["B"]
    assert b["visits"] == 0 and b["first_touch"] is None and b["last_touch"] is None
    assert b["activity"].startswith("no visits; no pages")


# ---------------------------------------------------------------------------- hand-off


def scored(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "decision": [r[1] for r in rows],
            "score": [r[2] for r in rows],
            "probability": [r[2] / 100 for r in rows],
        }
    )


def test_handoff_holds_leads_that_became_mql_since_the_last_run_once() -> None:
    previous = scored([("A", "mql", 30), ("B", "nurture", 5), ("C", "nurture", 6)])
    today = scored(
        [("A", "mql", 31), ("B", "mql", 12), ("C", "nurture", 6), ("D", "mql", 40), ("E", "mql", 9)]
    )
    new = handoff_diff(today, previous, handed_before={"E"})  # E went to sales on an older run
    assert new["lead_id"].tolist() == ["D", "B"]  # best score first
    first_run = handoff_diff(today, None, handed_before=set())
    assert set(first_run["lead_id"]) == {"A", "B", "D", "E"}


def test_leads_the_crm_shows_with_sales_by_the_cut_off_are_not_handed_over_again() -> None:
    stages = pd.DataFrame(
        {
            "lead_id": ["A", "B", "C", "D"],
            "stage": ["mql", "contacted", "prospect", "mql"],
            "ts": pd.to_datetime(
                ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-25"], utc=True
            ),
        }
    )
    assert with_sales(stages, T) == {"A", "B"}  # C is no sales stage, D comes later
    today = scored([("A", "mql", 40), ("C", "mql", 30), ("D", "mql", 20)])
    assert handoff_diff(today, None, with_sales(stages, T))["lead_id"].tolist() == ["C", "D"]


def test_handoff_record_deadline_is_cut_off_plus_agreed_hours() -> None:
    new = scored([("B", "mql", 12)]).assign(
        channel="email", persona="p", tier="B", grade="A2", expected_value_eur=10.0
    )
    new["reasons"] = [{"reasons_for": [{"text": "asked for a demo"}, {"text": "x"}]}]
    out = handoff_records(new, {"B": {"visits": 3}}, T, follow_up_hours=24)
    row = out.iloc[0]
    assert row["handed_at"] == "2026-10-20T00:00:00+00:00"
    assert row["followup_deadline"] == "2026-10-21T00:00:00+00:00"
    assert row["reasons"] == ["asked for a demo", "x"] and row["activity"] == {"visits": 3}


def test_open_leads_leave_out_newer_sql_and_disqualified_leads() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": ["A", "B", "C", "D", "E"],
            "created_at": pd.to_datetime(
                ["2026-09-01", "2026-09-01", "2026-09-01", "2026-10-25", "2026-09-01"], utc=True
            ),
        }
    )
    stages = pd.DataFrame(
        {
            "lead_id": ["B", "C", "E"],
            "stage": ["sql", "disqualified", "sql"],
            "ts": pd.to_datetime(["2026-10-01", "2026-10-02", "2026-10-22"], utc=True),
        }
    )
    # E becomes SQL only after the cut-off: still open on the day.
    assert open_leads(leads, stages, T)["lead_id"].tolist() == ["A", "E"]


def test_returning_needs_a_quiet_period_and_a_visit_since_the_last_run() -> None:
    events = events_frame(
        [
            ("A", "2026-09-01 10:00:00", "site_visit", None),  # quiet 48 days, then back
            ("A", "2026-10-19 10:00:00", "site_visit", None),
            ("A", "2026-10-19 10:01:00", "content_download", "pricing"),
            ("B", "2026-10-15 10:00:00", "site_visit", None),  # only 4 days quiet
            ("B", "2026-10-19 10:00:00", "site_visit", None),
            ("C", "2026-10-19 10:00:00", "site_visit", None),  # never seen before: not back
            ("D", "2026-09-01 10:00:00", "site_visit", None),  # back after the cut-off only
            ("D", "2026-10-20 10:00:00", "site_visit", None),
            ("E", "2026-09-01 10:00:00", "site_visit", None),  # e-mail is not a site visit
            ("E", "2026-10-19 10:00:00", "email_open", None),
        ]
    )
    handed = pd.DataFrame({"lead_id": ["A", "X"], "run_date": ["2026-09-02", "2026-09-03"]})
    previous = scored([("B", "nurture", 5), ("C", "nurture", 5), ("D", "nurture", 5)])
    previous = pd.concat([previous, scored([("E", "nurture", 4), ("Y", "mql", 40)])])
    candidates = returning_candidates(handed, previous, exclude={"X"})
    assert candidates["lead_id"].tolist() == ["A", "B", "C", "D", "E"]
    out = returning_leads(candidates, events, ts("2026-10-19"), T, quiet_days=14)
    assert out["lead_id"].tolist() == ["A"]
    row = out.iloc[0]
    assert row["status"] == "handed_over" and row["handed_on"] == "2026-09-02"
    assert row["quiet_days"] == 48.0 and row["events_since"] == 2
    assert row["looked_at"] == "content download x1 (pricing); site visit x1"


def test_overdue_lists_handed_leads_past_deadline_without_a_sales_touch_after_hand_off() -> None:
    handed = pd.DataFrame(
        {
            "lead_id": ["A", "B", "C", "D"],
            "run_date": ["2026-10-18"] * 3 + ["2026-10-19"],
            "handed_at": [ts("2026-10-18")] * 3 + [ts("2026-10-19")],
            "followup_deadline": [ts("2026-10-19")] * 3 + [ts("2026-10-20 12:00")],
        }
    )
    stages = pd.DataFrame(
        {
            "lead_id": ["A", "B", "C"],
            "stage": ["contacted", "contacted", "contacted"],
            # A touched after the hand-off; B only before it; C after the cut-off
            "ts": pd.to_datetime(
                ["2026-10-18 09:00", "2026-10-17 00:00", "2026-10-21 00:00"], utc=True
            ),
        }
    )
    out = overdue_followups(handed, stages, T)
    assert out["lead_id"].tolist() == ["B", "C"]  # D's deadline is still ahead
    assert out["hours_overdue"].tolist() == [24.0, 24.0]


# ---------------------------------------------------------------------------- recap


def test_remaining_probability_scales_the_horizon_with_a_constant_hazard() -> None:
    p = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(remaining_probability(p, 60, 60), p)
    np.testing.assert_allclose(remaining_probability(p, 0, 60), [0, 0, 0])
    np.testing.assert_allclose(remaining_probability(p, 30, 60)[1], 1 - np.sqrt(0.5))


def test_projection_adds_run_rate_and_open_leads_with_an_interval_around_it() -> None:
    totals = {"leads": 100.0, "mqls": 20.0, "sqls": 5.0, "customers": 1.0, "revenue_eur": 1000.0}
    out = projection(totals, np.full(200, 0.1), 10, 20, 60, 0.9, deal_value_eur=1000.0)
    assert out["leads"]["projected"] == pytest.approx(300.0)  # 10 a day for 20 more days
    expected_sqls = 5 + 200 * (1 - 0.9 ** (20 / 60))
    assert out["sqls"]["projected"] == pytest.approx(expected_sqls, abs=0.01)
    for m in out.values():
        assert m["low"] <= m["projected"] <= m["high"]
    assert out["revenue_eur"]["projected"] == pytest.approx(3000.0)
    nothing_left = projection(totals, np.full(5, 0.5), 30, 0, 60, 0.9, 1000.0)
    assert nothing_left["sqls"] == {"projected": 5.0, "low": 5.0, "high": 5.0}


def test_report_month_of_a_midnight_cut_off_on_the_first_is_the_month_that_ended() -> None:
    assert report_month(ts("2026-11-01")) == ts("2026-10-01")
    assert report_month(ts("2026-10-20")) == ts("2026-10-01")


def test_month_recap_counts_month_to_date_and_follow_up_without_future_rows() -> None:
    agreement = load_agreement(ROOT / "sla.yaml")
    leads = pd.DataFrame(
        {
            "lead_id": ["A", "B", "C", "D"],
            "created_at": pd.to_datetime(
                ["2026-10-02", "2026-10-05", "2026-09-10", "2026-10-25"], utc=True
            ),
            "channel": ["email", "email", "social", "email"],
        }
    )
    stages = pd.DataFrame(
        {
            "lead_id": ["A", "A", "B", "C", "D"],
            "stage": ["mql", "contacted", "mql", "mql", "mql"],
            "ts": pd.to_datetime(
                ["2026-10-03", "2026-10-03 05:00", "2026-10-06", "2026-10-07", "2026-10-26"],
                utc=True,
                format="ISO8601",
            ),
            "deal_value_eur": np.nan,
        }
    )
    persona = pd.Series(["p", "p", "q", "p"], index=["A", "B", "C", "D"])
    recap = month_recap(leads, stages, persona, agreement, None, np.array([0.2]), T, 60, 0.9)
    assert recap["month"] == "2026-10" and recap["days_elapsed"] == 19
    assert recap["metrics"]["leads"]["actual"] == 2  # D is created after the cut-off
    assert recap["metrics"]["mqls"]["actual"] == 3
    f = recap["follow_up"]
    assert (f["mqls_due"], f["mqls_on_time"], f["compliance"]) == (3, 1, pytest.approx(0.333))
    json.dumps(recap)  # JSON-ready for the store


# ---------------------------------------------------------------------------- render


def test_recap_html_is_a_self_contained_document() -> None:
    agreement = load_agreement(ROOT / "sla.yaml")
    leads = pd.DataFrame({"lead_id": ["A"], "created_at": [ts("2026-10-02")], "channel": ["email"]})
    # (a contacted row too: sla.report.lead_facts fails on pandas 3 when no touch follows an MQL)
    stages = pd.DataFrame(
        {
            "lead_id": ["A", "A"],
            "stage": ["mql", "contacted"],
            "ts": [ts("2026-10-03"), ts("2026-10-04")],
            "deal_value_eur": np.nan,
        }
    )
    recap = month_recap(
        leads, stages, pd.Series(["p"], index=["A"]), agreement, None, np.array([0.1]), T, 60, 0.9
    )
    new = scored([("A", "mql", 30)]).assign(
        channel="email<script>", persona="p", tier="A", grade="A1", expected_value_eur=1.0
    )
    new["reasons"] = [{"reasons_for": [{"text": "pricing & demo"}]}]
    handoff = handoff_records(new, {"A": {"visits": 1, "activity": "1 visits"}}, T, 24)
    counts = {"handoff": 1, "returning": 0, "overdue": 0}
    page = recap_html(recap, handoff, counts, "Recap")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for external in ("<script", "<link", "src=", "http://", "https://", "@import", "url("):
        assert external not in page
    assert "email&lt;script&gt;" in page and "pricing &amp; demo" in page
    assert "Today's hand-off" in recap_markdown(recap, handoff, counts, "Recap")
    csv = handoff_csv(handoff)
    assert csv.splitlines()[0].startswith(
        "lead_id,company,email_domain,job_role,country,owner,team,channel,persona,probability,score"
    )
    assert json.loads(handoff_json(handoff, {"run_date": "2026-10-20"}))["n_leads"] == 1
    assert handoff_csv(handoff) == csv  # same input, same bytes


def test_daily_scorer_reads_feature_params_from_the_params_file_it_ran_with(
    tmp_path: Path,
) -> None:
    """A model without feature metadata takes its feature params from `--params` (the file the
    run was given), as `leadscore score` and the service do, not from personas.yaml."""
    import yaml

    from foundation.params import load_params
    from pipeline.daily_steps import load_scorer
    from tests.serve_fixtures import ROOT, settings_for, train_small_model

    model = train_small_model(tmp_path / "model.joblib", n_leads=300)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(
        yaml.safe_dump(
            {
                "paths": {"personas": str(ROOT / "personas.yaml"), "sla": str(ROOT / "sla.yaml")},
                "features": {"horizon_days": 45},
            }
        )
    )
    params = load_params(params_file)
    scorer = load_scorer(params, params_file, settings_for(model))
    assert scorer.context.feature_params == params.features
    assert scorer.context.feature_params.horizon_days == 45
