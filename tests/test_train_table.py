"""Bring your own CRM export: mapping validation, leakage audit, and the real X Education data.

The fast tests use small synthetic tables written to tmp_path; the slow ones run the command on
the public X Education export with a real MLflow SQLite store (no mocks).
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from features.table_mapping import (
    TableMapping,
    TableSpec,
    features_for_scoring,
    load_mapping,
    prepare_table,
)
from foundation.errors import ConfigError, DataError, InsufficientDataError
from foundation.io import read_table
from models.leakage import LeakageError, LeakageParams, audit_leakage
from models.metrics import roc_auc
from pipeline.cli import app
from pipeline.train_table import main, train_table
from pipeline.train_table_cv import cv_folds

ROOT = Path(__file__).resolve().parents[1]
X_EDUCATION = ROOT.parent / "shared" / "data" / "x_education" / "Leads.csv"
X_MAPPING = ROOT / "configs" / "x_education.yaml"
POST_CONTACT = (
    "Tags",
    "Lead Quality",
    "Lead Profile",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
    "Last Notable Activity",
)
needs_x_education = pytest.mark.skipif(not X_EDUCATION.exists(), reason="X Education data absent")


def crm_export(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A small export as a CRM writes it: text everywhere, a form default, a post-contact status."""
    rng = np.random.default_rng(seed)
    visits = rng.poisson(3, n)
    source = rng.choice(["Google", "Direct", "Referral"], n)
    logit = -1.5 + 0.5 * visits + np.where(source == "Referral", 1.0, 0.0)
    converted = rng.random(n) < 1 / (1 + np.exp(-logit))
    status = np.where(converted, "Closed won", rng.choice(["Ringing", "Lost"], n))
    status = np.where(rng.random(n) < 0.03, "Ringing", status)  # nearly, not exactly, the label
    return pd.DataFrame(
        {
            "Lead ID": [f"L{i:05d}" for i in range(n)],
            "Created": pd.date_range("2025-01-01", periods=n, freq="6h").strftime("%Y-%m-%d %H:%M"),
            "Visits": visits.astype(str),
            "Source": source,
            "Role": rng.choice(["Select", "Student", "Professional"], n),
            "Newsletter": rng.choice(["Yes", "No"], n),
            "Magazine": "No",
            "Sales Status": status,
            "Won": np.where(converted, "yes", "no"),
        }
    )


BASE_MAPPING = {
    "id": "Lead ID",
    "label": "Won",
    "positive": ["yes"],
    "exclude": ["Created"],
    "na_values": ["Select"],
}


# Few trees and folds: these tests check the command's behaviour, not the model's quality.
QUICK = {
    "train": {"lightgbm": {"n_estimators": 50, "early_stopping_rounds": 10}},
    "evaluation": {"folds": 2},
}


def write(tmp_path: Path, df: pd.DataFrame, mapping: dict) -> tuple[Path, Path]:
    data, spec = tmp_path / "leads.csv", tmp_path / "mapping.yaml"
    df.to_csv(data, index=False)
    spec.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return data, spec


def prepared(df: pd.DataFrame, **overrides):
    return prepare_table(df, TableMapping.model_validate(BASE_MAPPING | overrides), "leads.csv")


# --- mapping and validation -------------------------------------------------------------------


def test_types_are_inferred_and_form_defaults_are_missing() -> None:
    table = prepared(crm_export().astype(str))
    assert table.spec.numeric == ("Visits",)
    assert table.spec.boolean == ("Newsletter",)
    assert set(table.spec.categorical) == {"Source", "Role", "Sales Status"}
    assert table.frame["Role"].isin(["Select"]).sum() == 0
    assert table.frame["Role"].isna().any()
    assert set(table.frame["Newsletter"].unique()) == {0.0, 1.0}
    assert table.dropped["Magazine"].startswith("constant")
    assert table.dropped["Created"] == "excluded by the mapping"
    assert set(np.unique(table.y)) == {0, 1}


def test_explicit_types_win_and_infer_false_uses_only_listed() -> None:
    table = prepared(crm_export(), categorical=["Visits"], infer=False)
    assert table.spec.categorical == ("Visits",)
    assert table.spec.numeric == () and table.spec.boolean == ()
    assert "not listed" in table.dropped["Source"]


def test_identifier_like_text_is_not_a_feature() -> None:
    df = crm_export().assign(Email=lambda d: d["Lead ID"] + "@example.com")
    table = prepared(df)
    assert "identifier" in table.dropped["Email"]


