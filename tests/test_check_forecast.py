"""The forecast promise CI checks after `dvc repro` (scripts/check_forecast.py): at least 5 of
the last 6 months inside the 90% interval, pooled realised / forecast within 0.8-1.2."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_forecast.py"


def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_forecast", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def month(name: str, expected: float, realised: int, low: int, high: int) -> dict[str, Any]:
    return {
        "month": name,
        "expected_sqls": expected,
        "realised": realised,
        "low": low,
        "high": high,
        "inside": low <= realised <= high,
    }


def report(months: list[dict[str, Any]], source: str = "auto") -> dict[str, Any]:
    return {"threshold": {"source": source}, "forecast_backtest": {"months": months}}


KEPT = [month(f"2026-0{i}", 20.0, 20 + (i % 3) - 1, 13, 27) for i in range(1, 7)]


def test_a_backtest_that_keeps_the_promise_passes() -> None:
    assert checker().broken_promises(report(KEPT)) == []


def test_two_months_outside_the_interval_break_it_naming_them() -> None:
    months = [*KEPT[:4], month("2026-05", 20.0, 30, 13, 27), month("2026-06", 20.0, 10, 13, 27)]
    (problem,) = checker().broken_promises(report(months))
    assert problem.startswith("4 of 6 months inside the interval, 5 needed")
    assert "2026-05 (realised 30, interval 13-27)" in problem and "2026-06" in problem


def test_a_pooled_ratio_out_of_band_breaks_it_even_with_every_month_inside() -> None:
    months = [month(f"2026-0{i}", 20.0, 26, 13, 27) for i in range(1, 7)]  # 1.30 pooled
    (problem,) = checker().broken_promises(report(months))
    assert "pooled realised / forecast 1.30" in problem and "outside 0.8-1.2" in problem


def test_too_few_months_or_a_fixed_threshold_break_it() -> None:
    problems = checker().broken_promises(report(KEPT[:3], source="sla.yaml"))
    assert any("not the auto one" in p for p in problems)
    assert any("3 complete months backtested, 6 needed" in p for p in problems)


def test_only_the_last_six_complete_months_count() -> None:
    open_month = {**month("2026-07", 20.0, 0, 13, 27), "realised": None}
    old_miss = month("2025-12", 20.0, 60, 13, 27)
    assert checker().broken_promises(report([old_miss, *KEPT, open_month])) == []


def test_the_script_exits_1_with_the_reason_and_0_when_kept(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(report([month(f"2026-0{i}", 20.0, 40, 13, 27) for i in range(1, 7)])))
    done = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and "forecast promise broken" in done.stderr
    good = tmp_path / "good.json"
    good.write_text(json.dumps(report(KEPT)))
    done = subprocess.run([sys.executable, str(SCRIPT), str(good)], capture_output=True, text=True)
    assert done.returncode == 0 and "forecast promise kept: 6 of 6 months" in done.stdout
