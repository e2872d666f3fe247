"""The service's single-lead feature path equals the batch path (no training/serving skew)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.build import build_features, feature_spec
from features.vocabularies import CONTENT_TOPICS, EVENT_TYPES
from scoring.features_fast import FastFeatures
from tests.features_fixtures import T, events, leads, params, personas

CHANNELS = ["organic_search", " Paid_Search", "email", "", None, "partner"]
INDUSTRIES = ["Software", "financial services", "Logistics ", "__", None, "retail"]
ROLES = ["cto", "Head of IT", "founder", "CMO", None, "student"]
COUNTRIES = ["DE", "gb", " fr ", "US", None, ""]
DOMAINS = ["acme.com", "GMAIL.com", "x@web.de", "", None, "user@"]
SIZES = [None, 0, 3, 12, 99, 100, 999, 1000, 4999, 5000, 250000]


def random_data(seed: int, n_leads: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leads with every awkward profile value, events with duplicates, unknown types and
    topics, events after T and same-second downloads."""
    rng = np.random.default_rng(seed)
    pick = lambda xs: [xs[i] for i in rng.integers(0, len(xs), n_leads)]  # noqa: E731
    created = T - pd.to_timedelta(rng.integers(0, 400 * 86400, n_leads), unit="s")
    lead_frame = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n_leads)],
            "created_at": created,
            "channel": pick(CHANNELS),
            "company_size": pd.array(pick(SIZES), dtype="Int64"),
            "industry": pick(INDUSTRIES),
            "job_role": pick(ROLES),
            "country": pick(COUNTRIES),
            "email_domain": pick(DOMAINS),
        }
    )
    n_events = n_leads * 25
    types = [*EVENT_TYPES, "mystery_event"]
    topics = [*CONTENT_TOPICS, "gardening", None]
    offsets = rng.integers(-3600, 200 * 86400, n_events)  # some after T
    ts = T - pd.to_timedelta(offsets, unit="s")
    event_frame = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in rng.integers(0, n_leads, n_events)],
            "ts": ts,
            "event_type": [types[i] for i in rng.integers(0, len(types), n_events)],
            "content_topic": [topics[i] for i in rng.integers(0, len(topics), n_events)],
        }
    )
    # exact duplicates and same-second downloads with another topic
    dupes = event_frame.sample(n=n_leads * 2, random_state=seed)
    same_second = dupes.assign(event_type="content_download", content_topic="pricing")
    event_frame = pd.concat([event_frame, dupes, same_second], ignore_index=True)
    return lead_frame, event_frame


def fast_rows(
    fast: FastFeatures,
    lead_frame: pd.DataFrame,
    event_frame: pd.DataFrame,
    as_of: datetime,
    stage_frame: pd.DataFrame | None = None,
) -> dict[str, dict]:
    out = {}
    for lead in lead_frame.to_dict("records"):
        funnel = []
        if stage_frame is not None:
            rows = stage_frame[stage_frame["lead_id"] == lead["lead_id"]]
            funnel = [
                (t.to_pydatetime(), s) for t, s in zip(rows["ts"], rows["stage"], strict=True)
            ]
        own = event_frame[event_frame["lead_id"] == lead["lead_id"]]
        evs = [
            (ts.to_pydatetime(), et, None if pd.isna(tp) else tp)
            for ts, et, tp in zip(own["ts"], own["event_type"], own["content_topic"], strict=True)
        ]
        profile = SimpleNamespace(
            **{
                **lead,
                "created_at": lead["created_at"].to_pydatetime(),
                "company_size": None
                if pd.isna(lead["company_size"])
                else int(lead["company_size"]),
            }
        )
        out[lead["lead_id"]] = fast.features(profile, evs, as_of, funnel)
    return out


