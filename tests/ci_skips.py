"""Under CI every skip is a failure.

A skipped test proves nothing, and a skip that only happens on one machine (no PostgreSQL, no
Chromium, an extra not installed, the C extension not built) hides exactly the break CI exists to
catch. Locally a missing part skips with its reason; with the environment variable `CI` set, the
same skip is reported as a failed test naming that reason. It covers test-time skips
(`pytest.skip`, `skipif`) and collection-time ones (`importorskip`, module-level skips) alike, so
no test file needs its own override. Expected failures (`xfail`) are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

CI_ENV = "CI"


def ci_is_set() -> bool:
    return os.environ.get(CI_ENV, "").strip().lower() not in {"", "0", "false", "no"}


def skip_reason(longrepr: Any) -> str:
    """A skip's report carries (path, line, reason); anything else is shown as it is."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, line, reason = longrepr
        return f"{reason} ({path}:{line})"
    return str(longrepr)


def fail_the_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    report.outcome = "failed"
    report.longrepr = (
        f"skipped, but ${CI_ENV} is set and under CI every skip is a failure: "
        f"{skip_reason(report.longrepr)}"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if ci_is_set() and report.skipped and not hasattr(report, "wasxfail"):
        fail_the_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if ci_is_set() and report.skipped:
        fail_the_skip(report)
    return report
