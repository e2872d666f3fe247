"""Reasons read like a sentence and follow the SHAP contributions."""

from __future__ import annotations

import numpy as np

from models.explain import describe, reasons, shap_summary


def test_pattern_phrases_for_event_features() -> None:
    assert describe("count_pricing_view_30d", 3) == "viewed pricing 3 times in the last 30 days"
    assert describe("count_demo_request_7d", 1) == "requested a demo once in the last 7 days"
    assert describe("days_since_last_site_visit", 4.0) == "last visited the site 4 days ago"
    assert describe("days_since_last_site_visit", np.nan) == "never visited the site"


def test_fields_and_fallback() -> None:
    assert describe("job_role", "cto") == "job role: cto"
    assert describe("fit_score", 0.75) == "fit with the agreed personas: 0.75"
    assert describe("Total Time Spent on Website", 674) == "total time spent on website: 674"
    assert describe("count_teleport_30d", 2) == "count teleport 30d: 2"  # unknown event: no guess


def test_overrides_win() -> None:
    text = describe("TotalVisits", 5, overrides={"TotalVisits": "{value} visits to the site"})
    assert text == "5 visits to the site"


def test_reasons_are_top_k_by_size_and_ignore_bias() -> None:
    names = ["a", "b", "c", "d"]
    contrib = np.array([0.5, -1.0, 2.0, 0.0, 9.0])  # last: bias
    out = reasons(contrib, names, {"a": 1, "b": 2, "c": 3, "d": 4}, k=1)
    assert [r.feature for r in out["for"]] == ["c"]
    assert [r.feature for r in out["against"]] == ["b"]
    both = reasons(contrib, names, [1, 2, 3, 4], k=3)
    assert [r.feature for r in both["for"]] == ["c", "a"]  # zero is neither
    assert both["against"][0].as_dict()["contribution"] == -1.0


def test_shap_summary_orders_by_mean_absolute_contribution() -> None:
    contrib = np.array([[0.1, -2.0, 5.0], [-0.3, 1.0, 5.0]])
    table = shap_summary(contrib, ["a", "b"])
    assert table["feature"].tolist() == ["b", "a"]
    assert table["mean_abs_contribution"].tolist() == [1.5, 0.2]


def test_every_feature_of_the_pipeline_reads_as_words() -> None:
    # The live feature list from features/build.py: no phrase may fall back to the raw name.
    from features.build import feature_spec
    from foundation.params import FeatureParams

    spec = feature_spec(FeatureParams())
    for feature in spec.numeric:
        text = describe(feature, 2.0)
        assert "_" not in text, (feature, text)
    assert describe("n_download_case_study", 2) == "downloaded case study content 2 times"
    assert describe("trend_30d", -0.5) == "activity fading over the last 30 days"
    assert describe("fit_role", 0.0) == "job role does not fit the persona"
    assert describe("log_company_size", np.log1p(250)) == "company of about 250 employees"
    assert describe("email_ctr", 0.25) == "clicked 25% of the emails opened"


def test_recency_reads_in_hours_under_a_day_and_whole_days_above() -> None:
    assert describe("days_since_last_demo_request", 0.25) == "last requested a demo 6 hours ago"
    assert describe("days_since_last_event", 2.6) == "last activity 3 days ago"
