"""What the real-time path measures about itself while it runs, for GET /metrics and
GET /v1/status: counters since the process started, the time each part of a worker step took,
and how long events waited from their receipt to their re-score (a histogram with fixed
buckets, so Prometheus can add up several service processes and compute quantiles).

Plain numbers under one lock: a step observes a few hundred latencies at once, which costs a
bisect each, far below the step itself.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

# Upper bounds (seconds) of the receipt-to-re-score buckets: the p99 target at 500 events/s is
# one second from event to alert, so the buckets are fine below it and coarse above.
LATENCY_BUCKETS_S: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# The parts of a worker step, in the order they run (ingest/worker.py).
STEP_PHASES: tuple[str, ...] = ("take", "read", "score", "alerts", "record")


@dataclass
class Histogram:
    """Counts per bucket (not cumulative; the last one is +Inf), their sum and count."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS_S
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, values: Iterable[float]) -> None:
        for value in values:
            # bisect_left: a value equal to a bound belongs to that bucket (Prometheus `le`).
            self.counts[bisect_left(self.bounds, value)] += 1
            self.total += value
            self.n += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, events at or below it), +Inf last: Prometheus' `_bucket` series."""
        out, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


@dataclass
class Counters:
    """What the worker and the route did since the process started."""

    accepted: int = 0
    duplicates: int = 0
    throttled: int = 0  # requests answered 429
    rescored: int = 0
    alerts: int = 0
    handoffs: int = 0
    returning: int = 0
    steps: int = 0
    errors: int = 0
    last_error: str | None = None


class Measures:
    """Counters, step phase times and the latency histogram of one worker, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters = Counters()
        self.phase_seconds: dict[str, float] = dict.fromkeys(STEP_PHASES, 0.0)
        self.latency = Histogram()

    def accepted(self, stored: int, duplicates: int) -> None:
        with self.lock:
            self.counters.accepted += stored
            self.counters.duplicates += duplicates

    def throttled(self) -> None:
        with self.lock:
            self.counters.throttled += 1

    def stepped(
        self,
        rescored: int,
        alert_kinds: Iterable[str],
        phases: dict[str, float],
        latencies_s: Iterable[float],
    ) -> None:
        kinds = list(alert_kinds)
        with self.lock:
            c = self.counters
            c.rescored += rescored
            c.alerts += len(kinds)
            c.handoffs += kinds.count("handoff")
            c.returning += kinds.count("returning")
            c.steps += 1
            for phase, seconds in phases.items():
                self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + seconds
            self.latency.observe(latencies_s)

    def failed(self, error: str) -> None:
        with self.lock:
            self.counters.errors += 1
            self.counters.last_error = error

    def snapshot(self) -> tuple[Counters, dict[str, float], Histogram]:
        """Copies, consistent with each other (taken under the lock)."""
        with self.lock:
            latency = Histogram(
                self.latency.bounds, list(self.latency.counts), self.latency.total, self.latency.n
            )
            return Counters(**vars(self.counters)), dict(self.phase_seconds), latency
