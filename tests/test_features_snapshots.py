"""The training table's leakage rules: who is in a snapshot, what the label may look at, and
which snapshots are too recent to train on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.build import feature_spec
from features.snapshots import (
    snapshot_dates,
    stages_at_or_beyond,
    summarise,
    training_table,
)
from foundation.io import write_table
from foundation.params import Params
from tests.features_fixtures import T, at, events, leads, params, personas

JUNE = T  # 2025-06-01


def table_for(stage_frame: pd.DataFrame, **overrides) -> pd.DataFrame:
    settings = {"first_snapshot": JUNE.date(), "last_snapshot": JUNE.date(), **overrides}
    settings.setdefault("data_end", at("2025-12-31"))
    result = training_table(leads(), events(), stage_frame, personas(), params(**settings))
    return result.table


def stages_of(*rows: tuple[str, str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["lead_id", "stage", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


def test_target_stage_includes_later_funnel_stages_not_disqualified():
    assert stages_at_or_beyond("sql") == ("sql", "opportunity", "customer")
    assert stages_at_or_beyond("customer") == ("customer",)


def test_lead_already_at_or_beyond_target_stage_is_excluded():
    frame = stages_of(
        ("a", "sql", "2025-06-01 00:00:00"),  # reached exactly at T: already there
        ("b", "opportunity", "2025-05-01"),  # beyond sql, sql step never logged
        ("c", "disqualified", "2025-05-26"),  # disqualified is not past sql: stays eligible
    )
    table = table_for(frame)
    assert set(table["lead_id"]) == {"c", "e"}  # d was created after T


def test_lead_created_after_snapshot_is_absent():
    assert "d" not in set(table_for(stages_of())["lead_id"])


@pytest.mark.parametrize(
    ("reached", "label"),
    [
        ("2025-06-01 00:00:01", 1),  # just after T
        ("2025-07-31 00:00:00", 1),  # T + 60 days exactly: last moment of the horizon
        ("2025-07-31 00:00:01", 0),  # just after the horizon
        ("2025-11-01 00:00:00", 0),  # much later
    ],
)
def test_label_looks_only_at_the_horizon(reached, label):
    table = table_for(stages_of(("a", "sql", reached)), horizon_days=60)
    assert table.set_index("lead_id").loc["a", "label"] == label


@pytest.mark.parametrize(
    ("reached", "label_month"),
    [
        ("2025-06-01 00:00:01", 1),  # just after T
        ("2025-06-30 23:59:59", 1),  # the last second of T's calendar month
        ("2025-07-01 00:00:00", 0),  # next month's SQL: counted there, not here
    ],
)
def test_month_label_counts_the_snapshots_calendar_month(reached, label_month):
    table = table_for(stages_of(("a", "sql", reached)), horizon_days=60)
    assert table.set_index("lead_id").loc["a", "label_month"] == label_month


def test_target_customer_labels_customers_only():
    frame = stages_of(("a", "sql", "2025-06-10"), ("c", "customer", "2025-07-01"))
    table = table_for(frame, target_stage="customer").set_index("lead_id")
    assert table.loc["a", "label"] == 0 and table.loc["c", "label"] == 1


def test_incomplete_horizon_is_left_out_but_reported():
    frame = stages_of(("a", "sql", "2025-06-10"))
    p = params(
        first_snapshot=at("2025-05-01").date(),
        last_snapshot=None,
        horizon_days=60,
        data_end=at("2025-07-15"),
    )
    result = training_table(leads(), events(), frame, personas(), p)
    # Snapshots May, June, July; only May's horizon (to 2025-06-30) ends by 2025-07-15.
    assert [s.date().isoformat() for s in result.snapshots["snapshot"]] == [
        "2025-05-01",
        "2025-06-01",
        "2025-07-01",
    ]
    assert list(result.snapshots["horizon_complete"]) == [True, False, False]
    assert set(result.table["snapshot"]) == {at("2025-05-01")}
    summary = summarise(result, p)
    assert summary["snapshots"][1]["positive_rate"] is None
    assert summary["totals"]["snapshots_in_table"] == 1


def test_data_end_defaults_to_latest_event_or_stage():
    frame = stages_of(("a", "sql", "2025-09-15"))
    p = params(first_snapshot=at("2025-05-01").date(), horizon_days=60)
    result = training_table(leads(), events(), frame, personas(), p)
    assert result.data_end == at("2025-09-15")
    assert result.snapshots["snapshot"].iloc[-1] == at("2025-09-01")  # latest month start
    complete = result.snapshots.set_index("snapshot")["horizon_complete"]
    assert complete[at("2025-07-01")] and not complete[at("2025-08-01")]


def test_snapshot_dates_are_month_starts():
    dates = snapshot_dates(at("2025-01-15").date(), None, at("2025-04-20 13:00"))
    assert [d.date().isoformat() for d in dates] == [
        "2025-01-01",
        "2025-02-01",
        "2025-03-01",
        "2025-04-01",
    ]


def test_table_columns_and_label_dtype():
    table = table_for(stages_of(("a", "sql", "2025-06-10")))
    columns = ["lead_id", "snapshot", "label", "label_month", *feature_spec(params()).columns]
    assert list(table.columns) == columns
    assert table["label_month"].dtype == np.int8
    assert table["label"].dtype == np.int8


def test_features_in_table_equal_build_features_at_the_snapshot():
    from features.build import build_features

    stage_frame = stages_of()
    table = table_for(stage_frame).drop(columns=["snapshot", "label", "label_month"])
    direct = build_features(leads(), events(), stage_frame, JUNE, personas(), params())
    direct = direct[direct["lead_id"].isin(table["lead_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(table, direct)


def test_stage_writes_table_and_summary(tmp_path, capsys):
    from pipeline import features as stage

    interim = tmp_path / "interim"
    for name, frame in {"leads": leads(), "events": events(), "stages": stages_of()}.items():
        write_table(frame, interim / f"{name}.parquet")
    (interim / "personas.yaml").write_text(Path("personas.yaml").read_text())
    params_ = Params.model_validate(
        {
            "paths": {"interim": str(interim), "features": str(tmp_path / "features")},
            "features": {"first_snapshot": "2025-05-01", "data_end": "2025-12-31"},
        }
    )
    summary = stage.main(params_)
    table = pd.read_parquet(tmp_path / "features" / "training_table.parquet")
    on_disk = json.loads((tmp_path / "features" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert on_disk["totals"]["rows"] == len(table)
    assert "2025-05-01" in capsys.readouterr().out
