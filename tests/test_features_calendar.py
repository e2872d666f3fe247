"""Calendar features of T (features/calendar.py): off by default, the same for every lead of a
snapshot, equal in the service's single-lead path, readable as a reason, and left out of the
drift check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.build import build_features, feature_spec
from models.explain import describe
from tests.features_fixtures import T, at, events, leads, params, personas

CALENDAR = ("calendar_month_of_year", "calendar_day_of_week")


def test_calendar_features_are_off_by_default_so_existing_tables_keep_their_columns() -> None:
    columns = feature_spec(params()).columns
    assert not [c for c in columns if c.startswith("calendar_")]
    table = build_features(leads(), events(), None, T, personas(), params())
    assert not [c for c in table.columns if c.startswith("calendar_")]


def test_every_lead_of_a_snapshot_gets_the_month_and_weekday_of_t() -> None:
    chosen = params(calendar=("month_of_year", "day_of_week"))
    assert feature_spec(chosen).numeric[-2:] == CALENDAR
    table = build_features(leads(), events(), None, T, personas(), chosen)
    assert len(table) == 4  # lead d is created after T
    # 2025-06-01 is a Sunday (weekday 6) in June.
    assert table["calendar_month_of_year"].tolist() == [6.0] * 4
    assert table["calendar_day_of_week"].tolist() == [6.0] * 4
    later = build_features(leads(), events(), None, at("2025-12-03 23:30"), personas(), chosen)
    assert set(later["calendar_month_of_year"]) == {12.0}
    assert set(later["calendar_day_of_week"]) == {2.0}  # a Wednesday, read in UTC


def test_the_order_of_the_parts_is_the_order_of_the_columns() -> None:
    spec = feature_spec(params(calendar=("day_of_week", "month_of_year")))
    assert spec.numeric[-2:] == tuple(reversed(CALENDAR))


def test_a_repeated_or_unknown_calendar_part_is_refused() -> None:
    with pytest.raises(ValidationError, match="repeat"):
        params(calendar=("month_of_year", "month_of_year"))
    with pytest.raises(ValidationError, match="calendar"):
        params(calendar=("week_of_year",))


def test_the_service_single_lead_path_gives_the_batch_calendar_values() -> None:
    from scoring.features_fast import FastFeatures

    chosen = params(calendar=("month_of_year", "day_of_week"))
    batch = build_features(leads(), events(), None, T, personas(), chosen)
    fast = FastFeatures(chosen, personas())
    lead = leads().iloc[0]
    own = events()[events()["lead_id"] == lead["lead_id"]]
    rows = [
        (ts.to_pydatetime(), kind, topic)
        for ts, kind, topic in zip(own["ts"], own["event_type"], own["content_topic"], strict=True)
    ]
    one = fast.features(lead, rows, T.to_pydatetime())
    assert list(one) == list(feature_spec(chosen).columns)
    for name in CALENDAR:
        assert one[name] == batch.loc[0, name], name


def test_reasons_name_the_month_and_the_weekday() -> None:
    assert describe("calendar_month_of_year", 7.0) == "time of year: July"
    assert describe("calendar_day_of_week", 0.0) == "day of the week: Monday"
    assert describe("calendar_month_of_year", float("nan")) == "time of year: unknown"


@pytest.fixture(scope="module")
def quarterly_model() -> tuple[object, pd.DataFrame]:
    """A real LightGBM model trained on quarterly snapshots (months 1, 4, 7, 10) and its
    validation rows."""
    from foundation.params import TrainParams
    from models.propensity import fit_propensity

    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "lead_age_days": rng.uniform(0, 90, n),
            "calendar_month_of_year": rng.choice([1.0, 4.0, 7.0, 10.0], n),
            "channel": rng.choice(["a", "b"], n).astype(object),
        }
    )
    frame["label"] = (rng.uniform(size=n) < 0.2 + 0.05 * (frame["channel"] == "a")).astype(int)
    model, _ = fit_propensity(
        frame[:400],
        frame[400:],
        ["lead_age_days", "calendar_month_of_year"],
        ["channel"],
        "label",
        TrainParams(lightgbm={"n_estimators": 20}),
    )
    return model, frame[400:]


def test_the_drift_reference_leaves_calendar_features_out(quarterly_model) -> None:
    """A day's scores all share one month: comparing that with the training spread over the
    year would raise a drift warning every day."""
    from foundation.params import Params
    from pipeline.train import training_reference

    model, valid = quarterly_model
    spec = type(feature_spec(params()))(
        numeric=("lead_age_days", "calendar_month_of_year"), categorical=("channel",)
    )
    profile = training_reference(model, valid, spec, Params())
    assert "lead_age_days" in profile["features"] and "channel" in profile["features"]
    assert "calendar_month_of_year" not in profile["features"]


def test_a_month_training_never_saw_is_scored_and_flagged_out_of_range(quarterly_model) -> None:
    from scoring.ranges import FeatureBounds

    model, _ = quarterly_model
    bounds = FeatureBounds.of(model)
    rows = np.array([[10.0, 10.0, 0.0], [10.0, 12.0, 0.0]])  # age, month, channel code
    assert bounds.impossible(rows) == {}
    assert [list(r) for r in bounds.out_of_range(rows)] == [[], ["calendar_month_of_year"]]
