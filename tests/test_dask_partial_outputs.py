"""Outputs of the Dask engine are complete or refused (issue 31, finding 3): a validate whose
worker failed leaves its folder without the `_COMPLETE` marker, and `features` (pandas or Dask)
refuses it naming the stage to re-run, instead of building a table from the parts that were
written; `train` reads a training table the Dask engine built (a folder of parts)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from foundation.completion import COMPLETE, STARTED
from foundation.errors import DataError
from foundation.params import EngineParams, load_params
from tests.conftest import store_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "validate"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def small_params(root: Path, raw: Path, n_leads: int = 1500):
    shipped = load_params(PROJECT / "params.yaml")
    paths = {
        "raw": raw,
        "truth": root / "truth",
        "interim": root / "interim",
        "features": root / "features",
        "artifacts": root / "artifacts",
        "personas": PROJECT / "personas.yaml",
    }
    return shipped.model_copy(
        update={
            "paths": shipped.paths.model_copy(update=paths),
            "simulate": shipped.simulate.model_copy(update={"n_leads": n_leads}),
        }
    )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated export (1,500 leads), written once for the module."""
    from pipeline import simulate

    root = tmp_path_factory.mktemp("simulated")
    simulate.main(small_params(root, root / "raw"))
    return root / "raw"


def corrupt_row_group(path: Path, index: int) -> None:
    """Overwrite the data pages of one row group (the footer stays readable, so the file lists
    every row group and only the task reading that one fails, on its worker)."""
    meta = pq.ParquetFile(path).metadata.row_group(index)
    with open(path, "r+b") as handle:
        for c in range(meta.num_columns):
            column = meta.column(c)
            handle.seek(column.data_page_offset)
            handle.write(b"\xff" * min(64, column.total_compressed_size))


def test_a_dask_validate_stopped_half_way_is_refused_by_features(
    cluster: str, simulated: Path, tmp_path: Path
) -> None:
    from pipeline import features, validate

    raw = tmp_path / "raw"
    shutil.copytree(simulated, raw)
    events = pd.read_parquet(raw / "events.parquet")
    events.to_parquet(raw / "events.parquet", index=False, row_group_size=len(events) // 6 + 1)
    params = small_params(tmp_path, raw)
    engine = EngineParams(kind="dask", scheduler=cluster)
    validate.main(params, engine=engine)  # a complete run first: its folders are marked
    out = tmp_path / "interim" / "events.parquet"
    assert (out / COMPLETE).is_file() and not (out / STARTED).exists()

    corrupt_row_group(raw / "events.parquet", 5)  # the last task fails on its worker
    with pytest.raises(Exception):  # noqa: B017 (pyarrow's own error, from the worker)
        validate.main(params, engine=engine)
    written = list(out.glob("*.parquet"))
    assert 0 < len(written) < 6, "the other tasks wrote their parts: a partial table"
    assert not (out / COMPLETE).exists()

    for engine_kind in (None, engine):
        with pytest.raises(DataError) as refused:
            features.main(params, engine=engine_kind)
        message = str(refused.value)
        assert "events.parquet" in message and "`validate`" in message
        assert "leadscore validate" in message
    assert not (tmp_path / "features" / "training_table.parquet").exists()


def test_train_reads_a_training_table_the_dask_engine_built(
    cluster: str, simulated: Path, tmp_path: Path
) -> None:
    from pipeline import features, validate

    params = small_params(tmp_path, simulated)
    validate.main(params)
    features.main(params, engine=EngineParams(kind="dask", scheduler=cluster, partitions=2))
    table = tmp_path / "features" / "training_table.parquet"
    assert table.is_dir() and (table / COMPLETE).is_file()

    data = params.model_dump(mode="json")
    data["train"] = {**data["train"], "min_positives": 5}
    data["train"]["lightgbm"] = {**data["train"]["lightgbm"], "n_estimators": 50}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    env = {**os.environ, **store_env(f"sqlite:///{tmp_path / 'mlflow.db'}")}
    done = subprocess.run(
        ["leadscore", "train", "--params", str(tmp_path / "params.yaml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_failure_in_a_counting_pass_reads_as_the_documented_one_line(cluster: str) -> None:
    """A step's failure on the cluster names the step and the cause (and the workers' log
    tail), also in the small counting passes that used to surface Dask's own
    "FutureCancelledError ... already forgotten"."""
    import dask
    from distributed import Client

    from engine.cluster import compute_now, gather
    from foundation.errors import LeadscoreError

    def broken() -> int:
        raise ZeroDivisionError("division by zero on a worker")

    with Client(cluster) as client:
        with pytest.raises(LeadscoreError) as failed:
            compute_now(client, dask.delayed(broken)(), "counting rows per partition")
        assert str(failed.value).startswith("counting rows per partition failed on the Dask")
        assert "ZeroDivisionError" in str(failed.value)

        future = client.submit(time_sleep, 30, pure=False)
        future.cancel()
        with pytest.raises(LeadscoreError) as cancelled:
            gather(client, [future], "validating events")
        assert str(cancelled.value).startswith("validating events failed on the Dask cluster")
        assert "CancelledError" in str(cancelled.value)


def time_sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)