def test_unknown_column_is_named_with_a_suggestion() -> None:
    with pytest.raises(
        ConfigError, match=r"exclude: column 'Sales status'.*did you mean 'Sales Status'"
    ):
        prepared(crm_export(), exclude=["Created", "Sales status"])


def test_label_with_a_single_class_is_refused() -> None:
    with pytest.raises(InsufficientDataError, match=r"'Won' has a single class.*values seen"):
        prepared(crm_export(), positive=["converted"])  # no row says "converted"


def test_no_usable_feature_is_refused() -> None:
    df = crm_export()
    features = ["Visits", "Source", "Role", "Newsletter", "Sales Status", "Created"]
    with pytest.raises(ConfigError, match="no usable feature"):
        prepared(df, exclude=features)


def test_a_column_in_two_roles_is_refused(tmp_path: Path) -> None:
    _, spec = write(tmp_path, crm_export(), BASE_MAPPING | {"numeric": ["Won"]})
    with pytest.raises(ConfigError, match="one role only"):
        load_mapping(spec)


def test_typo_in_mapping_key_is_named(tmp_path: Path) -> None:
    _, spec = write(tmp_path, crm_export(), BASE_MAPPING | {"exlude": ["Created"]})
    with pytest.raises(ConfigError, match="exlude: unknown key"):
        load_mapping(spec)


def test_text_in_a_numeric_column_names_column_and_row() -> None:
    df = crm_export()
    df.loc[4, "Visits"] = "lots"
    with pytest.raises(DataError, match=r"'Visits'.*data row 5.*'lots'"):
        prepared(df, numeric=["Visits"])


def test_duplicate_ids_are_refused() -> None:
    df = crm_export()
    df.loc[1, "Lead ID"] = df.loc[0, "Lead ID"]
    with pytest.raises(DataError, match="'Lead ID' must be unique"):
        prepared(df)


def test_scoring_conversion_equals_training_conversion() -> None:
    df = crm_export()
    table = prepared(df)
    spec = TableSpec.from_dict(json.loads(json.dumps(table.spec.as_dict())))
    new = features_for_scoring(df.drop(columns=["Won"]), spec)
    columns = [*table.spec.model_numeric, *table.spec.categorical]
    pd.testing.assert_frame_equal(new[columns], table.frame[columns])


def test_time_folds_never_train_on_the_future() -> None:
    table = prepared(crm_export(), exclude=[], time="Created")
    times = table.frame["Created"].to_numpy()
    folds = list(cv_folds(table, 5, seed=0))
    assert len(folds) == 5
    for fold in folds:
        assert times[fold.train].max() < times[fold.test].min()


# --- leakage audit ----------------------------------------------------------------------------


def test_audit_flags_a_column_that_decides_the_label_and_one_missing_by_class() -> None:
    df = crm_export(2000, seed=1)
    won = df["Won"] == "yes"
    df["Call notes"] = np.where(won | (np.arange(len(df)) % 10 == 0), "called", None)
    table = prepared(df)
    report = audit_leakage(
        table.frame, table.y, table.spec.model_numeric, table.spec.categorical, LeakageParams()
    ).set_index("column")
    assert report.loc["Sales Status", "flagged"]
    assert report.loc["Sales Status", "auc"] >= 0.95
    assert report.loc["Call notes", "flagged"]
    assert "missing for 0% of positives" in report.loc["Call notes", "reason"]
    assert not report.loc["Visits", "flagged"] and not report.loc["Source", "flagged"]
    assert 0.5 < report.loc["Visits", "auc"] < 0.95


def test_strict_refuses_and_names_the_column(tmp_path: Path) -> None:
    data, spec = write(tmp_path, crm_export(), BASE_MAPPING)
    with pytest.raises(LeakageError, match=r"Sales Status: alone it reaches AUC"):
        train_table(data, spec, strict=True, artifacts=tmp_path / "artifacts", log=False)


def test_reviewed_columns_are_reported_but_not_refused(tmp_path: Path) -> None:
    mapping = BASE_MAPPING | {"leakage": {"reviewed": ["Sales Status"]}} | QUICK
    data, spec = write(tmp_path, crm_export(), mapping)
    result = train_table(data, spec, strict=True, artifacts=tmp_path / "artifacts", log=False)
    assert result["leakage"]["unreviewed"] == []
    assert any("Sales Status" in line for line in result["leakage"]["flagged"])


