"""The Dask engine gives the pandas engine's numbers on the default simulated data (params.yaml
as shipped: 6,000 leads), the issue's acceptance: validation (kept rows, quarantine, summary),
the training table and batch scores, each compared with `assert_frame_equal` after sorting by
their keys. The data is simulated, validated and featurised by pandas once per module, and one
two-worker LocalCluster serves the tests that pass an address. Scores use the session's trained
model (`trained_project`, trained on 3,000 leads): any model will do, the comparison is of the
engines. Also: a real `dask scheduler` + `dask worker` reached by address, and a failure on a
worker surfacing as the command's one-line error."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from foundation.io import read_json, read_table
from foundation.params import EngineParams, Params, load_params
from tests.live_server import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "validate"
TABLES = ("leads", "events", "stages")
SCORE_AS_OF = "2026-06-01T00:00:00Z"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """Two single-threaded worker processes, shared by the tests that pass an address."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def sort_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def pandas_run(tmp_path_factory) -> tuple[Params, Path]:
    """The default simulated export (params.yaml as shipped, only the paths moved) validated and
    featurised by the pandas engine: the reference."""
    from pipeline import features, simulate, validate

    root = tmp_path_factory.mktemp("pandas_run")
    shipped = load_params(PROJECT / "params.yaml")
    paths = {
        "raw": root / "raw",
        "truth": root / "truth",
        "interim": root / "interim",
        "features": root / "features",
        "personas": PROJECT / "personas.yaml",
    }
    params = shipped.model_copy(update={"paths": shipped.paths.model_copy(update=paths)})
    assert params.simulate.n_leads == 6000  # the default size the acceptance names
    simulate.main(params)
    add_export_noise(params.paths.raw)
    validate.main(params)
    features.main(params)
    return params, root


ROW_GROUP = 25_000


def add_export_noise(raw: Path) -> None:
    """Rows validation must quarantine, spread over the file (the simulator's own noise,
    duplicate events and missing firmographics, is all kept): repeated lead ids and leads
    without a creation time (their events follow them into quarantine), events of unknown leads
    or without a type, unknown funnel stages. Events and stages are rewritten in row groups of
    ROW_GROUP rows, so the Dask validation runs many tasks (one per row group)."""
    leads = pd.read_parquet(raw / "leads.parquet")
    leads.loc[leads.index[::500], "created_at"] = pd.NaT
    leads = pd.concat([leads, leads.iloc[7::600]], ignore_index=True)
    leads.to_parquet(raw / "leads.parquet", index=False)
    events = pd.read_parquet(raw / "events.parquet")
    events.loc[events.index[::997], "lead_id"] = "not-a-lead"
    events.loc[events.index[5::1009], "event_type"] = None
    events.to_parquet(raw / "events.parquet", index=False, row_group_size=ROW_GROUP)
    stages = pd.read_parquet(raw / "stages.parquet")
    stages.loc[stages.index[::101], "stage"] = "nurture"
    stages.to_parquet(raw / "stages.parquet", index=False, row_group_size=ROW_GROUP)
    assert pq.ParquetFile(raw / "events.parquet").metadata.num_row_groups > 3


@pytest.fixture(scope="module")
def dask_interim(pandas_run, cluster, tmp_path_factory) -> Path:
    from pipeline import validate as stage

    params, _ = pandas_run
    out = tmp_path_factory.mktemp("dask_interim")
    params = params.model_copy(update={"paths": params.paths.model_copy(update={"interim": out})})
    engine = EngineParams(kind="dask", scheduler=cluster)
    stage.main(params, engine=engine)
    return out


def test_dask_validation_equals_pandas_kept_quarantine_and_summary(pandas_run, dask_interim):
    _, root = pandas_run
    for table in TABLES:
        assert len(read_table(root / "interim" / "quarantine" / f"{table}.parquet")) > 10
        for sub in ("", "quarantine/"):
            expected = read_table(root / "interim" / f"{sub}{table}.parquet")
            got = read_table(dask_interim / f"{sub}{table}.parquet")
            pd.testing.assert_frame_equal(got, expected)
    expected = read_json(root / "interim" / "validation_summary.json")
    assert read_json(dask_interim / "validation_summary.json") == expected
    # One part per row group (stages are a single small one).
    assert len(list((dask_interim / "events.parquet").glob("part-*.parquet"))) > 3
    assert len(list((dask_interim / "stages.parquet").glob("part-*.parquet"))) == 1


def test_dask_training_table_equals_pandas_on_a_local_cluster(pandas_run, dask_interim, tmp_path):
    """No scheduler address: the command starts its own LocalCluster (2 workers here)."""
    from pipeline import features as stage

    params, root = pandas_run
    paths = params.paths.model_copy(
        update={"interim": dask_interim, "features": tmp_path / "features"}
    )
    params = params.model_copy(update={"paths": paths})
    summary = stage.main(params, engine=EngineParams(kind="dask", workers=2, partitions=3))
    keys = ["snapshot", "lead_id"]
    expected = sort_by(read_table(root / "features" / "training_table.parquet"), keys)
    got = sort_by(read_table(tmp_path / "features" / "training_table.parquet"), keys)
    assert len(expected) > 10_000
    pd.testing.assert_frame_equal(got, expected)
    assert summary == read_json(root / "features" / "summary.json")
    assert len(list((tmp_path / "features" / "training_table.parquet").glob("*.parquet"))) == 3
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == [
        "summary.json",
        "training_table.parquet",
    ]  # the lead-partitioned scratch copy is gone


