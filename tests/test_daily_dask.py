"""`leadscore daily` on Dask gives the pandas run's day: the same hand-off, returning and overdue
files and the same stored scores, on the real pipeline's champion (`trained_project`), with the
real command in subprocesses. Both engines start from the same first day (run with pandas,
its store and folder copied), then the second day runs on each: on Dask through a LocalCluster
of 2 worker processes reached by address (`--scheduler tcp://...`; `--engine dask` without an
address starts the same kind of cluster, as tests/test_engine_dask.py covers for the other
commands). Also: the day's feature and score part files, and a failure on the workers
surfacing as the command's one-line error with nothing saved."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from foundation.io import find_table, read_table
from store import Store
from tests.conftest import Project, store_env
from tests.daily_run import daily, ok

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DAY1, DAY2 = date(2026, 10, 13), date(2026, 10, 20)
FILES = ("handoff.csv", "returning.csv", "overdue.csv")
KEYS = {"handoff.csv": ["lead_id"], "returning.csv": ["lead_id"], "overdue.csv": ["lead_id"]}


@dataclass(frozen=True)
class Engine:
    """One engine's two days: its own artifacts folder and store."""

    artifacts: Path
    url: str
    runs: tuple[subprocess.CompletedProcess[str], ...]


def project_params(project: Project, tmp: Path) -> Path:
    """params.yaml with artifacts under `tmp` and two LocalCluster workers, as on this 2-core
    machine, whatever machine runs the test."""
    params = yaml.safe_load((project.root / "params.yaml").read_text())
    params["paths"] = {**params["paths"], "artifacts": str(tmp / "artifacts")}
    params["engine"] = {**params.get("engine", {}), "workers": 2}
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def second_day(project: Project, tmp: Path, *args: str) -> Engine:
    """Day two on `args`'s engine, in `tmp`, which holds the first day's folder and store."""
    path = project_params(project, tmp)
    url = f"sqlite:///{tmp / 'store.db'}"
    run = ok(daily(project, path, {"LEADSCORE_DB_URL": url}, "--as-of", DAY2.isoformat(), *args))
    return Engine(tmp / "artifacts", url, (run,))


def local_cluster(env: dict[str, str]) -> Any:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, env=env
    )


LIVE_LEAD, CRM_LEAD = "live-1", "bottlecrm-17"


def store_between_the_days(project: Project, url: str) -> list[str]:
    """What the store receives between the two days, through the functions its routes use:
    events posted to POST /v1/events (Ingest.accept's mapping and write) for exported leads
    and a lead known only from its `identify`; a BottleCRM lead the exports never had, being
    worked; CRM statuses for exported leads (one SQL: it leaves the open leads). Returns the
    exported leads it touches."""
    from crm.bottlecrm import lead_id_for
    from features.mapping_file import load_mapping
    from features.mapping_one import EventNamer
    from ingest.segment import messages_of
    from store.crm_inbox import CrmLead, CrmMessage, CrmStage, record_messages
    from store.events import EventStore, Identify

    leads = read_table(find_table(project.root / "data" / "raw", "leads"))
    early = leads[
        pd.to_datetime(leads["created_at"], utc=True) < pd.Timestamp("2026-09-01", tz="UTC")
    ]
    ids = early["lead_id"].astype(str).head(4).tolist()
    now = datetime(2026, 10, 19, 12, tzinfo=UTC)

    def track(n: int, lead: str, event: str) -> dict[str, Any]:
        at = f"2026-10-{15 + n % 4}T09:00:00Z"
        return {"type": "track", "messageId": f"m{n}", "userId": lead, "event": event,
                "timestamp": at, "properties": {"content_topic": "pricing"}}  # fmt: skip

    batch = [track(n, lead, e) for n, lead in enumerate(ids[:2] * 3) for e in ("pricing_view",)]
    batch += [track(10 + n, LIVE_LEAD, "demo_request") for n in range(3)]
    batch.append(
        {"type": "identify", "messageId": "i1", "userId": LIVE_LEAD,
         "timestamp": "2026-10-14T09:00:00Z",
         "traits": {"created_at": "2026-10-14T09:00:00Z", "channel": "paid_search",
                    "country": "DE", "industry": "software", "company_size": 200}}
    )  # fmt: skip
    messages = messages_of({"batch": batch}, EventNamer(load_mapping(None)), now, 100)
    who = [
        Identify(m.message_id, m.lead_id, m.anonymous_id, m.profile)
        for m in messages
        if m.profile is not None and m.lead_id is not None
    ]
    at = now.replace(day=16)
    crm_lead = CrmLead("bottlecrm", "17", lead_id_for("17"), at, "ada@acme.example",
                       {"created_at": "2026-10-12T10:00:00Z", "source": "email",
                        "industry": "software", "title": "cto", "country": "DE"})  # fmt: skip
    stages = (
        CrmStage(crm_lead.lead_id, "contacted", at, "in process"),
        CrmStage(ids[2], "sql", at, "converted"),
        CrmStage(ids[3], "contacted", at, "in process"),
    )
    with Store.open(url) as store:
        EventStore(store).add([m.row(now) for m in messages], who, now)
        record_messages(
            store, [CrmMessage("bottlecrm", "e-1", "lead.created", (crm_lead,), stages)], now
        )
    assert crm_lead.lead_id == CRM_LEAD
    return ids