def test_cli_bad_mapping_is_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    data, spec = write(tmp_path, crm_export(), BASE_MAPPING | {"label": "Wonn"})
    result = CliRunner().invoke(app, ["train-table", str(data), "--mapping", str(spec)])
    assert result.exit_code == 2
    assert "label: column 'Wonn' is not in the table (did you mean 'Won'?)" in result.output
    assert "Traceback" not in result.output


# --- the real X Education export ---------------------------------------------------------------


@pytest.mark.slow
@needs_x_education
def test_x_education_audit_flags_tags_and_lead_quality_when_not_excluded() -> None:
    mapping = TableMapping(
        id="Prospect ID",
        label="Converted",
        positive=(1,),
        exclude=("Lead Number",),
        na_values=("Select",),
    )
    table = prepare_table(read_table(X_EDUCATION), mapping, X_EDUCATION.name)
    report = audit_leakage(
        table.frame, table.y, table.spec.model_numeric, table.spec.categorical, mapping.leakage
    ).set_index("column")
    assert report.loc["Tags", "flagged"] and report.loc["Lead Quality", "flagged"]
    assert report.loc["Tags", "auc_present"] >= 0.95
    assert report.loc["Lead Quality", "missing_gap"] <= -0.3
    # the behaviour columns a model should use are not flagged
    for column in ("Total Time Spent on Website", "TotalVisits", "Lead Source"):
        assert not report.loc[column, "flagged"], column


@pytest.mark.slow
@needs_x_education
def test_x_education_strict_refuses_a_mapping_that_keeps_post_contact_columns(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(
        yaml.safe_dump(
            {"id": "Prospect ID", "label": "Converted", "positive": [1], "na_values": ["Select"]}
        )
    )
    result = CliRunner().invoke(
        app, ["train-table", str(X_EDUCATION), "--mapping", str(leaky), "--strict"]
    )
    assert result.exit_code == 2
    assert "Tags: where filled in" in result.output and "Lead Quality: missing" in result.output
    assert not (tmp_path / "artifacts").exists()  # refused before training


@pytest.mark.slow
@needs_x_education
def test_x_education_model_beats_logistic_and_is_registered(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    main(X_EDUCATION, X_MAPPING, strict=True, as_json=True)
    result = json.loads(capsys.readouterr().out)

    model, baseline = result["model"], result["baseline"]
    assert model["auc_mean"] >= 0.90
    assert model["auc_mean"] > baseline["auc_mean"]
    assert 0 < model["auc_std"] < 0.05 and 0 < baseline["auc_std"] < 0.05
    assert model["ece_mean"] < 0.05
    used = {c for kind in result["features"].values() for c in kind}
    assert used.isdisjoint(POST_CONTACT)

    # registered under its own name; the first version is champion
    from models.registry import load_lead_model

    loaded = load_lead_model("models:/x-education-leads@champion")
    lead_model = loaded.model
    assert lead_model.metadata["id_column"] == "Prospect ID"
    assert result["mlflow"]["aliases"] == ["challenger", "champion"]

    # the saved joblib scores a raw export the same way
    saved = joblib.load(tmp_path / result["model_path"])
    raw = read_table(X_EDUCATION).head(200)
    spec = TableSpec.from_dict(saved.metadata["table_spec"])
    p = saved.predict_proba(features_for_scoring(raw, spec))
    np.testing.assert_array_equal(p, lead_model.predict_proba(features_for_scoring(raw, spec)))
    assert roc_auc(raw["Converted"].astype(int), p) > 0.85


def test_time_column_switches_to_forward_chaining(tmp_path: Path) -> None:
    mapping = BASE_MAPPING | {"exclude": ["Sales Status"], "time": "Created"} | QUICK
    data, spec = write(tmp_path, crm_export(), mapping)
    result = train_table(data, spec, artifacts=tmp_path / "artifacts", log=False)
    assert result["evaluation"] == "2-fold forward-chaining by Created"
    assert [f["train_rows"] for f in result["folds"]] == [200, 400]
    assert {"auc_mean", "auc_std"} <= result["model"].keys() & result["baseline"].keys()
    saved = joblib.load(result["model_path"])
    assert saved.metadata["id_column"] == "Lead ID"
    assert "Created" not in saved.feature_names
