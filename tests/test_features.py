"""Point-in-time behaviour and persona features: the rules training and serving both rely on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features, feature_spec
from foundation.errors import ConfigError
from foundation.params import FeatureParams
from tests.features_fixtures import T, at, events, leads, params, personas

SECOND = 1 / 86_400


def build(lead_frame=None, event_frame=None, as_of=T, **overrides) -> pd.DataFrame:
    return build_features(
        leads() if lead_frame is None else lead_frame,
        events() if event_frame is None else event_frame,
        None,
        as_of,
        personas(),
        params(**overrides),
    )


def row(frame: pd.DataFrame, lead_id: str) -> pd.Series:
    return frame.set_index("lead_id").loc[lead_id]


def test_events_after_snapshot_do_not_change_features():
    ev = events()
    later = ev.assign(ts=T + pd.Timedelta(days=1))
    pd.testing.assert_frame_equal(build(event_frame=ev), build(event_frame=pd.concat([ev, later])))


def test_lead_created_after_snapshot_is_absent():
    table = build()
    assert "d" not in set(table["lead_id"])
    assert list(table["lead_id"]) == ["a", "b", "c", "e"]  # input order kept


def test_columns_follow_the_spec_with_float_numerics_and_text_categoricals():
    table = build()
    spec = feature_spec(params())
    assert list(table.columns) == ["lead_id", *spec.columns]
    assert all(table[c].dtype == np.float64 for c in spec.numeric)
    assert all(table[c].dtype == object for c in spec.categorical)
    assert {"fit_score", "engagement_score", "decayed_demo_request"} <= set(spec.numeric)


@pytest.mark.parametrize(
    "event_frame",
    [
        events().iloc[0:0],
        events().query("event_type == 'site_visit'"),
        pd.DataFrame(columns=["lead_id", "ts", "event_type"]),
    ],
    ids=["no-events", "one-type-only", "no-topic-column"],
)
def test_columns_and_dtypes_are_stable_whatever_the_batch_holds(event_frame):
    full, other = build(), build(event_frame=event_frame)
    assert list(other.columns) == list(full.columns)
    pd.testing.assert_series_equal(other.dtypes, full.dtypes)


def test_leads_without_events_get_a_valid_row():
    c = row(build(), "c")
    assert c["n_events"] == 0 and c["n_site_visit_7d"] == 0 and c["sessions"] == 0
    assert c["engagement_score"] == 0 and c["decayed_pricing_view"] == 0
    assert np.isnan(c["days_since_last_event"]) and np.isnan(c["days_since_first_touch"])
    assert np.isnan(c["days_since_last_demo_request"]) and np.isnan(c["email_ctr"])
    assert c["lead_age_days"] == pytest.approx(12.0)
    assert c["persona"] == "midmarket_ops" and c["fit_score"] == 1.0


def test_counts_windows_recency_sessions_and_active_days():
    a = row(build(), "a")
    # The duplicate, the event after T, the unknown type and the unknown lead are not counted.
    assert a["n_events"] == 11
    assert (a["n_events_7d"], a["n_events_30d"], a["n_events_90d"]) == (5, 6, 11)
    assert a["n_site_visit"] == 1
    assert a["n_form_submit_7d"] == 1  # an event exactly at T counts
    assert a["days_since_last_demo_request"] == pytest.approx(SECOND)
    assert a["days_since_first_touch"] == pytest.approx(60.625)
    assert a["lead_age_days"] == pytest.approx(142.0)
    # Sessions: 04-01, 05-10, 05-30 10:00 (+10:10), 05-30 14:00, 05-31 23:59:59 (+06-01 00:00).
    assert (a["sessions"], a["sessions_7d"]) == (5, 3)
    assert (a["active_days"], a["active_days_7d"]) == (9, 3)
    assert (a["n_intent"], a["n_intent_7d"]) == (3, 3)
    assert a["days_since_last_intent"] == pytest.approx(0.0)


def test_session_gap_is_a_parameter():
    a = row(build(session_gap_minutes=5), "a")
    assert a["sessions"] == 6  # the 10-minute gap now splits the 05-30 morning session


def test_duplicate_events_count_once():
    ev = events()
    doubled = pd.concat([ev, ev], ignore_index=True)
    pd.testing.assert_frame_equal(build(event_frame=ev), build(event_frame=doubled))


def test_unknown_event_types_are_ignored():
    ev = events()
    noise = ev.assign(event_type="tracking_pixel_v2")
    pd.testing.assert_frame_equal(build(event_frame=ev), build(event_frame=pd.concat([ev, noise])))


def test_email_newsletter_webinar_and_topic_features():
    table = build()
    a, b = row(table, "a"), row(table, "b")
    assert a["email_ctr"] == 0.5 and np.isnan(b["email_ctr"])
    assert b["webinar_attendance_ratio"] == 0.0 and np.isnan(a["webinar_attendance_ratio"])
    assert a["newsletter_subscribed"] == 1.0
    assert b["newsletter_subscribed"] == 0.0  # unsubscribed after signing up
    assert (a["n_download_case_study"], a["n_download_how_to"], a["n_download_product"]) == (
        1,
        1,
        0,
    )


def test_trend_compares_a_window_with_the_one_before():
    ev = pd.DataFrame(
        {
            "lead_id": ["a"] * 3 + ["b"],
            "ts": [at("2025-05-30"), at("2025-05-29"), at("2025-05-20"), at("2025-05-20")],
            "event_type": ["site_visit"] * 4,
        }
    )
    table = build(event_frame=ev)
    assert row(table, "a")["trend_7d"] == pytest.approx((2 - 1) / 3)
    assert row(table, "b")["trend_7d"] == -1.0  # all activity in the window before
    assert row(table, "c")["trend_7d"] == 0.0  # idle


def test_same_activity_earlier_gives_a_lower_engagement_score():
    ev = events()
    earlier = ev.assign(ts=ev["ts"] - pd.Timedelta(days=90))
    now, before = row(build(event_frame=ev), "a"), row(build(event_frame=earlier), "a")
    assert before["engagement_score"] < now["engagement_score"]
    assert before["decayed_demo_request"] < now["decayed_demo_request"]
    assert 0.0 <= before["engagement_score"] < now["engagement_score"] < 1.0


def test_decayed_count_halves_after_one_half_life():
    ev = pd.DataFrame(
        {"lead_id": ["a"], "ts": [T - pd.Timedelta(days=21)], "event_type": ["pricing_view"]}
    )
    assert row(build(event_frame=ev, half_life_days=21), "a")[
        "decayed_pricing_view"
    ] == pytest.approx(0.5)


@pytest.mark.parametrize("as_of", [T, T + pd.Timedelta("3h 17min 0.25s")], ids=["T", "now"])
@pytest.mark.parametrize("lead_id", ["a", "b", "c", "e"])
def test_one_lead_built_alone_equals_its_batch_row(lead_id, as_of):
    """Training/serving skew guard: the service builds one lead from its own events, at any
    moment; the result must be identical (bit for bit) to that lead's row in the batch."""
    batch = build(as_of=as_of)
    alone = build(
        lead_frame=leads().query("lead_id == @lead_id"),
        event_frame=events().query("lead_id == @lead_id"),
        as_of=as_of,
    )
    expected = batch[batch["lead_id"] == lead_id].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, expected, check_exact=True)


