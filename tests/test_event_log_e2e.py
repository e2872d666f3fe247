"""A log in a foreign vocabulary, end to end: `leadscore init`, `dvc repro`, `leadscore daily`.

The log (tests/foreign_log.py) shares no name with the simulator: other event names, other stage
names, a HubSpot-style stage date column, people exported twice. One project run (module scope,
about a minute on two cores) backs every assertion below.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features.build import build_features
from features.event_families import OTHER_FAMILY, family_slugs
from features.persona import load_personas
from foundation.params import FeatureParams
from tests.foreign_log import MAPPING, build_log

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2025-12-15"
TEST_PARAMS = '  last_snapshot: "2025-12-01"\n'


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADSCORE_DB_URL": f"sqlite:///{cwd}/ls.db"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the project's own ./mlflow.db, runs and registry
    env.pop("MLFLOW_REGISTRY_URI", None)
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dvc") is None and not Path(sys.executable).with_name("dvc").exists():
        pytest.fail("dvc is not installed")
    base = tmp_path_factory.mktemp("foreign")
    build_log(base / "exports")
    leadscore = str(Path(sys.executable).with_name("leadscore"))
    dvc = str(Path(sys.executable).with_name("dvc"))
    run([leadscore, "init", "project", "--data", "exports"], base)
    folder = base / "project"
    (folder / "mapping.yaml").write_text(MAPPING)
    params = (folder / "params.yaml").read_text()
    params = params.replace(
        "  min_positives: 50\n", "  min_positives: 10\n  lightgbm: {n_estimators: 150}\n"
    )
    params = params.replace("  funnel_state: true\n", "  funnel_state: true\n" + TEST_PARAMS)
    (folder / "params.yaml").write_text(params)
    run([dvc, "init", "--no-scm", "-q"], folder)
    run([dvc, "repro"], folder)
    run([leadscore, "daily", "--as-of", AS_OF], folder)
    return folder


def test_init_writes_a_project_that_names_the_exports_columns(project: Path) -> None:
    params = (project / "params.yaml").read_text()
    assert "raw: ../exports" in params
    assert (project / "dvc.yaml").exists() and (project / "sla.yaml").exists()


def test_mapped_events_land_in_their_canonical_families(project: Path) -> None:
    events = pd.read_parquet(project / "data/interim/events.parquet")
    source = pd.read_csv(project.parent / "exports/activity.csv.gz", dtype=str)
    counts = events["event_type"].value_counts()
    is_pricing = (source["activity"] == "Page view") & (source["url"] == "/pricing")
    assert counts["pricing_view"] == is_pricing.sum()
    assert counts["page_view"] == ((source["activity"] == "Page view") & ~is_pricing).sum()
    demo = (source["activity"] == "Form submission") & source["form"].str.contains("demo")
    assert counts["demo_request"] == demo.sum()
    assert counts["email_open"] == (source["activity"] == "Marketing email opened").sum()
    topics = events.loc[events["event_type"] == "page_view", "content_topic"].value_counts()
    assert topics["how_to"] == (source["url"] == "/blog/setup").sum()


def test_unmapped_types_get_features_of_their_own(project: Path) -> None:
    families = json.loads((project / "data/interim/event_families.json").read_text())
    assert families["families"] == ["invited_teammate", "created_project", OTHER_FAMILY]
    assert families["pooled_as_other"] == ["exported_report"]
    table = pd.read_parquet(project / "data/features/training_table.parquet")
    for slug in family_slugs(families["families"]).values():
        assert f"family_{slug}_30d" in table.columns
    assert table["family_invited_teammate_total"].sum() > 0
    importance = pd.read_csv(project / "artifacts/evaluate/feature_importance.csv")
    assert importance["feature"].str.startswith("family_invited_teammate").any()


def test_duplicate_contacts_are_one_lead(project: Path) -> None:
    leads = pd.read_parquet(project / "data/interim/leads.parquet")
    assert len(leads) == 700 and leads["lead_id"].is_unique
    assert not leads["lead_id"].str.startswith("D-").any()
    events = pd.read_parquet(project / "data/interim/events.parquet")
    assert not events["lead_id"].str.startswith("D-").any()
    source = pd.read_csv(project.parent / "exports/activity.csv.gz", dtype=str)
    moved = source["contact"].str.replace("D-", "C-").value_counts()
    assert (
        events["lead_id"]
        .value_counts()
        .sort_index()
        .equals(moved.sort_index().rename_axis("lead_id").rename("count"))
    )


def test_stage_names_and_date_columns_become_funnel_stages(project: Path) -> None:
    stages = pd.read_parquet(project / "data/interim/stages.parquet")
    lifecycle = pd.read_csv(project.parent / "exports/lifecycle.csv", dtype=str)
    counts = stages["stage"].value_counts()
    assert counts["mql"] == (lifecycle["lifecycle_stage"] == "Marketing Qualified").sum()
    assert counts["disqualified"] == (lifecycle["lifecycle_stage"] == "Closed Lost").sum()
    contacts = pd.read_csv(project.parent / "exports/contacts.csv", dtype=str)
    assert counts["customer"] == contacts["Became a customer date"].notna().sum()
    assert "Nurture" not in counts  # unmapped: ignore
    report = json.loads((project / "data/interim/mapping_report.json").read_text())
    assert (
        report["stage_rows_unmapped"]["Nurture"]
        == (lifecycle["lifecycle_stage"] == "Nurture").sum()
    )


def test_no_event_after_t_changes_a_feature_at_t_on_this_log(project: Path) -> None:
    interim = project / "data/interim"
    leads = pd.read_parquet(interim / "leads.parquet")
    events = pd.read_parquet(interim / "events.parquet")
    stages = pd.read_parquet(interim / "stages.parquet")
    families = tuple(json.loads((interim / "event_families.json").read_text())["families"])
    params = FeatureParams(event_families=families)
    personas = load_personas(interim / "personas.yaml")
    as_of = pd.Timestamp("2025-09-01", tz="UTC")
    before = build_features(leads, events, stages, as_of, personas, params)
    later = events.assign(ts=as_of + pd.Timedelta(seconds=1))
    after = build_features(leads, pd.concat([events, later]), stages, as_of, personas, params)
    pd.testing.assert_frame_equal(before, after)


def test_evaluate_compares_the_model_with_the_baselines(project: Path) -> None:
    metrics = json.loads((project / "artifacts/evaluate/metrics.json").read_text())
    text = json.dumps(metrics)
    assert "logistic" in text and "points" in text


def test_the_handoff_activity_and_reasons_use_the_sources_names(project: Path) -> None:
    runs = sorted((project / "artifacts/daily").glob("*/handoff.json"))
    assert runs, "leadscore daily wrote no hand-off"
    leads = json.loads(runs[-1].read_text())["leads"]
    assert leads, "the hand-off is empty"
    own_words = ("invited_teammate", "created_project")
    activity = [item["activity"] for item in leads]
    assert any(set(a.get("source_activity", {})) & set(own_words) for a in activity)
    assert any(any(w in a["activity"] for w in own_words) for a in activity)
    reasons = [r for item in leads for r in item["reasons"]]
    assert any(f"'{w}'" in r for r in reasons for w in own_words)