def assert_same(batch: pd.DataFrame, fast: dict[str, dict], columns: tuple[str, ...]) -> None:
    assert len(batch) == len(fast)
    for _, row in batch.iterrows():
        mine = fast[row["lead_id"]]
        assert tuple(mine) == columns
        for name in columns:
            want, got = row[name], mine[name]
            if isinstance(want, float) or isinstance(got, float):
                if math.isnan(want):
                    assert math.isnan(got), (row["lead_id"], name, want, got)
                else:
                    # bit-identical, not approximately equal: LightGBM splits on thresholds
                    assert got == want, (
                        row["lead_id"],
                        name,
                        want,
                        got,
                    )
            else:
                assert got == want, (row["lead_id"], name, want, got)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_lead_features_equal_batch_features(seed: int) -> None:
    p, ps = params(), personas()
    lead_frame, event_frame = random_data(seed)
    batch = build_features(lead_frame, event_frame, None, T, ps, p)
    fast = fast_rows(FastFeatures(p, ps), lead_frame, event_frame, T.to_pydatetime())
    assert_same(batch, fast, feature_spec(p).columns)


@pytest.mark.parametrize("seed", [3, 4])
def test_single_lead_features_with_stages_equal_batch_features(seed: int) -> None:
    """The funnel-state twin on the service path: stage rows with ties, unknown stages and rows
    after T give the same values as the batch path."""
    from tests.test_features_funnel import random_stages

    p, ps = params(), personas()
    lead_frame, event_frame = random_data(seed)
    stage_frame = random_stages(seed, lead_frame["lead_id"].tolist(), lead_frame["created_at"])
    batch = build_features(lead_frame, event_frame, stage_frame, T, ps, p)
    fast = fast_rows(FastFeatures(p, ps), lead_frame, event_frame, T.to_pydatetime(), stage_frame)
    assert_same(batch, fast, feature_spec(p).columns)


def test_hand_made_leads_equal_batch_features_at_several_times() -> None:
    p, ps = params(windows_days=(3, 14), half_life_days=7), personas()
    lead_frame, event_frame = leads(), events()
    fast = FastFeatures(p, ps)
    for as_of in (T, T - pd.Timedelta(days=40), T + pd.Timedelta(hours=5, seconds=7)):
        present = lead_frame[lead_frame["created_at"] <= as_of]
        batch = build_features(lead_frame, event_frame, None, as_of, ps, p)
        assert_same(
            batch, fast_rows(fast, present, event_frame, as_of.to_pydatetime()), fast.spec.columns
        )


def test_naive_times_mean_utc() -> None:
    fast = FastFeatures(params(), personas())
    created = datetime(2025, 5, 1, 12, 0)
    lead = SimpleNamespace(lead_id="x", created_at=created, company_size=None)
    evs = [(datetime(2025, 5, 30, 9), "pricing_view", None)]
    naive = fast.features(lead, evs, datetime(2025, 6, 1))
    aware_lead = SimpleNamespace(
        lead_id="x", created_at=created.replace(tzinfo=UTC), company_size=None
    )
    aware_evs = [(datetime(2025, 5, 30, 9, tzinfo=UTC), "pricing_view", None)]
    aware = fast.features(aware_lead, aware_evs, datetime(2025, 6, 1, tzinfo=UTC))
    assert naive["days_since_last_pricing_view"] == aware["days_since_last_pricing_view"]
    assert naive["lead_age_days"] == pytest.approx(30.5)


def test_events_after_as_of_never_count() -> None:
    fast = FastFeatures(params(), personas())
    as_of = datetime(2025, 6, 1, tzinfo=UTC)
    lead = SimpleNamespace(lead_id="x", created_at=as_of - timedelta(days=10))
    before = fast.features(lead, [(as_of, "demo_request", None)], as_of)
    after = fast.features(
        lead,
        [(as_of, "demo_request", None), (as_of + timedelta(seconds=1), "demo_request", None)],
        as_of,
    )
    assert nan_as_none(before) == nan_as_none(after)


def nan_as_none(row: dict) -> dict:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


@pytest.mark.parametrize("windows", [(7, 30, 90), (3, 14), (1,)])
def test_the_python_behaviour_twin_is_in_use(windows: tuple[int, ...]) -> None:
    fast = FastFeatures(params(windows_days=windows, half_life_days=9), personas())
    assert fast.twin is not None, (
        "scoring/behaviour_one.py no longer matches features/behaviour.py bit for bit: single "
        "leads are scored with the slower numpy path until it is updated"
    )
