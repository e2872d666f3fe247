"""GET /metrics: the real-time path in Prometheus' text format, for an ingest (or admin) key,
the same readers as GET /v1/status (Prometheus sends the key as basic auth's user name).

What a dashboard or an alert rule needs to see the lag and its causes: events accepted,
duplicates, 429s, events re-scored and alerts sent since the process started (counters); events
waiting, the oldest one's age and those waiting for an identify, read from the store whatever
process wrote them (gauges); the time each part of a worker step took (counters per phase); and
how long events waited from their receipt to their re-score (a histogram, so quantiles can be
computed over any window and summed over service processes). The counters and the histogram
are this process's: with `--workers N`, a scrape reads the one process that answered it.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from starlette.responses import Response

from ingest.worker import Snapshot
from serve.routes_events import STATUS_ERRORS, ingest_of
from serve.store_outage import StoreUnavailable, first_line

# The version of the text format Prometheus scrapes (its exposition format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "leadscore_"

router = APIRouter()


def _number(value: float) -> str:
    """A sample value as the text format writes it (integers without a point, +Inf)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _escaped(value: str) -> str:
    """A label value with the text format's escapes: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escaped(v)}"' for k, v in labels.items()) + "}"


def _family(
    name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]
) -> list[str]:
    lines = [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"]
    lines += [f"{PREFIX}{name}{_labels(labels)} {_number(v)}" for labels, v in samples]
    return lines


def prometheus_text(now: Snapshot) -> str:
    """The snapshot as Prometheus text (one family per metric, HELP and TYPE first)."""
    c = now.counters
    lines: list[str] = []

    def counter(name: str, help_text: str, value: float) -> None:
        lines.extend(_family(name, "counter", help_text, [({}, value)]))

    def gauge(name: str, help_text: str, value: float) -> None:
        lines.extend(_family(name, "gauge", help_text, [({}, value)]))

    counter("events_accepted_total", "Events stored and acknowledged (2xx).", c.accepted)
    counter("events_duplicates_total", "Events acknowledged but already stored.", c.duplicates)
    counter(
        "events_throttled_requests_total",
        "Requests answered 429 (too many events waiting); nothing of them was stored.",
        c.throttled,
    )
    counter("events_rescored_total", "Events whose lead was re-scored.", c.rescored)
    lines.extend(
        _family(
            "alerts_total",
            "counter",
            "Alerts queued in the outbox by the real-time path, by kind.",
            [({"kind": "handoff"}, c.handoffs), ({"kind": "returning"}, c.returning)],
        )
    )
    counter("rescore_steps_total", "Worker steps (one transaction each).", c.steps)
    counter("rescore_errors_total", "Worker or sender errors (the events stay waiting).", c.errors)
    lines.extend(
        _family(
            "rescore_phase_seconds_total",
            "counter",
            "Seconds the worker spent in each part of its steps.",
            [({"phase": phase}, s) for phase, s in now.phase_seconds.items()],
        )
    )
    gauge("events_waiting", "Events stored and not yet re-scored (store-wide).", now.waiting)
    gauge(
        "events_oldest_waiting_age_seconds",
        "Age of the oldest event waiting to be re-scored (0: none waits).",
        now.oldest_waiting_age_s or 0.0,
    )
    gauge(
        "events_waiting_for_identify",
        "Events of anonymous visitors waiting for an identify.",
        now.waiting_for_identify,
    )
    gauge("events_max_waiting", "Past this many waiting events, 429.", now.max_waiting)
    lines.extend(
        _family(
            "outbox_items",
            "gauge",
            "Outbox items by status (store-wide).",
            [({"status": status}, n) for status, n in now.outbox.items()],
        )
    )
    name = f"{PREFIX}rescore_latency_seconds"
    lines += [
        f"# HELP {name} Seconds from an event's receipt to its lead's new score being stored.",
        f"# TYPE {name} histogram",
    ]
    for bound, count in now.latency.cumulative():
        lines.append(f'{name}_bucket{{le="{_number(bound)}"}} {count}')
    lines += [f"{name}_sum {_number(now.latency.total)}", f"{name}_count {now.latency.n}"]
    return "\n".join(lines) + "\n"


@router.get(
    "/metrics",
    tags=["events"],
    summary="Real-time lag and throughput, Prometheus text format",
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format 0.0.4."},
        **STATUS_ERRORS,
    },
)
def get_metrics(request: Request) -> Response:
    ingest = ingest_of(request)
    try:
        snapshot = ingest.worker.snapshot()
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):
            raise StoreUnavailable(detail=f"metrics not read: {first_line(exc)}") from exc
        raise
    return Response(prometheus_text(snapshot), 200, media_type=CONTENT_TYPE)
