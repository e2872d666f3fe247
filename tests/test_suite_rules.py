"""The suite's own rules, pinned: under CI every skip is a failure (tests/ci_skips.py), and a
test that writes into the checkout fails the run (tests/checkout_guard.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SKIPPING = """
import pytest

absent = pytest.importorskip("a_module_nobody_installed")
"""

SKIPPING_AT_RUN_TIME = """
import pytest

def test_needs_a_server():
    pytest.skip("no server answers")

@pytest.mark.xfail(reason="a known gap", strict=True)
def test_known_gap():
    assert False
"""


def run_pytest(folder: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.ci_skips",
            "-p",
            "tests.checkout_guard",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--rootdir",
            str(folder),
            # Its own temp root: a session left to pytest's numbered folders would, on exit,
            # prune the oldest ones, which can be the running suite's own.
            "--basetemp",
            str(folder.parent / f"{folder.name}-basetemp"),
            str(folder),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_test(folder: Path, name: str, text: str) -> Path:
    folder.mkdir()
    (folder / name).write_text(text)
    return folder


def test_a_skip_at_run_time_fails_under_ci_naming_its_reason(tmp_path: Path) -> None:
    done = run_pytest(write_test(tmp_path / "suite", "test_run.py", SKIPPING_AT_RUN_TIME), "true")
    assert done.returncode == 1, done.stdout
    assert "1 failed, 1 xfailed" in done.stdout
    assert "under CI every skip is a failure" in done.stdout and "no server answers" in done.stdout


def test_a_skip_at_collection_fails_under_ci_naming_its_reason(tmp_path: Path) -> None:
    done = run_pytest(write_test(tmp_path / "suite", "test_import.py", SKIPPING), "1")
    assert done.returncode != 0, done.stdout
    assert "under CI every skip is a failure" in done.stdout
    assert "a_module_nobody_installed" in done.stdout


def test_without_ci_a_skip_stays_a_skip(tmp_path: Path) -> None:
    folder = write_test(tmp_path / "suite", "test_run.py", SKIPPING_AT_RUN_TIME)
    (folder / "test_import.py").write_text(SKIPPING)
    done = run_pytest(folder, None)
    assert done.returncode == 0, done.stdout
    assert "2 skipped, 1 xfailed" in done.stdout


WRITING = """
from pathlib import Path

def test_writes_next_to_itself():
    (Path(__file__).parent / "data" / "leads.parquet").write_text("oops")

def test_writes_in_its_own_tmp_path(tmp_path):
    (tmp_path / "fine.txt").write_text("fine")
"""


def test_a_test_that_writes_into_the_checkout_fails_the_run_naming_the_file(
    tmp_path: Path,
) -> None:
    folder = write_test(tmp_path / "suite", "test_write.py", WRITING)
    (folder / "data").mkdir()
    done = run_pytest(folder, None)
    assert done.returncode == 1, done.stdout
    assert "2 passed" in done.stdout
    assert "the tests changed the checkout" in done.stdout
    assert "created data/leads.parquet" in done.stdout


LEAKING = """
import os

from models.tracking import configure_mlflow


def test_1_an_in_process_command_points_mlflow_at_its_store(tmp_path):
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    configure_mlflow()
    # MLflow's own set_registry_uri writes the variable for child processes to inherit
    assert os.environ["MLFLOW_REGISTRY_URI"] == os.environ["MLFLOW_TRACKING_URI"]


def test_2_a_later_test_does_not_inherit_that_store():
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    assert "MLFLOW_TRACKING_URI" not in os.environ
"""


def test_mlflow_settings_made_in_process_end_with_their_test(tmp_path: Path) -> None:
    """A later fixture that copies os.environ into a child's environment (a trained project's,
    then `mlflow models serve`) must not carry an earlier test's registry: that order made
    `Registered Model ... not found` in two random-order runs."""
    folder = write_test(tmp_path / "suite", "test_leak.py", LEAKING)
    (folder / "conftest.py").write_text("from tests.conftest import mlflow_settings_restored\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW") and k != "CI"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--rootdir", str(folder), "--basetemp", str(tmp_path / "basetemp"), str(folder)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
