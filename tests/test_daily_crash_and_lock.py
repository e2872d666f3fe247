"""A daily run killed inside its store transaction, and two runs of one date at once (issue 31,
findings 7 and 11), with the real command, the real champion and real SQLite and PostgreSQL
stores. The killed run is recognised as unfinished: a later date refuses to run until it is
re-run, so no lead is handed over twice; of two runs of one date, one runs and the other stops
at once with a clear message."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from foundation.completion import COMPLETE
from store import Store
from tests.conftest import Project
from tests.daily_run import daily, ok
from tests.store_fixtures import _libpq, pg_database, store_url
from tests.test_daily_e2e import params_with
from tests.webhook_receiver import WebhookReceiver, whsec_for

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DAY1, DAY2, DAY3 = date(2026, 10, 20), date(2026, 10, 21), date(2026, 10, 22)
SECRET = whsec_for("crash")


@contextmanager
def store_write_blocked(url: str) -> Iterator[None]:
    """Another connection holds what the daily run's save needs first (SQLite: the write lock;
    PostgreSQL: lead_flags, the first table it clears): the run then waits inside its
    transaction, where the test kills it."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import psycopg

    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("LOCK TABLE lead_flags IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            conn.rollback()


def start_daily(project: Project, params: Path, env: dict[str, str], day: date) -> subprocess.Popen:
    return subprocess.Popen(
        ["leadscore", "daily", "--params", str(params), "--as-of", day.isoformat()],
        cwd=project.root,
        env={**project.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_run_killed_in_its_store_transaction_is_re_run_before_the_next_date(
    trained_project: Project, store_url: str, tmp_path: Path
) -> None:
    params = params_with(trained_project, tmp_path)
    days = tmp_path / "artifacts" / "daily"
    with WebhookReceiver(secret=SECRET) as hook:
        env = {
            "LEADSCORE_DB_URL": store_url,
            "LEADSCORE_WEBHOOK_URL": hook.url,
            "LEADSCORE_WEBHOOK_SECRET": SECRET,
        }
        ok(daily(trained_project, params, env, "--as-of", DAY1.isoformat()))
        assert (days / DAY1.isoformat() / COMPLETE).is_file()

        with store_write_blocked(store_url):
            run = start_daily(trained_project, params, env, DAY2)
            written = days / DAY2.isoformat() / "summary.json"
            deadline = time.monotonic() + 240
            while not written.exists() and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert written.exists(), run.communicate()
            time.sleep(1.5)  # past the files: waiting inside the store transaction
            assert run.poll() is None, "the run should be waiting for the store"
            os.kill(run.pid, signal.SIGKILL)
            run.communicate(timeout=30)
        crashed = days / DAY2.isoformat()
        assert (crashed / "handoff.csv").exists() and not (crashed / COMPLETE).exists()
        with Store.open(store_url) as store:
            assert store.run(DAY2) is None

        refused = daily(trained_project, params, env, "--as-of", DAY3.isoformat())
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"the daily run of {DAY2} did not finish" in refused.stderr
        assert f"leadscore daily --as-of {DAY2}" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert not (days / DAY3.isoformat() / COMPLETE).exists()

        ok(daily(trained_project, params, env, "--as-of", DAY2.isoformat()))
        assert (crashed / COMPLETE).is_file()
        ok(daily(trained_project, params, env, "--as-of", DAY3.isoformat()))
        processed, requests = set(hook.processed), len(hook.requests)

    with Store.open(store_url) as store:
        handed = {d: list(store.handoff(d)["lead_id"]) for d in (DAY1, DAY2, DAY3)}
        counts = store.outbox_counts()
    every = [lead for leads in handed.values() for lead in leads]
    assert len(every) == len(set(every)), "a lead was handed over twice"
    assert processed == {f"{d.isoformat()}:{lead}" for d, leads in handed.items() for lead in leads}
    assert requests == len(processed)  # each hand-off sent once
    assert counts["pending"] == 0 and counts["failed-permanent"] == 0


def test_two_runs_of_one_date_at_once_one_runs_the_other_stops_clearly(
    trained_project: Project, store_url: str, tmp_path: Path
) -> None:
    params = params_with(trained_project, tmp_path)
    env = {"LEADSCORE_DB_URL": store_url}
    runs = [start_daily(trained_project, params, env, DAY1) for _ in range(2)]
    done = [(run.wait(300), *run.communicate()) for run in runs]
    codes = sorted(code for code, _, _ in done)
    assert codes == [0, 2], done
    stopped = next(err for code, _, err in done if code == 2)
    assert f"another `leadscore daily --as-of {DAY1}` is running on this store" in stopped
    assert "Traceback" not in stopped
    out = tmp_path / "artifacts" / "daily" / DAY1.isoformat()
    assert (out / COMPLETE).is_file()
    assert not list(out.glob(".*.tmp"))
    with Store.open(store_url) as store:
        assert list(store.runs()["run_date"]) == [DAY1]
