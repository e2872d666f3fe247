"""Closed as duplicate, left out of the next retrain (issue 28, point 6): a rep's close on the
desk is exported from a real store (`leadscore db closes`), and the train stage, its baselines
and register drop those leads' rows from every snapshot (`train.exclude_leads`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from foundation.errors import ConfigError, DataError
from foundation.io import read_table, write_table
from foundation.params import Params, load_params
from models.exclusions import exclude_leads
from pipeline.cli import app
from pipeline.training_rows import excluded_lead_ids
from sales.actions import ActionRequest
from sales.service import act
from sla.sales_desk import SalesDesk
from store import RunRecord, Store
from tests.store_fixtures import pg_database, store_url

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

DESK = SalesDesk.model_validate(
    {"teams": {"growth": ["anna", "ben"]}, "default_team": "growth", "cadence": {"default": [24]}}
)
ROOT = Path(__file__).resolve().parents[1]
LEADS = ("L1", "L2", "L3", "L4", "L5")


def hand_over(store: Store, now: datetime) -> None:
    """One daily run that handed LEADS to sales a day before `now`."""
    run = RunRecord(now.date(), now, now, "lead-propensity", "1", 10.0, 5, 5, 5, 0, 0, {})
    scores = pd.DataFrame(
        {"lead_id": LEADS, "probability": 0.3, "score": 30, "decision": "mql", "tier": "A"}
    )
    handed = now - timedelta(days=1)
    handoff = pd.DataFrame(
        {
            "lead_id": LEADS,
            "handed_at": handed,
            "followup_deadline": handed + timedelta(hours=24),
            "payload": [{"lead_id": i, "tier": "A"} for i in LEADS],
        }
    )
    store.save_run(run, scores, handoff, None, [])


def close(store: Store, lead: str, rep: str, reason: str, at: datetime) -> None:
    """A rep's close, through the desk's own path (the API and the lead page call `act`)."""
    act(store, DESK, lead, ActionRequest(kind="closed", rep=rep, reason=reason), at, "dashboard")


def test_db_closes_exports_the_latest_close_of_each_lead_with_the_reason_asked(
    store_url: str, tmp_path: Path
) -> None:
    now = datetime(2026, 10, 5, 9, tzinfo=UTC)
    with Store.open(store_url) as store:
        hand_over(store, now)
        close(store, "L1", "anna", "duplicate", now)
        close(store, "L2", "ben", "not_a_fit", now)
        # A wrong reason corrected by closing again: the latest close is the rep's word.
        close(store, "L3", "anna", "duplicate", now + timedelta(minutes=1))
        close(store, "L3", "anna", "not_a_fit", now + timedelta(minutes=2))
        close(store, "L4", "ben", "no_budget", now + timedelta(minutes=1))
        close(store, "L4", "ben", "duplicate", now + timedelta(minutes=3))
        act(
            store,
            DESK,
            "L5",
            ActionRequest(kind="contacted", rep="anna", channel="phone"),
            now,
            "api",
        )
    out = tmp_path / "closes.csv"

    done = CliRunner().invoke(
        app, ["db", "closes", "--reason", "duplicate", "--out", str(out), "--db-url", store_url]
    )

    assert done.exit_code == 0, done.output
    assert "2 lead(s) with reason duplicate, of 4 closed lead(s)" in done.output
    written = read_table(out)
    assert list(written.columns) == ["lead_id", "reason", "closed_at", "by"]
    assert written.to_dict("records") == [
        {"lead_id": "L1", "reason": "duplicate", "closed_at": now.isoformat(), "by": "anna"},
        {
            "lead_id": "L4",
            "reason": "duplicate",
            "closed_at": (now + timedelta(minutes=3)).isoformat(),
            "by": "ben",
        },
    ]
    every = tmp_path / "all.csv"
    done = CliRunner().invoke(app, ["db", "closes", "--out", str(every), "--db-url", store_url])
    assert done.exit_code == 0, done.output
    assert read_table(every)[["lead_id", "reason"]].values.tolist() == [
        ["L1", "duplicate"],
        ["L2", "not_a_fit"],
        ["L3", "not_a_fit"],
        ["L4", "duplicate"],
    ]


def test_db_closes_refuses_a_missing_store_and_an_unknown_reason(tmp_path: Path) -> None:
    out = tmp_path / "closes.csv"
    missing = f"sqlite:///{tmp_path / 'nowhere.db'}"
    done = CliRunner().invoke(app, ["db", "closes", "--out", str(out), "--db-url", missing])
    assert done.exit_code == 2 and "no store at" in done.output
    assert not (tmp_path / "nowhere.db").exists() and not out.exists()

    with Store.open(f"sqlite:///{tmp_path / 'leadscore.db'}"):
        pass
    done = CliRunner().invoke(
        app,
        ["db", "closes", "--reason", "duplicat", "--out", str(out), "--db-url",
         f"sqlite:///{tmp_path / 'leadscore.db'}"],
    )  # fmt: skip
    assert done.exit_code == 2 and "--reason duplicat: not a close reason" in done.output
    assert not out.exists()


def test_exclusion_drops_exactly_the_listed_leads_rows_from_every_snapshot() -> None:
    snapshots = pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"], utc=True)
    table = pd.DataFrame(
        {
            "lead_id": ["A", "B", "C", "A", "B", "C", "B", "C"],
            "snapshot": snapshots[[0, 0, 0, 1, 1, 1, 2, 2]],
            "label": [0, 0, 1, 1, 0, 0, 0, 1],
        }
    )
    kept, exclusion = exclude_leads(table, ["A", "C", "Z"])
    assert kept["lead_id"].tolist() == ["B", "B", "B"]
    pd.testing.assert_frame_equal(kept, table[table["lead_id"] == "B"].reset_index(drop=True))
    assert (exclusion.listed, exclusion.leads, exclusion.rows) == (3, 2, 5)
    assert "1 listed lead(s) in no snapshot" in exclusion.describe()

    same, nothing = exclude_leads(table, [])
    pd.testing.assert_frame_equal(same, table)
    assert nothing.rows == 0


def test_the_exclusion_file_is_read_back_as_written_and_bad_ones_name_key_file_and_row(
    tmp_path: Path,
) -> None:
    formula = '=HYPERLINK("http://evil.example","x")'
    path = write_table(pd.DataFrame({"lead_id": ["00123", formula], "reason": "duplicate"}),
                       tmp_path / "closes.csv")  # fmt: skip
    assert {"00123", formula} <= set(excluded_lead_ids(path))

    with pytest.raises(ConfigError, match=r"train.exclude_leads: .*gone.csv: file not found"):
        excluded_lead_ids(tmp_path / "gone.csv")
    no_column = tmp_path / "ids.csv"
    no_column.write_text("id\nL1\n")
    with pytest.raises(DataError, match=r"ids.csv \(train.exclude_leads\): no `lead_id` column"):
        excluded_lead_ids(no_column)
    blank = tmp_path / "blank.csv"
    blank.write_text("lead_id,reason\nL1,duplicate\n,duplicate\n")
    with pytest.raises(DataError, match=r"blank.csv \(train.exclude_leads\) line 3: lead_id"):
        excluded_lead_ids(blank)


@pytest.fixture(scope="module")
def small_project(tmp_path_factory: pytest.TempPathFactory) -> Params:
    """A tiny simulated project (800 leads, 14 months) up to its training table: seconds."""
    from pipeline import features, simulate, validate

    root = tmp_path_factory.mktemp("project")
    shipped = load_params(ROOT / "params.yaml")
    paths = {name: root / name for name in ("raw", "truth", "interim", "features", "artifacts")} | {
        "personas": ROOT / "personas.yaml",
        "sla": ROOT / "sla.yaml",
    }
    params = shipped.model_copy(
        update={
            "paths": shipped.paths.model_copy(update=paths),
            "simulate": shipped.simulate.model_copy(update={"n_leads": 800, "months": 14}),
            "train": shipped.train.model_copy(
                update={
                    "min_positives": 5,
                    "lightgbm": shipped.train.lightgbm.model_copy(update={"n_estimators": 50}),
                }
            ),
        }
    )
    for stage in (simulate, validate, features):
        stage.main(params)
    return params


@pytest.mark.slow
def test_train_and_evaluate_leave_the_listed_leads_out_of_every_split(
    small_project: Params, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    from pipeline import evaluate, train

    table = read_table(small_project.paths.features / "training_table.parquet")
    # Leads of the test snapshot and of earlier ones: every split loses rows.
    last = table["snapshot"].max()
    listed = sorted(table.loc[table["snapshot"] == last, "lead_id"].unique()[:30])
    rows = int(table["lead_id"].isin(listed).sum())
    assert rows > len(listed)  # those leads are in several snapshots
    closes = write_table(
        pd.DataFrame({"lead_id": listed, "reason": "duplicate"}), tmp_path / "closes.csv"
    )
    params = small_project.model_copy(
        update={"train": small_project.train.model_copy(update={"exclude_leads": closes})}
    )

    run = train.main(params)
    results = evaluate.main(params)

    assert run["data"]["excluded_rows"] == rows and run["data"]["excluded_leads"] == 30
    assert run["data"]["rows"] == len(table) - rows
    predictions = read_table(params.paths.artifacts / "evaluate" / "test_predictions.parquet")
    assert not predictions["lead_id"].isin(listed).any()
    in_test = table[(table["snapshot"] == last) & ~table["lead_id"].isin(listed)]
    assert results["rows"] == len(predictions) == len(in_test)
    logged = MlflowClient().get_run(run["run_id"]).data.params
    assert logged["data.excluded_rows"] == str(rows)
    assert logged["train.exclude_leads"] == str(closes)

    # Exported again after train: evaluate would judge other rows than train's; it refuses.
    write_table(pd.DataFrame({"lead_id": listed[1:]}), closes)
    with pytest.raises(ConfigError, match="run `leadscore train` again"):
        evaluate.main(params)


def test_train_notes_when_dvc_would_not_retrain_on_a_new_export(tmp_path: Path) -> None:
    from models.exclusions import Exclusion
    from pipeline.training_rows import exclusion_lines

    closes = tmp_path / "closes.csv"
    params = Params().model_copy(
        update={"train": Params().train.model_copy(update={"exclude_leads": closes})}
    )
    dropped = Exclusion(listed=3, leads=2, rows=5)
    dvc = tmp_path / "dvc.yaml"
    dvc.write_text(yaml.safe_dump({"stages": {"train": {"deps": ["data/features"]}}}))
    lines = exclusion_lines(params, dropped, dvc)
    assert lines[0] == f"train.exclude_leads {closes}: excluded 5 row(s) of 2 lead(s) of the " \
        "3 listed (1 listed lead(s) in no snapshot)"  # fmt: skip
    assert "is not a dependency of the train stage" in lines[1]

    dvc.write_text(yaml.safe_dump({"stages": {"train": {"deps": ["data/features", str(closes)]}}}))
    assert len(exclusion_lines(params, dropped, dvc)) == 1
    assert exclusion_lines(Params(), None, dvc) == []
