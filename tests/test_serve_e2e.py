"""The service as deployed: `leadscore serve` (real uvicorn on loopback) over the champion the
real pipeline trained and registered, scoring through HTTP; `leadscore score` on the same leads
gives the same probabilities (no training/serving skew), and no lead data reaches the logs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pandas as pd
import pytest

from tests.conftest import Project
from tests.live_server import free_port, running_serve

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

API_KEY = "e2e-key-9f3c"
START_TIMEOUT_S = 120
N_LEADS = 25
THRESHOLD = "20"  # fixed, so decisions do not wait for the SLA report's `auto` threshold


@dataclass(frozen=True)
class Server:
    base: str
    log: Path


@pytest.fixture(scope="module")
def server(trained_project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `leadscore serve` process; always terminated, its log kept for the log test."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        **trained_project.env,
        "LEADSCORE_API_KEYS": API_KEY,
        "LEADSCORE_MQL_THRESHOLD": THRESHOLD,
    }
    args = ["--log-level", "debug"]
    with running_serve(args, port, trained_project.root, env, log, START_TIMEOUT_S) as base:
        yield Server(base, log)


@pytest.fixture(scope="module")
def sample(trained_project: Project, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A few leads with their events, as files for the CLI and as bodies for HTTP."""
    root = trained_project.root
    leads = pd.read_parquet(root / "data/interim/leads.parquet")
    events = pd.read_parquet(root / "data/interim/events.parquet")
    busy = events["lead_id"].value_counts().index[:N_LEADS]
    some = leads[leads["lead_id"].isin(busy)].reset_index(drop=True)
    own = events[events["lead_id"].isin(some["lead_id"])].reset_index(drop=True)
    as_of = pd.to_datetime(own["ts"], utc=True).max().ceil("D")
    folder = tmp_path_factory.mktemp("sample")
    some.to_parquet(folder / "leads.parquet")
    own.to_parquet(folder / "events.parquet")
    return {"leads": some, "events": own, "as_of": as_of, "folder": folder}


PROFILE = ("lead_id", "channel", "industry", "job_role", "country", "email_domain")


def http_bodies(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """The sample leads as the CRM would send them: profile, events, as_of."""
    bodies = []
    events = sample["events"]
    for lead in sample["leads"].to_dict("records"):
        own = events[events["lead_id"] == lead["lead_id"]]
        profile = {k: (None if pd.isna(lead[k]) else lead[k]) for k in PROFILE}
        size = lead["company_size"]
        profile["company_size"] = None if pd.isna(size) else int(size)
        profile["created_at"] = pd.Timestamp(lead["created_at"]).isoformat()
        evs = [
            {"ts": pd.Timestamp(ts).isoformat(), "event_type": et, "content_topic": topic}
            for ts, et, topic in zip(
                own["ts"], own["event_type"], own["content_topic"].astype(object), strict=True
            )
        ]
        for e in evs:
            e["content_topic"] = None if pd.isna(e["content_topic"]) else e["content_topic"]
        bodies.append({"lead": profile, "events": evs, "as_of": sample["as_of"].isoformat()})
    return bodies


def test_http_scores_equal_leadscore_score_on_the_same_leads(
    server: Server, sample: dict[str, Any], trained_project: Project
) -> None:
    headers = {"X-API-Key": API_KEY}
    bodies = http_bodies(sample)
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
        model = client.get("/v1/model").json()
        assert model["name"] == "lead-propensity" and model["alias"] == "champion"
        batch = client.post("/v1/score/batch", json={"leads": bodies}).json()
        assert batch["failed"] == 0, batch
        singles = [client.post("/v1/score", json=b).json() for b in bodies[:5]]
    by_id = {i["lead_id"]: i["result"] for i in batch["items"]}
    # Batches run on the compiled trees (scoring/compiled_trees.py): within 1e-12 of the booster.
    for single in singles:
        assert single["probability"] == pytest.approx(
            by_id[single["lead_id"]]["probability"], rel=0, abs=1e-12
        )

    out = sample["folder"] / "scores.parquet"
    folder = sample["folder"]
    trained_project.run(
        "leadscore",
        "score",
        str(folder / "leads.parquet"),
        "--events",
        str(folder / "events.parquet"),
        "--as-of",
        sample["as_of"].isoformat(),
        "--out",
        str(out),
        "--model",
        trained_project.model_uri,
        "--threshold",
        THRESHOLD,
    )
    cli = pd.read_parquet(out).set_index("lead_id")
    assert len(cli) == len(bodies)
    for lead_id, result in by_id.items():
        assert cli.loc[lead_id, "probability"] == pytest.approx(
            result["probability"], rel=0, abs=1e-12
        ), lead_id
        assert cli.loc[lead_id, "score"] == result["score"]
        assert cli.loc[lead_id, "tier"] == result["tier"]
        assert cli.loc[lead_id, "decision"] == result["decision"]
        assert cli.loc[lead_id, "rule"] == result["rule"]


def test_feature_rows_score_the_same_over_http_and_in_the_file(
    server: Server, trained_project: Project, tmp_path: Path
) -> None:
    table = pd.read_parquet(trained_project.root / "data/features/training_table.parquet")
    rows = table.tail(50).reset_index(drop=True)
    features_file = tmp_path / "rows.parquet"
    rows.to_parquet(features_file)
    out = tmp_path / "scores.csv"
    trained_project.run("leadscore", "score", str(features_file), "--out", str(out))
    cli = pd.read_csv(out)
    model = httpx.get(f"{server.base}/v1/model", headers={"X-API-Key": API_KEY}).json()
    columns = {
        name: [None if pd.isna(v) else v for v in rows[name].astype(object)]
        for name in model["features"]
    }
    body = {"columns": columns, "lead_ids": rows["lead_id"].astype(str).tolist()}
    answer = httpx.post(
        f"{server.base}/v1/score/batch", json=body, headers={"X-API-Key": API_KEY}, timeout=30
    ).json()
    http = answer["columns"]["probability"]
    assert http == pytest.approx(cli["probability"].tolist(), rel=1e-12, abs=0)


def test_wrong_key_is_refused_over_the_wire(server: Server) -> None:
    response = httpx.post(f"{server.base}/v1/score", json={}, headers={"X-API-Key": "nope"})
    assert response.status_code == 401


def test_no_lead_data_in_the_service_log(server: Server, sample: dict[str, Any]) -> None:
    headers = {"X-API-Key": API_KEY}
    body = http_bodies(sample)[0]
    body["lead"]["email_domain"] = "very-private-domain.example"
    httpx.post(f"{server.base}/v1/score", json=body, headers=headers, timeout=30)
    bad = {"lead": {"created_at": "private-x@y.example"}}
    assert httpx.post(f"{server.base}/v1/score", json=bad, headers=headers).status_code == 422
    time.sleep(0.5)
    content = server.log.read_text()
    assert "POST /v1/score" in content  # the access log is on (debug level), without bodies
    assert "very-private-domain" not in content and "private-x@y" not in content