@pytest.fixture(scope="module")
def engines(trained_project: Project, tmp_path_factory) -> dict[str, Engine]:
    tmp = tmp_path_factory.mktemp("pandas")
    ok(
        daily(
            trained_project,
            project_params(trained_project, tmp),
            {"LEADSCORE_DB_URL": f"sqlite:///{tmp / 'store.db'}"},
            "--as-of",
            DAY1.isoformat(),
        )
    )
    store_between_the_days(trained_project, f"sqlite:///{tmp / 'store.db'}")
    dask_tmp = tmp_path_factory.mktemp("dask")
    shutil.copytree(tmp, dask_tmp, dirs_exist_ok=True)  # the same first day for both engines
    pandas_run = second_day(trained_project, tmp, "--engine", "pandas")
    # The workers of a cluster reached by address read the registry from their own environment.
    with local_cluster(store_env(trained_project.tracking_uri)) as cluster:
        dask_run = second_day(trained_project, dask_tmp, "--scheduler", cluster.scheduler_address)
    return {"pandas": pandas_run, "dask": dask_run}


def day_dir(engine: Engine, day: date) -> Path:
    return engine.artifacts / "daily" / day.isoformat()


def sorted_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def stored_scores(url: str, day: date) -> pd.DataFrame:
    with Store.open(url) as store:
        return sorted_by(store.scores(day), ["lead_id"])


def test_dask_day_equals_pandas_day(engines: dict[str, Engine]) -> None:
    pandas_run, dask_run, day = engines["pandas"], engines["dask"], DAY2
    for name in FILES:
        expected = pd.read_csv(day_dir(pandas_run, day) / name, dtype={"lead_id": str})
        got = pd.read_csv(day_dir(dask_run, day) / name, dtype={"lead_id": str})
        pd.testing.assert_frame_equal(
            sorted_by(got, KEYS[name]), sorted_by(expected, KEYS[name]), rtol=1e-12
        )
    for name in ("handoff.json", "recap.md", "drift/drift.json"):
        assert (day_dir(dask_run, day) / name).read_text() == (
            day_dir(pandas_run, day) / name
        ).read_text(), name
    expected, got = stored_scores(pandas_run.url, day), stored_scores(dask_run.url, day)
    assert len(expected) > 1000
    pd.testing.assert_frame_equal(got, expected, rtol=1e-12)


def test_what_the_store_received_is_scored_on_both_engines(engines: dict[str, Engine]) -> None:
    """The parity above covers the store's additions: the identify-only lead and the CRM-only
    lead are scored (on Dask too: the workers merged them per partition)."""
    for run in engines.values():
        scored = set(stored_scores(run.url, DAY2)["lead_id"].astype(str))
        assert {LIVE_LEAD, CRM_LEAD} <= scored


def test_the_days_have_something_to_compare(engines: dict[str, Engine]) -> None:
    """The parity above means something only if the days hand over, flag returning leads and
    find overdue follow-ups (day two: day one's hand-off is a week old)."""
    summary = json.loads((day_dir(engines["pandas"], DAY2) / "summary.json").read_text())
    counts = summary["counts"]
    assert counts["handoff"] > 0 and counts["returning"] > 0 and counts["overdue"] > 0, counts


def test_dask_day_ran_on_the_cluster_and_wrote_part_files(engines: dict[str, Engine]) -> None:
    dask_run = engines["dask"]
    out = day_dir(dask_run, DAY2)
    assert all("engine dask" in run.stdout for run in dask_run.runs)
    # Validation went through the Dask path: events and stages as folders of parts.
    assert (out / "validation" / "events.parquet").is_dir()
    for table in ("leads", "events", "stages"):
        pd.testing.assert_frame_equal(
            read_table(out / "validation" / f"{table}.parquet"),
            read_table(day_dir(engines["pandas"], DAY2) / "validation" / f"{table}.parquet"),
        )
    features = sorted((out / "features.parquet").glob("part-*.parquet"))
    scores = sorted((out / "scores.parquet").glob("part-*.parquet"))
    assert len(features) == len(scores) >= 2
    stored = stored_scores(dask_run.url, DAY2)
    parts = sorted_by(pd.concat([pd.read_parquet(p) for p in scores]), ["lead_id"])
    assert parts["lead_id"].tolist() == stored["lead_id"].tolist()
    assert parts["probability"].tolist() == stored["probability"].tolist()


@pytest.fixture
def cluster_without_the_registry(tmp_path: Path) -> Iterator[str]:
    """A cluster reached by address whose workers cannot use their MLflow store (a file store,
    which MLflow refuses): workers set up without the project's MLFLOW_TRACKING_URI."""
    with local_cluster(store_env(f"file://{tmp_path}/mlruns")) as c:
        yield c.scheduler_address


def test_a_failure_on_the_workers_is_the_commands_one_line_error(
    trained_project: Project, cluster_without_the_registry: str, tmp_path: Path
) -> None:
    path = project_params(trained_project, tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    done = daily(
        trained_project,
        path,
        {"LEADSCORE_DB_URL": url},
        "--as-of",
        DAY1.isoformat(),
        "--scheduler",
        cluster_without_the_registry,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    # Not a LeadscoreError on the worker: the step, the cause, then the workers' log lines.
    first = done.stderr.splitlines()[0]
    assert first.startswith("error: scoring the open leads failed on the Dask cluster: ")
    assert "MlflowException" in first
    assert "Traceback" not in done.stderr
    with Store.open(url) as store:
        assert store.runs().empty
