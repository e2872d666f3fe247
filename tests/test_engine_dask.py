"""The Dask engine gives the pandas engine's numbers: validation (kept rows, quarantine,
summary), the training table and batch scores, on the small simulated project of
`trained_project` (3,000 leads, the conftest's SMALL_PARAMS: the default 6,000 would double the
time for no new path). Also: a real `dask scheduler` + `dask worker` reached by address, and a
failure on a worker surfacing as the command's one-line error."""

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
from foundation.params import EngineParams, Params
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
    """A small simulated export (3,000 leads, as the conftest's trained project) validated and
    featurised by the pandas engine: the reference."""
    from pipeline import features, simulate, validate

    root = tmp_path_factory.mktemp("pandas_run")
    params = Params.model_validate(
        {
            "paths": {
                "raw": str(root / "raw"),
                "truth": str(root / "truth"),
                "interim": str(root / "interim"),
                "features": str(root / "features"),
                "personas": str(PROJECT / "personas.yaml"),
            },
            "simulate": {"n_leads": 3000},
        }
    )
    simulate.main(params)
    validate.main(params)
    features.main(params)
    return params, root


@pytest.fixture(scope="module")
def raw_in_row_groups(pandas_run, tmp_path_factory) -> Path:
    """The export with events and stages cut into many small row groups, so the Dask validation
    really runs many tasks (the small export is one row group otherwise)."""
    _, root = pandas_run
    raw = tmp_path_factory.mktemp("raw")
    for path in (root / "raw").iterdir():
        shutil.copy(path, raw / path.name)
    for table in ("events", "stages"):
        pq.write_table(
            pq.read_table(root / "raw" / f"{table}.parquet"),
            raw / f"{table}.parquet",
            row_group_size=25_000,
        )
    assert pq.ParquetFile(raw / "events.parquet").metadata.num_row_groups > 3
    return raw


@pytest.fixture(scope="module")
def dask_interim(pandas_run, raw_in_row_groups, cluster, tmp_path_factory) -> Path:
    from pipeline import validate as stage

    params, _ = pandas_run
    out = tmp_path_factory.mktemp("dask_interim")
    params = params.model_copy(update={"paths": params.paths.model_copy(update={"interim": out})})
    engine = EngineParams(kind="dask", scheduler=cluster)
    stage.main(params, raw_dir=raw_in_row_groups, engine=engine)
    return out


def test_dask_validation_equals_pandas_kept_quarantine_and_summary(pandas_run, dask_interim):
    _, root = pandas_run
    for table in TABLES:
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
    assert len(expected) > 1000
    pd.testing.assert_frame_equal(got, expected)
    assert summary == read_json(root / "features" / "summary.json")
    assert len(list((tmp_path / "features" / "training_table.parquet").glob("*.parquet"))) == 3


def test_dask_scores_equal_pandas_scores(trained_project, cluster, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.chdir(trained_project.root)
    raw = trained_project.root / "data" / "raw"
    model = trained_project.root / "artifacts" / "train" / "model.joblib"
    base = [
        "score",
        str(raw / "leads.parquet"),
        "--events",
        str(raw / "events.parquet"),
        "--stages",
        str(raw / "stages.parquet"),
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
