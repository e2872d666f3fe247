"""The SQL forecast's promise, checked on the default data after `dvc repro` (CI runs it).

The SLA report backtests the `auto` threshold's month forecast on the last complete months:
how many SQLs the leads it selects (plus the month's new arrivals) should give, with a 90%
interval, against what happened. The promise made in the docs (docs/data-scientist.md, "SQL
forecast") is that at least 5 of the last 6 months fall inside the interval and that, pooled
over those months, realised / forecast is within 0.8-1.2. A unit test cannot hold it: only the
full default data has enough SQLs a month for the figures to mean anything, so this script reads
the report `dvc repro` wrote and exits 1, naming each broken part, when the promise is not kept.

    python scripts/check_forecast.py [artifacts/sla/report.json]

Standard library only, so it runs wherever the report is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPORT = Path("artifacts/sla/report.json")
MONTHS = 6
MIN_INSIDE = 5
POOLED_RATIO = (0.8, 1.2)


def complete_months(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The last complete (realised) months of the backtest, oldest first."""
    months = report.get("forecast_backtest", {}).get("months", [])
    return [m for m in months if m.get("realised") is not None][-MONTHS:]


def pooled_ratio(months: list[dict[str, Any]]) -> tuple[float, float, float]:
    """(realised / forecast, realised, forecast) summed over the months."""
    forecast = sum(float(m["expected_sqls"]) for m in months)
    realised = sum(float(m["realised"]) for m in months)
    return (realised / forecast if forecast > 0 else float("inf")), realised, forecast


def broken_promises(report: dict[str, Any]) -> list[str]:
    """What the report's backtest breaks of the promise; empty when it is kept."""
    source = (report.get("threshold") or {}).get("source")
    months = complete_months(report)
    problems: list[str] = []
    if source != "auto":
        problems.append(f"the threshold is not the auto one (source {source!r})")
    if len(months) < MONTHS:
        problems.append(f"{len(months)} complete months backtested, {MONTHS} needed")
    inside = sum(bool(m.get("inside")) for m in months)
    if inside < MIN_INSIDE:
        outside = ", ".join(
            f"{m['month']} (realised {m['realised']}, interval {m['low']}-{m['high']})"
            for m in months
            if not m.get("inside")
        )
        problems.append(
            f"{inside} of {len(months)} months inside the interval, {MIN_INSIDE} needed: "
            f"outside {outside}"
        )
    ratio, realised, forecast = pooled_ratio(months)
    low, high = POOLED_RATIO
    if not low <= ratio <= high:
        problems.append(
            f"pooled realised / forecast {ratio:.2f} ({realised:.0f} / {forecast:.1f}) is "
            f"outside {low}-{high}"
        )
    return problems


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else REPORT
    if not path.exists():
        print(f"error: {path}: no SLA report (run `dvc repro` first)", file=sys.stderr)
        return 2
    report = json.loads(path.read_text())
    problems = broken_promises(report)
    for problem in problems:
        print(f"forecast promise broken: {problem}", file=sys.stderr)
    if problems:
        return 1
    months = complete_months(report)
    inside = sum(bool(m.get("inside")) for m in months)
    ratio, realised, forecast = pooled_ratio(months)
    print(
        f"forecast promise kept: {inside} of {len(months)} months inside the 90% interval, "
        f"pooled realised / forecast {ratio:.2f} ({realised:.0f} / {forecast:.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
