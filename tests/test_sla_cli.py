"""`leadscore sla targets` through a real process, as a user or a script would call it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 60


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "sla", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def test_targets_from_figures_as_json() -> None:
    result = run(
        "targets",
        "--revenue-goal",
        "100000",
        "--avg-deal",
        "20000",
        "--close-rate",
        "0.05",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["customers_needed"] == 5
    assert out["leads_needed"] == 100
    assert out["lead_value_eur"] == 1000.0


def test_zero_close_rate_is_a_clear_error_with_exit_2() -> None:
    result = run("targets", "--revenue-goal", "100000", "--avg-deal", "20000", "--close-rate", "0")
    assert result.returncode == 2
    assert "close) rate must be above 0" in result.stderr
    assert "Traceback" not in result.stderr


def in_process(*args: str):
    """The same app in-process (CliRunner): cheaper for the error paths."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    return CliRunner().invoke(app, ["sla", *args])


def test_incomplete_figures_name_what_is_missing() -> None:
    result = in_process("targets", "--revenue-goal", "100000")
    assert result.exit_code == 2
    assert "missing --avg-deal, --close-rate" in result.output


def test_agreement_without_history_says_what_to_run(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(f"paths:\n  interim: {tmp_path / 'interim'}\n  sla: {ROOT / 'sla.yaml'}\n")
    result = in_process("targets", "--params", str(params))
    assert result.exit_code == 2
    assert "leadscore validate" in result.output
