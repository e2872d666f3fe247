"""MLflow set-up shared by every command that logs runs or touches the registry.

The default store is a SQLite file in the project: current MLflow refuses a plain file store
and a file store has no registry, while SQLite gives runs, registry and aliases with no server.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
TRACKING_ENV = "MLFLOW_TRACKING_URI"


def tracking_uri() -> str:
    return os.environ.get(TRACKING_ENV) or DEFAULT_TRACKING_URI


def configure_mlflow(experiment: str | None = None) -> str:
    """Point MLflow at the configured store (and experiment); return the tracking URI.

    MLflow is imported here, not at module import, so `leadscore --help` stays fast.
    """
    import mlflow

    # MLflow's SQLite migrations log at INFO on first use; a CLI user does not need them.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="mlflow")
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if experiment:
        mlflow.set_experiment(experiment)
    return uri


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params -> dotted keys, the shape MLflow's params table can show and compare."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def file_sha256(path: Path) -> str:
    """Content hash of a dataset file, logged so a run names exactly the data it saw. A folder
    of Parquet parts (a Dask-built table) hashes each part's name and bytes in name order."""
    digest = hashlib.sha256()
    path = Path(path)
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.name.encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def log_numeric_metrics(metrics: Mapping[str, Any], prefix: str = "") -> None:
    """Log the finite numbers of a (nested) metrics dict; skip text and NaN."""
    import math

    import mlflow

    clean = {
        key: float(value)
        for key, value in flatten(metrics, prefix).items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }
    mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in clean.items()})
