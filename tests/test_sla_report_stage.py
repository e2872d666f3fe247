"""The `sla_report` stage end to end on simulated history with a tiny model fitted here."""

from __future__ import annotations

import shutil
from pathlib import Path

import joblib
import pandas as pd
import pyarrow as pa
import pytest

from features.build import build_features, feature_spec
from features.persona import load_personas
from foundation.io import read_json
from foundation.params import (
    FeatureParams,
    LightGBMParams,
    Params,
    PathParams,
    SimulateParams,
    TrainParams,
)
from pipeline.simulator import simulate
from pipeline.sla_report import main
from sla.report import first_sql_at, open_at

ROOT = Path(__file__).resolve().parents[1]
HORIZON_DAYS = 60
TINY = TrainParams(
    min_positives=1,
    calibration="sigmoid",
    lightgbm=LightGBMParams(n_estimators=30, early_stopping_rounds=10, min_child_samples=20),
)


def labelled(leads, events, stages, personas, as_of: pd.Timestamp) -> pd.DataFrame:
    rows = build_features(leads, events, stages, as_of, personas, FeatureParams())
    rows = rows[open_at(rows["lead_id"], stages, as_of).to_numpy()]
    sql = rows["lead_id"].map(first_sql_at(stages))
    until = as_of + pd.Timedelta(days=HORIZON_DAYS)
    return rows.assign(label=((sql > as_of) & (sql <= until)).astype("int64"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Params:
    from models.propensity import fit_propensity

    root = tmp_path_factory.mktemp("sla_stage")
    personas = load_personas(ROOT / "personas.yaml")
    chunks = list(simulate(SimulateParams(seed=5, n_leads=1_000, months=12), personas))
    interim = root / "interim"
    interim.mkdir()
    tables = {}
    for name in ("leads", "events", "stages"):
        tables[name] = pa.concat_tables([getattr(c, name) for c in chunks]).to_pandas()
        tables[name].to_parquet(interim / f"{name}.parquet", index=False)
    shutil.copyfile(ROOT / "personas.yaml", interim / "personas.yaml")
    shutil.copyfile(ROOT / "sla.yaml", root / "sla.yaml")

    snapshots = pd.date_range("2025-05-01", "2025-09-01", freq="MS", tz="UTC")
    parts = [labelled(*tables.values(), personas, t) for t in snapshots]
    spec = feature_spec(FeatureParams())
    model, _ = fit_propensity(
        pd.concat(parts[:-1]), parts[-1], spec.numeric, spec.categorical, "label", TINY
    )
    (root / "artifacts" / "train").mkdir(parents=True)
    joblib.dump(model, root / "artifacts" / "train" / "model.joblib")
    paths = PathParams(
        interim=interim, artifacts=root / "artifacts", personas=interim / "personas.yaml"
    )
    return Params(paths=paths.model_copy(update={"sla": root / "sla.yaml"}))


@pytest.fixture(scope="module")
def report(project: Params) -> dict:
    return main(project)


def test_stage_writes_the_report_files(project: Params, report: dict) -> None:
    out = project.paths.artifacts / "sla"
    for name in ("report.json", "report.csv", "threshold.json", "speed_to_lead.csv"):
        assert (out / name).stat().st_size > 0, name
    for png in ("mqls_vs_target", "follow_up", "speed_to_lead", "personas_latest", "threshold"):
        assert (out / f"{png}.png").read_bytes()[:4] == b"\x89PNG", png
    assert report["mlflow"] == {"logged": False, "reason": report["mlflow"]["reason"]}


def test_json_and_csv_hold_the_same_table(project: Params, report: dict) -> None:
    out = project.paths.artifacts / "sla"
    csv = pd.read_csv(out / "report.csv", keep_default_na=False, na_values=[""])
    saved = pd.DataFrame(read_json(out / "report.json")["monthly"])
    assert len(csv) == len(saved) == len(report["monthly"])
    pd.testing.assert_series_equal(csv["mqls"], saved["mqls"])
    assert report["latest"]["month"] == report["months"][-1]


def test_auto_threshold_fits_capacity_and_the_backtest_uses_it(report: dict) -> None:
    threshold, bt = report["threshold"], report["backtest"]
    assert threshold["source"] == "auto"
    assert threshold["expected_mqls"] <= threshold["capacity"]
    assert bt["threshold"] == threshold["threshold"]
    assert bt["selected"] == threshold["expected_mqls"]  # same leads, same rule
    assert sum(bt["decisions"].values()) == bt["leads_scored"]
    assert 0 <= bt["became_sql"] <= bt["selected"]
