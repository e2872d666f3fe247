"""Each qualification rule, the grades and deadline, and the vectorised path equal to the scalar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from sla.agreement import parse_agreement
from sla.errors import SLAError
from sla.qualify import (
    OUTPUT_COLUMNS,
    compile_rules,
    qualify,
    qualify_frame,
    score_from_probability,
    scores_from_probabilities,
)

AGREEMENT = parse_agreement(
    {
        "revenue_goal_eur": 100_000,
        "avg_deal_value_eur": "measured",
        "conversion_rate": "measured",
        "funnel": {"mql_to_sql": 0.4, "sql_to_customer": 0.25},
        "mql_rule": {
            "score_threshold": 60,
            "min_fit_score": 0.25,
            "exclude_unsubscribed": True,
            "exclude": {"email_kind": ["free", "missing"], "job_role": ["student"]},
        },
        "tiers": {"A": [75, 100], "B": [50, 75], "C": [25, 50], "D": [0, 25]},
        "fit_grades": {"A": [0.75, 1], "B": [0.5, 0.75], "C": [0.25, 0.5], "D": [0, 0.25]},
        "engagement_grades": {"1": [0.5, 1], "2": [0.2, 0.5], "3": [0.05, 0.2], "4": [0, 0.05]},
        "follow_up_hours": 24,
        "sales_capacity": {"reps": 2, "leads_per_rep_per_month": 50},
    }
)
RULES = compile_rules(AGREEMENT)
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
GOOD = {
    "score": 80,
    "fit_score": 0.6,
    "engagement_score": 0.3,
    "unsubscribed": False,
    "email_kind": "business",
    "job_role": "cto",
    "scored_at": NOW,
}


def test_mql_with_grades_and_follow_up_deadline() -> None:
    d = qualify(GOOD, RULES)
    assert (d.decision, d.rule, d.tier) == ("mql", "score_at_or_above_threshold", "A")
    assert (d.fit_grade, d.engagement_grade, d.grade) == ("B", "2", "B2")
    assert d.follow_up_by == NOW + timedelta(hours=24)


def test_score_exactly_at_threshold_is_an_mql() -> None:
    assert qualify({**GOOD, "score": 60}, RULES).decision == "mql"


def test_score_below_threshold_is_nurture_without_deadline() -> None:
    d = qualify({**GOOD, "score": 59}, RULES)
    assert (d.decision, d.rule, d.tier, d.follow_up_by) == (
        "nurture",
        "score_below_threshold",
        "B",
        None,
    )


def test_fit_below_minimum_is_nurture_whatever_the_score() -> None:
    d = qualify({**GOOD, "score": 99, "fit_score": 0.2}, RULES)
    assert (d.decision, d.rule, d.fit_grade) == ("nurture", "fit_below_minimum", "D")


def test_unsubscribed_is_disqualified() -> None:
    d = qualify({**GOOD, "unsubscribed": True}, RULES)
    assert (d.decision, d.rule) == ("disqualified", "excluded:unsubscribed")


def test_unsubscribed_read_from_the_features() -> None:
    features = {k: v for k, v in GOOD.items() if k != "unsubscribed"}
    gone = {**features, "n_unsubscribe": 1.0, "newsletter_subscribed": 0.0}
    back = {**features, "n_unsubscribe": 1.0, "newsletter_subscribed": 1.0}
    assert qualify(gone, RULES).rule == "excluded:unsubscribed"
    assert qualify(back, RULES).decision == "mql"  # signed up again after unsubscribing
    frame = qualify_frame(pd.DataFrame([gone, back]), RULES)
    assert frame["rule"].tolist() == ["excluded:unsubscribed", "score_at_or_above_threshold"]


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"email_kind": "free"}, "excluded:email_kind=free"),
        ({"email_kind": None}, "excluded:email_kind=missing"),
        ({"job_role": "student"}, "excluded:job_role=student"),
    ],
)
def test_exclusions_disqualify(change: dict, rule: str) -> None:
    d = qualify({**GOOD, **change}, RULES)
    assert (d.decision, d.rule, d.follow_up_by) == ("disqualified", rule, None)


def test_exclusion_wins_over_fit_and_score() -> None:
    d = qualify({**GOOD, "email_kind": "free", "fit_score": 0.0, "score": 100}, RULES)
    assert d.rule == "excluded:email_kind=free"


def test_missing_data_never_makes_an_mql() -> None:
    d = qualify({**GOOD, "score": float("nan")}, RULES)
    assert (d.decision, d.tier) == ("nurture", "D")
    assert qualify({**GOOD, "fit_score": None}, RULES).rule == "fit_below_minimum"


def test_band_edges_and_out_of_range() -> None:
    assert [qualify({**GOOD, "score": s}, RULES).tier for s in (0, 24.99, 25, 75, 100)] == [
        "D",
        "D",
        "C",
        "A",
        "A",
    ]
    assert qualify({**GOOD, "engagement_score": 1.5}, RULES).engagement_grade == "1"
    assert qualify({**GOOD, "fit_score": 1.0}, RULES).fit_grade == "A"


def test_auto_threshold_must_be_resolved_first() -> None:
    auto = AGREEMENT.model_copy(
        update={"mql_rule": AGREEMENT.mql_rule.model_copy(update={"score_threshold": "auto"})}
    )
    with pytest.raises(SLAError, match="auto"):
        compile_rules(auto)
    assert compile_rules(auto, threshold=42).threshold == 42.0


def test_score_scale_is_the_same_for_one_and_many() -> None:
    p = np.array([0.0, 0.004, 0.005, 0.286, 0.5, 0.995, 1.0, np.nan])
    assert [score_from_probability(x) for x in p] == scores_from_probabilities(p).tolist()
    assert scores_from_probabilities(p).tolist() == [0, 0, 1, 29, 50, 100, 100, 0]


def random_leads(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    edges = np.array([0, 25, 50, 59.999, 60, 75, 100])
    score = np.where(rng.random(n) < 0.3, rng.choice(edges, n), rng.uniform(0, 100, n))
    score[rng.random(n) < 0.03] = np.nan
    fit = np.where(rng.random(n) < 0.3, rng.choice([0, 0.25, 0.5, 0.75, 1], n), rng.random(n))
    fit[rng.random(n) < 0.03] = np.nan
    engagement = np.where(rng.random(n) < 0.3, rng.choice([0, 0.05, 0.2, 0.5, 1], n), rng.random(n))
    engagement[rng.random(n) < 0.03] = np.nan
    return pd.DataFrame(
        {
            "score": score,
            "fit_score": fit,
            "engagement_score": engagement,
            "unsubscribed": rng.random(n) < 0.05,
            "email_kind": rng.choice(
                np.array(["business", "free", None], dtype=object), n, p=[0.8, 0.15, 0.05]
            ),
            "job_role": rng.choice(["cto", "student", "ceo"], n, p=[0.5, 0.1, 0.4]),
            "scored_at": pd.Timestamp(NOW) + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
        },
        index=pd.Index([f"lead-{i}" for i in range(n)]),
    )


def test_vectorised_path_equals_the_single_lead_path() -> None:
    df = random_leads(3_000)
    frame = qualify_frame(df, RULES)
    assert tuple(frame.columns) == OUTPUT_COLUMNS
    assert frame.index.equals(df.index)
    one_by_one = pd.DataFrame(
        [_as_row(qualify(row, RULES)) for row in df.to_dict("records")],
        index=df.index,
    )
    for column in OUTPUT_COLUMNS:
        if column == "follow_up_by":
            assert (frame[column].isna() == one_by_one[column].isna()).all()
            mql = frame["decision"] == "mql"
            assert (frame.loc[mql, column] == pd.to_datetime(one_by_one.loc[mql, column])).all()
        else:
            assert frame[column].tolist() == one_by_one[column].tolist(), column
    assert set(frame["decision"]) == {"mql", "nurture", "disqualified"}


def _as_row(decision) -> dict:
    return {column: getattr(decision, column) for column in OUTPUT_COLUMNS}