def test_naive_as_of_means_utc():
    pd.testing.assert_frame_equal(build(as_of=T), build(as_of=T.tz_convert(None)))


def test_persona_fit_and_firmographics():
    table = build()
    a, b, e = row(table, "a"), row(table, "b"), row(table, "e")
    assert (a["persona"], a["fit_score"], a["size_band"], a["email_kind"]) == (
        "enterprise_it",
        1.0,
        "1000-4999",
        "business",
    )
    assert (b["persona"], b["country"], b["email_kind"], b["channel"]) == (
        "smb_founder",
        "GB",
        "free",
        "paid_search",
    )
    assert e["persona"] == "none" and e["fit_score"] == 0.0
    assert e["size_band"] is None and e["industry"] is None and e["email_kind"] == "missing"
    assert np.isnan(e["log_company_size"])


def test_partial_fit_names_the_criteria_met_and_respects_min_fit():
    lead = leads().query("lead_id == 'a'").assign(job_role="intern", country="JP")
    one = build(lead_frame=lead, event_frame=events().iloc[0:0])
    r = one.iloc[0]
    # enterprise_it: size and industry met, role and country not -> 0.5
    assert (r["fit_size"], r["fit_industry"], r["fit_role"], r["fit_country"]) == (1, 1, 0, 0)
    assert r["fit_score"] == 0.5 and r["persona"] == "enterprise_it"
    strict = build(lead_frame=lead, event_frame=events().iloc[0:0], persona_min_fit=0.75)
    assert strict.iloc[0]["persona"] == "none" and strict.iloc[0]["fit_score"] == 0.5


def test_unknown_engagement_weight_is_a_config_error():
    with pytest.raises(ConfigError, match="site_vist"):
        build(engagement_weights={"site_vist": 1.0})


def test_windows_must_be_increasing():
    with pytest.raises(ValueError, match="strictly increasing"):
        FeatureParams(windows_days=(30, 7))


def test_categorical_input_columns_give_the_same_features():
    """The features stage reads events dictionary-encoded (categoricals); same result as text."""
    ev = events()
    as_categories = ev.astype({"lead_id": "category", "event_type": "category"})
    as_categories["content_topic"] = as_categories["content_topic"].astype("category")
    pd.testing.assert_frame_equal(build(event_frame=ev), build(event_frame=as_categories))
