"""GET /metrics: the real-time lag in Prometheus' text format, read by the real app with its key
guard, checked line by line against the format's grammar (so a scraper can parse it), and the
latency histogram's buckets as Prometheus adds them up."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from ingest.measures import LATENCY_BUCKETS_S, STEP_PHASES, Measures
from ingest.worker import Snapshot
from serve.routes_metrics import CONTENT_TYPE, prometheus_text
from tests.test_events_ingest import INGEST, SCORER, _app_with_ingest, _track

# The text format 0.0.4: `# HELP name text`, `# TYPE name kind`, `name{l="v",...} value`.
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(
    rf"^(?P<name>{_NAME})(?:\{{(?P<labels>{_NAME}={_VALUE}(?:,{_NAME}={_VALUE})*)\}})? "
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|Inf|NaN))$"
)
_META = re.compile(rf"^# (?P<what>HELP|TYPE) (?P<name>{_NAME}) (?P<text>.+)$")
_KINDS = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse(text: str) -> tuple[dict[str, str], dict[tuple[str, str], float]]:
    """Families' types and samples ((name, labels) -> value); any line off the grammar, a
    sample before its family's TYPE or a family declared twice fails the test."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples: dict[tuple[str, str], float] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            meta = _META.match(line)
            assert meta, f"line {number}: {line!r}"
            if meta["what"] == "TYPE":
                assert meta["name"] not in types, f"line {number}: {meta['name']} twice"
                assert meta["text"] in _KINDS, f"line {number}: {line!r}"
                types[meta["name"]] = meta["text"]
            continue
        sample = _SAMPLE.match(line)
        assert sample, f"line {number}: {line!r}"
        family = re.sub(r"_(bucket|sum|count)$", "", sample["name"])
        assert sample["name"] in types or family in types, f"line {number}: no TYPE before it"
        key = (sample["name"], sample["labels"] or "")
        assert key not in samples, f"line {number}: sample twice"
        samples[key] = float(sample["value"].replace("Inf", "inf"))
    return types, samples


def test_metrics_show_the_lag_and_the_429s_to_an_ingest_key_in_prometheus_text(
    tmp_path: Path,
) -> None:
    client, store = _app_with_ingest(f"sqlite:///{tmp_path / 's.db'}", max_waiting=3)
    with client, store:
        key = {"X-API-Key": INGEST}
        who = {"type": "identify", "messageId": "i", "userId": "L1", "traits": {"country": "DE"}}
        for body in (who, _track(0), _track(0), _track(1), _track(2)):
            client.post("/v1/events", json=body, headers=key)  # the last one: 429
        # As Prometheus' basic_auth sends it: the key as the user name.
        basic = {"Authorization": "Basic " + base64.b64encode(f"{INGEST}:".encode()).decode()}
        answer = client.get("/metrics", headers=basic)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == CONTENT_TYPE
        types, samples = parse(answer.text)
        assert types["leadscore_events_waiting"] == "gauge"
        assert types["leadscore_rescore_latency_seconds"] == "histogram"
        assert samples["leadscore_events_accepted_total", ""] == 3
        assert samples["leadscore_events_duplicates_total", ""] == 1
        assert samples["leadscore_events_throttled_requests_total", ""] == 1
        assert samples["leadscore_events_waiting", ""] == 3
        assert samples["leadscore_events_oldest_waiting_age_seconds", ""] > 0
        assert samples["leadscore_events_rescored_total", ""] == 0  # no model: nothing scored
        assert samples["leadscore_outbox_items", 'status="pending"'] == 0
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"X-API-Key": SCORER}).status_code == 403


def test_the_latency_histogram_counts_each_event_once_in_cumulative_buckets() -> None:
    measures = Measures()
    latencies = [0.01, 0.5, 0.5, 3.0, 100.0]
    measures.stepped(
        5, ["handoff", "returning", "handoff"], dict.fromkeys(STEP_PHASES, 0.25), latencies
    )
    counters, phases, latency = measures.snapshot()
    assert (counters.rescored, counters.alerts, counters.handoffs, counters.returning) == (
        5,
        3,
        2,
        1,
    )

    now = Snapshot(
        waiting=0,
        oldest_waiting_age_s=None,
        waiting_for_identify=0,
        max_waiting=100,
        counters=counters,
        phase_seconds=phases,
        latency=latency,
        outbox={"pending": 0, "delivered": 3, "failed-permanent": 0},
        webhook=True,
    )
    _, samples = parse(prometheus_text(now))
    buckets = {
        float(labels.split('"')[1].replace("Inf", "inf")): value
        for (name, labels), value in samples.items()
        if name == "leadscore_rescore_latency_seconds_bucket"
    }
    assert list(buckets) == [*LATENCY_BUCKETS_S, float("inf")]
    assert buckets[0.05] == 1 and buckets[0.5] == 3  # a value on a bound is in that bucket
    assert buckets[2.5] == 3 and buckets[5.0] == 4 and buckets[60.0] == 4
    assert buckets[float("inf")] == samples["leadscore_rescore_latency_seconds_count", ""] == 5
    assert samples["leadscore_rescore_latency_seconds_sum", ""] == pytest.approx(104.01)
    assert samples["leadscore_alerts_total", 'kind="handoff"'] == 2
    assert samples["leadscore_rescore_phase_seconds_total", 'phase="read"'] == 0.25
    assert samples["leadscore_events_oldest_waiting_age_seconds", ""] == 0
