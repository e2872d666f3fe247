"""Funnel-state features: each rule on hand-made rows, no leakage from after T, and the
single-lead twin equal to the batch function bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.build import build_features, feature_spec
from features.funnel import FUNNEL_CATEGORICAL, FUNNEL_NUMERIC, funnel_state, funnel_state_one
from features.vocabularies import STAGES
from tests.features_fixtures import T, at, events, leads, params, personas

DAY_NS = 86_400 * 10**9


def stage_rows(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "stage": [r[1] for r in rows],
            "ts": pd.to_datetime([r[2] for r in rows], utc=True, format="ISO8601"),
        }
    )


def state(stage_frame: pd.DataFrame | None, as_of: pd.Timestamp = T) -> pd.DataFrame:
    present = leads()[leads()["created_at"] <= as_of].reset_index(drop=True)
    out = funnel_state(present["lead_id"], present["created_at"], stage_frame, as_of)
    return pd.DataFrame(out, index=present["lead_id"])


def test_lead_without_rows_is_a_prospect_with_no_times() -> None:
    row = state(stage_rows(("a", "mql", "2025-05-01"))).loc["b"]
    assert row["funnel_stage"] == "prospect"
    assert row[["reached_mql", "contacted", "disqualified", "recycled"]].tolist() == [0, 0, 0, 0]
    assert math.isnan(row["days_since_mql"]) and math.isnan(row["days_in_stage"])


def test_mql_then_contact_gives_stage_times_and_follow_up_hours() -> None:
    frame = stage_rows(("a", "mql", "2025-05-21 09:00"), ("a", "contacted", "2025-05-22 15:00"))
    row = state(frame).loc["a"]
    assert row["funnel_stage"] == "contacted"
    assert row["reached_mql"] == 1 and row["contacted"] == 1
    assert row["days_since_mql"] == pytest.approx(10.625)  # May 21 09:00 -> Jun 1 00:00
    assert row["days_since_first_contact"] == pytest.approx(9.375)
    assert row["days_in_stage"] == row["days_since_first_contact"]
    assert row["hours_mql_to_contact"] == pytest.approx(30.0)
    assert row["days_created_to_mql"] == pytest.approx(131.375)  # created 2025-01-10


def test_a_crm_that_skipped_the_mql_row_still_counts_the_hand_over() -> None:
    row = state(stage_rows(("a", "contacted", "2025-05-31"))).loc["a"]
    assert row["reached_mql"] == 1 and row["hours_mql_to_contact"] == 0


def test_disqualified_then_recycled() -> None:
    frame = stage_rows(
        ("a", "mql", "2025-03-01"),
        ("a", "disqualified", "2025-03-10"),
        ("a", "mql", "2025-05-25"),
        ("b", "mql", "2025-04-01"),
        ("b", "disqualified", "2025-04-02"),
    )
    rows = state(frame)
    a, b = rows.loc["a"], rows.loc["b"]
    assert a["funnel_stage"] == "mql" and a["recycled"] == 1 and a["disqualified"] == 1
    assert a["days_in_stage"] == pytest.approx(7.0)
    assert a["days_since_mql"] == pytest.approx(92.0)  # the first hand-over counts
    assert b["funnel_stage"] == "disqualified" and b["recycled"] == 0
    assert b["days_since_disqualified"] == pytest.approx(60.0)


def test_same_time_rows_order_by_funnel_with_disqualified_last() -> None:
    frame = stage_rows(("a", "disqualified", "2025-05-01"), ("a", "mql", "2025-05-01"))
    row = state(frame).loc["a"]
    assert row["funnel_stage"] == "disqualified" and row["recycled"] == 0


def test_repeated_rows_keep_the_time_the_stage_began() -> None:
    frame = stage_rows(("a", "mql", "2025-05-01"), ("a", "mql", "2025-05-20"))
    assert state(frame).loc["a", "days_in_stage"] == pytest.approx(31.0)


def test_unknown_stages_and_other_leads_are_ignored() -> None:
    frame = stage_rows(("a", "nurture_call", "2025-05-01"), ("zz", "mql", "2025-05-01"))
    rows = state(frame)
    assert (rows["funnel_stage"] == "prospect").all() and (rows["reached_mql"] == 0).all()


def test_stages_after_as_of_do_not_change_the_features() -> None:
    """Leakage guard: stage rows after T (even one second after) never reach a feature at T."""
    before = stage_rows(("a", "mql", "2025-05-20"), ("b", "mql", "2025-05-30 12:00"))
    later = stage_rows(
        ("a", "contacted", "2025-06-01 00:00:01"),
        ("a", "disqualified", "2025-06-03"),
        ("b", "contacted", "2025-07-01"),
        ("c", "mql", "2025-06-02"),
        ("e", "mql", "2025-08-01"),
    )
    p, ps = params(), personas()
    expected = build_features(leads(), events(), before, T, ps, p)
    got = build_features(leads(), events(), pd.concat([before, later]), T, ps, p)
    pd.testing.assert_frame_equal(expected, got)


def test_funnel_state_off_leaves_the_columns_out() -> None:
    spec = feature_spec(params(funnel_state=False))
    assert not set(FUNNEL_NUMERIC + FUNNEL_CATEGORICAL) & set(spec.columns)
    frame = build_features(leads(), events(), None, T, personas(), params(funnel_state=False))
    assert list(frame.columns) == ["lead_id", *spec.columns]


def random_stages(seed: int, lead_ids: list[str], created: pd.Series) -> pd.DataFrame:
    """Random funnel rows (sub-second times, ties, unknown stages, rows after T) for the twin."""
    rng = np.random.default_rng(seed)
    n = len(lead_ids) * 3
    names = [*STAGES, "mystery"]
    offsets = rng.integers(-20 * DAY_NS, 150 * DAY_NS, n) // 1000 * 1000  # microseconds
    offsets[: n // 5] = offsets[: n // 5] // 10**9 * 10**9  # whole seconds: ties happen
    who = rng.integers(0, len(lead_ids), n)
    return pd.DataFrame(
        {
            "lead_id": [lead_ids[i] for i in who],
            "stage": [names[i] for i in rng.integers(0, len(names), n)],
            "ts": T - pd.to_timedelta(offsets, unit="ns"),
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_lead_twin_equals_batch_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"L{i}" for i in range(80)]
    created = T - pd.to_timedelta(rng.integers(0, 400 * DAY_NS, 80) // 1000 * 1000, unit="ns")
    frame = random_stages(seed, ids, pd.Series(created))
    batch = funnel_state(pd.Series(ids), pd.Series(created), frame, T)
    for i, lead in enumerate(ids):
        own = frame[frame["lead_id"] == lead]
        one = funnel_state_one(
            created[i].to_pydatetime(),
            [(ts.to_pydatetime(), s) for ts, s in zip(own["ts"], own["stage"], strict=True)],
            T.to_pydatetime(),
        )
        for name, values in batch.items():
            want, got = values[i], one[name]
            assert (isinstance(want, float) and math.isnan(want) and math.isnan(got)) or (
                want == got
            ), (lead, name, want, got)


def test_as_of_between_rows_sees_only_the_earlier_ones() -> None:
    frame = stage_rows(("a", "mql", "2025-05-01"), ("a", "disqualified", "2025-05-15"))
    row = state(frame, at("2025-05-10")).loc["a"]
    assert row["funnel_stage"] == "mql" and row["disqualified"] == 0


def test_service_request_stages_give_the_batch_features() -> None:
    """A JSON request with `stages` (parsed by the service's schema) gets, through the fast
    path, the funnel features the batch path computes from the stages table."""
    import json

    from scoring.features_fast import FastFeatures
    from serve.schemas import LeadInput

    frame = stage_rows(
        ("a", "mql", "2025-05-21 09:00:00.250"),
        ("a", "contacted", "2025-05-22 15:00"),
        ("a", "sql", "2025-06-20"),  # after T: ignored by both
    )
    lead = leads().iloc[0]
    body = {
        "lead": {"lead_id": "a", "created_at": lead["created_at"].isoformat()},
        "stages": [
            {"ts": ts.isoformat(), "stage": stage}
            for ts, stage in zip(frame["ts"], frame["stage"], strict=True)
        ],
        "as_of": T.isoformat(),
    }
    item = LeadInput.model_validate_json(json.dumps(body))
    fast = FastFeatures(params(), personas()).from_request(item.lead, [], T, item.stages)
    batch = build_features(leads().head(1), events().head(0), frame, T, personas(), params())
    for name in (*FUNNEL_NUMERIC, *FUNNEL_CATEGORICAL):
        assert fast[name] == batch.loc[0, name] or (
            isinstance(fast[name], float)
            and math.isnan(fast[name])
            and math.isnan(batch.loc[0, name])
        ), name
    assert fast["funnel_stage"] == "contacted"


def test_a_model_trained_before_funnel_state_is_served_without_it(tmp_path) -> None:
    from types import SimpleNamespace

    from foundation.params import FeatureParams
    from scoring.context import feature_inputs

    old = FeatureParams().model_dump(mode="json")
    old.pop("funnel_state")
    model = SimpleNamespace(
        metadata={"feature_params": old, "personas": personas().model_dump(mode="json")}
    )
    feature_params, _ = feature_inputs(model, tmp_path / "params.yaml", tmp_path / "p.yaml")
    assert feature_params.funnel_state is False
