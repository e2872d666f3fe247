"""The `auto` threshold on a hand-made month of scored leads where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from sla.threshold import auto_threshold

# Seven leads; the last one is excluded by a rule (e.g. a student) so it can never be an MQL.
SCORE = np.array([90, 80, 70, 60, 50, 40, 30], dtype=float)
PROB = np.array([0.5, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1])
ELIGIBLE = np.array([True] * 6 + [False])


def pick(sql_target: int, capacity: int, **kw):
    return auto_threshold(SCORE, PROB, sql_target, capacity, eligible=ELIGIBLE, **kw)


def test_strictest_threshold_that_meets_the_target() -> None:
    r = pick(1, capacity=10, value_per_sql_eur=1_000.0)
    # 90 alone gives 0.5 expected SQLs; 80 and above gives 1.0: the target, with 2 MQLs.
    assert (r.threshold, r.expected_mqls, r.expected_sqls, r.met) == (80.0, 2, 1.0, True)
    assert r.expected_revenue_eur == 1_000.0
    assert r.sqls_short == 0.0
    assert (r.capacity_needed, r.reps_needed, r.extra_leads_needed) == (None, None, None)


def test_larger_target_needs_a_lower_threshold() -> None:
    r = pick(2, capacity=10)
    assert (r.threshold, r.expected_mqls, r.met) == (40.0, 6, True)
    assert r.expected_sqls == pytest.approx(2.0)  # 0.5+0.5+0.4+0.3+0.2+0.1, not 2 - 4e-16 short


def test_capacity_caps_the_mqls_and_says_what_is_missing() -> None:
    r = pick(2, capacity=4, leads_per_rep=2)
    # Four MQLs fit: the leads scored 90..60, threshold at the fourth lead's score.
    assert (r.threshold, r.expected_mqls, r.met) == (60.0, 4, False)
    assert r.expected_sqls == pytest.approx(1.7)
    assert r.sqls_short == pytest.approx(0.3)
    assert (r.capacity_needed, r.reps_needed) == (6, 3)  # 6 MQLs would meet it: 3 reps of 2
    assert r.extra_leads_needed is None


def test_too_few_good_leads_says_how_many_more_are_needed() -> None:
    r = pick(3, capacity=10)
    # Every eligible lead gives 2.0 expected SQLs; at their mean 1/3 per lead, 3 more leads.
    assert (r.threshold, r.expected_mqls, r.met) == (40.0, 6, False)
    assert r.sqls_short == pytest.approx(1.0)
    assert r.capacity_needed is None
    assert r.extra_leads_needed == 3


def test_leads_with_the_same_score_are_selected_together() -> None:
    r = auto_threshold(np.array([70.0, 70, 10]), np.array([0.4, 0.4, 0.1]), 1, capacity=5)
    assert (r.threshold, r.expected_mqls) == (10.0, 3)
    r = auto_threshold(np.array([70.0, 70, 10]), np.array([0.5, 0.5, 0.1]), 1, capacity=5)
    assert (r.threshold, r.expected_mqls) == (70.0, 2)


def test_excluded_leads_never_count() -> None:
    # A busy student scored 95 would make 90 the threshold; excluded, the answer stays 80.
    score, prob = np.array([95.0, 90, 80]), np.array([0.6, 0.5, 0.5])
    assert auto_threshold(score, prob, 1, capacity=10).threshold == 90.0
    excluded = auto_threshold(score, prob, 1, capacity=10, eligible=np.array([False, True, True]))
    assert (excluded.threshold, excluded.expected_mqls, excluded.leads_considered) == (80.0, 2, 2)
