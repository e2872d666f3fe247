"""Shared fixtures. The expensive one, `trained_project`, runs the real pipeline once per session:
a copy of this repository in a temporary folder, small params, real `dvc repro`, a real MLflow
SQLite store. Tests that need a trained, registered model use it instead of building their own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# Under CI every skip is a failure (tests/ci_skips.py); the checkout is left as it was found
# (tests/checkout_guard.py).
pytest_plugins = ["tests.ci_skips", "tests.checkout_guard"]

# Small but learnable: enough leads and months for a purged time split with real positives.
SMALL_PARAMS: dict[str, Any] = {
    "simulate": {"n_leads": 3000},
    "train": {"min_positives": 20, "lightgbm": {"n_estimators": 600}},
}
REPRO_TIMEOUT_S = 600
UNTRACKED_OUTPUTS = {"dvc.lock"}


@dataclass(frozen=True)
class Project:
    root: Path
    env: dict[str, str]
    tracking_uri: str
    repro_output: str

    @property
    def model_uri(self) -> str:
        return "models:/lead-propensity@champion"

    def run(self, *args: str, timeout: float = REPRO_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run a command in the project with its MLflow store; fail with its output if it fails."""
        done = subprocess.run(
            list(args), cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def project_files() -> list[str]:
    """Tracked files plus new ones git does not ignore: what a clean clone would hold."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    # dvc.lock stays out of git (it records this machine's MLflow run ids, so a fresh clone's
    # first repro would show it modified) but not ignored (`dvc metrics show` refuses an ignored
    # lock): leave the developer's own out of the copy, as a clone would.
    return [f for f in listed if (ROOT / f).is_file() and Path(f).name not in UNTRACKED_OUTPUTS]


def copy_project(dest: Path, params_override: dict[str, Any]) -> None:
    for name in project_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    (dest / "params.yaml").write_text(yaml.safe_dump(deep_merge(params, params_override)))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)


def store_env(uri: str) -> dict[str, str]:
    """Runs and registry in one store. Both named: `mlflow.set_registry_uri` (called by every
    in-process command, models/tracking.py) also writes MLFLOW_REGISTRY_URI into os.environ, and
    a child given only MLFLOW_TRACKING_URI would look for models in that other test's registry
    (`mlflow models serve`: "Registered Model with name=lead-propensity not found")."""
    return {"MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}


MLFLOW_SETTINGS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME")


@pytest.fixture(autouse=True)
def mlflow_settings_restored() -> Iterator[None]:
    """What one test's in-process MLflow calls write into os.environ ends with that test."""
    before = {name: os.environ.get(name) for name in MLFLOW_SETTINGS}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session", autouse=True)
def isolated_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """No test writes to the developer's ./mlflow.db or ./mlruns: the whole session gets its own
    store, and its artifacts go beside it. With a SQLite store MLflow puts a new experiment's
    artifacts under ./mlruns of the current directory unless told otherwise; the variable below is
    how `mlflow server --default-artifact-root` tells it (tests/checkout_guard.py would name any
    file that still lands in the checkout)."""
    folder = tmp_path_factory.mktemp("mlflow")
    settings = {
        **store_env(f"sqlite:///{folder / 'mlflow.db'}"),
        "_MLFLOW_SERVER_ARTIFACT_ROOT": str(folder / "artifacts"),
    }
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    yield settings["MLFLOW_TRACKING_URI"]
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The real pipeline (`dvc repro`) on small simulated data in a throwaway copy of the repo."""
    root = tmp_path_factory.mktemp("project")
    copy_project(root, SMALL_PARAMS)
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    env = {**os.environ, **store_env(tracking_uri)}
    done = subprocess.run(
        ["dvc", "repro"], cwd=root, env=env, capture_output=True, text=True, timeout=REPRO_TIMEOUT_S
    )
    if done.returncode != 0:
        raise AssertionError(f"dvc repro failed\n{done.stdout}\n{done.stderr}")
    return Project(root=root, env=env, tracking_uri=tracking_uri, repro_output=done.stdout)


def copy_of(project: Project, dest: Path) -> Project:
    """A private copy of a trained project (data, DVC state, MLflow store) for a test that
    changes it: the session's `trained_project` is read by many modules and must stay as built.
    The copy's store reads the run artifacts where the original logged them (outside both
    project folders, see `isolated_mlflow`) and logs new runs under new ids."""
    shutil.copytree(project.root, dest, symlinks=True, ignore=shutil.ignore_patterns("tmp"))
    tracking_uri = f"sqlite:///{dest / 'mlflow.db'}"
    env = {**project.env, **store_env(tracking_uri)}
    return Project(root=dest, env=env, tracking_uri=tracking_uri, repro_output="")