def test_lead_partitions_keep_a_leads_rows_together_in_input_order(cluster, tmp_path):
    """Every part is written, empty or not; the i-th part of each table holds the same leads;
    each part comes back in file order."""
    import dask.dataframe as dd
    from distributed import Client

    from engine.partition import lead_partitions, read_partition

    ids = [f"L{i % 7}" for i in range(60)]
    tables = {
        "events": pd.DataFrame({"lead_id": ids, "n": range(60)}),
        "leads": pd.DataFrame({"lead_id": sorted(set(ids)), "n": range(7)}),
    }
    n = 12  # more partitions than leads: some parts are empty
    with Client(cluster) as client:
        for name, frame in tables.items():
            frame.to_parquet(tmp_path / f"{name}.parquet", index=False, row_group_size=10)
            source = dd.read_parquet(tmp_path / f"{name}.parquet")
            client.compute(lead_partitions(client, source, n, tmp_path / name), sync=True)
    for name, frame in tables.items():
        parts = [read_partition(tmp_path / name, i) for i in range(n)]
        assert any(len(p) == 0 for p in parts)
        for part in parts:
            assert part["n"].is_monotonic_increasing
        got = pd.concat(parts).sort_values("n", ignore_index=True)
        pd.testing.assert_frame_equal(got, frame.astype({"lead_id": "str"}))
    for i in range(n):
        events, leads = (read_partition(tmp_path / t, i) for t in ("events", "leads"))
        assert set(events["lead_id"]) == set(leads["lead_id"])


def test_dask_scores_equal_pandas_scores(
    pandas_run, trained_project, cluster, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.chdir(trained_project.root)
    interim = pandas_run[1] / "interim"  # validated: the raw export has repeated lead ids
    model = trained_project.root / "artifacts" / "train" / "model.joblib"
    base = [
        "score",
        str(interim / "leads.parquet"),
        "--events",
        str(interim / "events.parquet"),
        "--stages",
        str(interim / "stages.parquet"),
        "--as-of",
        SCORE_AS_OF,
        "--model",
        str(model),
    ]
    runner = CliRunner()
    done = runner.invoke(app, [*base, "--out", str(tmp_path / "pandas.parquet")])
    assert done.exit_code == 0, done.output
    done = runner.invoke(
        app, [*base, "--out", str(tmp_path / "dask.parquet"), "--scheduler", cluster]
    )
    assert done.exit_code == 0, done.output
    assert "engine dask" in done.output
    expected = sort_by(read_table(tmp_path / "pandas.parquet"), ["lead_id"])
    got = sort_by(read_table(tmp_path / "dask.parquet"), ["lead_id"])
    assert len(expected) > 1000
    pd.testing.assert_frame_equal(got, expected)
    assert expected["decision"].notna().all()


@pytest.fixture
def scheduler_and_worker() -> Iterator[str]:
    """A real `dask scheduler` and `dask worker` on loopback, as separate processes."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [str(Path(sys.executable).with_name("dask"))]  # the CLI installed with distributed
    procs = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        procs.append(
            subprocess.Popen(
                [
                    *dask,
                    "worker",
                    address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def validate_command(raw: Path, interim: Path, *extra: str) -> subprocess.CompletedProcess:
    params = interim.parent / f"{interim.name}.yaml"
    params.write_text(
        yaml.safe_dump(
            {"paths": {"interim": str(interim), "personas": str(PROJECT / "personas.yaml")}}
        )
    )
    return subprocess.run(
        ["leadscore", "validate", "--raw", str(raw), "--params", str(params), *extra],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=interim.parent,
    )


def test_validate_on_a_real_scheduler_by_address_and_worker_errors_surface(
    scheduler_and_worker, tmp_path
):
    done = validate_command(FIXTURES / "bad", tmp_path / "pandas")
    assert done.returncode == 0, done.stderr
    done = validate_command(
        FIXTURES / "bad", tmp_path / "dask", "--scheduler", scheduler_and_worker
    )
    assert done.returncode == 0, done.stderr
    assert "engine dask" in done.stdout
    for table in TABLES:
        for sub in ("", "quarantine/"):
            pd.testing.assert_frame_equal(
                read_table(tmp_path / "dask" / f"{sub}{table}.parquet"),
                read_table(tmp_path / "pandas" / f"{sub}{table}.parquet"),
            )

    # A block the worker cannot parse: its DataError comes back as the command's one line.
    raw = tmp_path / "broken"
    shutil.copytree(FIXTURES / "good", raw)
    with open(raw / "events.csv", "a") as out:
        out.write('L001,"2025-01-05T10:00:00Z,site_visit,\n')
    done = validate_command(raw, tmp_path / "broken_out", "--scheduler", scheduler_and_worker)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "events.csv" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    done = validate_command(FIXTURES / "good", tmp_path / "out", "--scheduler", address)
    assert done.returncode == 2
    assert f"cannot reach the Dask scheduler at {address}" in done.stderr
