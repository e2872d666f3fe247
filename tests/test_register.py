"""register refuses to extend an MLflow run the store does not have (a stage restored, not run)."""

from __future__ import annotations

import pytest

from models.tracking import configure_mlflow
from pipeline.register import StaleRunError, ensure_run_exists


def test_register_names_a_run_missing_from_the_tracking_store() -> None:
    configure_mlflow()
    with pytest.raises(StaleRunError, match=r"dvc repro --force train"):
        ensure_run_exists("0" * 32)


def test_register_accepts_a_run_the_store_has() -> None:
    import mlflow

    configure_mlflow("leadscore-test-register")
    with mlflow.start_run() as run:
        pass
    ensure_run_exists(run.info.run_id)
