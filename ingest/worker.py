"""The re-scoring worker: takes the stored events that wait, re-scores their leads with the
champion, writes the new scores with the alerts they call for and the events marked re-scored
(one transaction per step), and wakes the sender, which POSTs the alerts from the outbox at once.

Two threads per service process, both woken by an Event (an accepted request wakes the worker;
a step that queued an alert wakes the sender) and both looking at the store on their own every
`idle_poll_s` as well, so work written before a crash or by another process is picked up. Work
is never lost: an event is marked re-scored in the same transaction as its lead's new score and
alerts; an alert stays pending in the outbox until the receiver acknowledges it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from delivery import Webhook, deliver_pending
from foundation.params import DeliveryParams, IngestParams
from ingest.history import HistoryCache
from ingest.measures import Counters, Histogram, Measures
from ingest.rescore import Rules, add_alerts, score_leads
from store import Store
from store.events import EventStore

log = logging.getLogger("leadscore.ingest")

# The sender's own look at the outbox when nothing woke it: items waiting for a retry.
RETRY_LOOK_S = 5.0


class Worker:
    """Re-scoring and sending for one store (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        scorer: Callable[[], Any],
        rules: Rules,
        params: IngestParams,
        webhook: Webhook | None,
        delivery: DeliveryParams,
    ) -> None:
        self.store = store
        self.events = EventStore(store)
        self.scorer = scorer  # the scorer serving now (a reload swaps it)
        self.rules = rules
        self.params = params
        self.webhook = webhook
        self.delivery = delivery
        self.measures = Measures()
        self.history = HistoryCache(params.history_cache_leads)
        self._work = threading.Event()
        self._send = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # guards _waiting
        backlog = self.events.backlog()
        self._waiting = backlog.waiting  # kept in memory: a COUNT per request costs too much

    # ------------------------------------------------------------------ the service's side
    def start(self) -> None:
        for name, loop in (("rescore", self._score_loop), ("send", self._send_loop)):
            thread = threading.Thread(target=loop, name=f"leadscore-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._work.set()
        self._send.set()  # alerts left pending by a crash go out at once

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._work.set()
        self._send.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def accepted(self, stored: int, duplicates: int) -> None:
        """A request's events are durable: count them and wake the worker."""
        with self._lock:
            self._waiting += stored
        self.measures.accepted(stored, duplicates)
        if stored:
            self._work.set()

    @property
    def counters(self) -> Counters:
        """The counters since the process started (a copy)."""
        return self.measures.snapshot()[0]

    @property
    def waiting(self) -> int:
        return self._waiting

    def too_busy(self) -> bool:
        """More events wait than params ingest.max_waiting allows: slow the senders down."""
        return self._waiting >= self.params.max_waiting

    # ------------------------------------------------------------------ re-scoring
    def step(self, now: datetime | None = None) -> int:
        """One batch: take, read, score, alerts, record (ONE transaction); the number of
        events re-scored. Each lead of the batch is scored once, from its whole stored history,
        however many of its events the batch holds."""
        scorer = self.scorer()
        if scorer is None:
            return 0
        clock = time.perf_counter
        started = clock()
        taken = self.events.take_batch(self.params.worker_batch)
        if not taken.by_lead:
            return 0
        now = now or datetime.now(UTC)
        took = clock()
        histories = self.history.histories(self.events, taken.by_lead)
        states = self.events.lead_states(list(taken.by_lead), histories)
        read = clock()
        scored = score_leads(scorer, states, now)
        score = clock()
        add_alerts(scorer, scored, taken.by_lead, self.rules, now)
        alerts_done = clock()
        done = [i for s in states for i in taken.by_lead[s.lead_id]]
        alerts = [a for o in scored.outcomes for a in o.alerts]
        outbox = [item for o in scored.outcomes for item in o.outbox]
        self.events.record_step(done, [o.score for o in scored.outcomes], alerts, outbox, now)
        recorded = clock()
        stored_at = datetime.now(UTC)  # the new scores are committed: the end of the latency
        with self._lock:
            self._waiting = max(self._waiting - len(done), 0)
        self.measures.stepped(
            len(done),
            (a["kind"] for a in alerts),
            {
                "take": took - started,
                "read": read - took,
                "score": score - read,
                "alerts": alerts_done - score,
                "record": recorded - alerts_done,
            },
            ((stored_at - at).total_seconds() for at in taken.received_at),
        )
        if outbox:
            self._send.set()
        return len(done)

    def _score_loop(self) -> None:
        while not self._stop.is_set():
            self._work.wait(self.params.idle_poll_s)
            self._work.clear()
            try:
                while not self._stop.is_set() and self.step() > 0:
                    pass
                with self._lock:  # idle: the true count (another process may have written)
                    self._waiting = self.events.backlog().waiting
            except Exception as exc:  # a store outage: keep the events, try again later
                self._failed(exc)
                time.sleep(self.params.idle_poll_s)

    # ------------------------------------------------------------------ sending
    def _send_loop(self) -> None:
        while not self._stop.is_set():
            self._send.wait(RETRY_LOOK_S)
            self._send.clear()
            if self.webhook is None or self._stop.is_set():
                continue
            try:
                deliver_pending(
                    self.store, self.webhook.url, self.webhook.secret, policy=self.delivery
                )
            except Exception as exc:
                self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:300]
        self.measures.failed(error)
        log.error("real-time events: %s", error)

    def snapshot(self) -> Snapshot:
        """Everything /v1/status and /metrics show, read now: the backlog and the outbox from
        the store (whole, whatever process wrote them), the counters of this process."""
        backlog = self.events.backlog()
        now = datetime.now(UTC)
        oldest = backlog.oldest_received_at
        counters, phases, latency = self.measures.snapshot()
        return Snapshot(
            waiting=backlog.waiting,
            oldest_waiting_age_s=None if oldest is None else (now - oldest).total_seconds(),
            waiting_for_identify=backlog.unidentified,
            max_waiting=self.params.max_waiting,
            counters=counters,
            phase_seconds=phases,
            latency=latency,
            outbox=self.store.outbox_counts(),
            webhook=self.webhook is not None,
        )

    def status(self) -> dict[str, Any]:
        """Events waiting, the oldest one's age, and the counters (GET /v1/status)."""
        now = self.snapshot()
        return {
            "waiting": now.waiting,
            "oldest_waiting_age_s": now.oldest_waiting_age_s,
            "waiting_for_identify": now.waiting_for_identify,
            "max_waiting": now.max_waiting,
            "since_start": vars(now.counters),
            "outbox": now.outbox,
            "webhook": now.webhook,
        }


@dataclass(frozen=True)
class Snapshot:
    """The real-time path's state at one moment (Worker.snapshot)."""

    waiting: int
    oldest_waiting_age_s: float | None
    waiting_for_identify: int
    max_waiting: int
    counters: Counters
    phase_seconds: dict[str, float]
    latency: Histogram
    outbox: dict[str, int]
    webhook: bool
