"""The real-time path put together for one service process: the event mapping, the agreement's
follow-up hours, params.yaml's quiet period and ingest limits, the webhook, and the worker; and
`accept`, which stores one request's messages before anything answers 2xx."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from delivery import resolve_webhook
from features.mapping_file import load_mapping
from features.mapping_one import EventNamer
from foundation.params import IngestParams, load_params
from ingest.rescore import Rules
from ingest.segment import messages_of
from ingest.worker import Worker
from store import Store
from store.events import EventStore, Identify, Stored


@dataclass
class Ingest:
    """What POST /v1/events and GET /v1/status use (built once, in the service's lifespan)."""

    namer: EventNamer
    params: IngestParams
    worker: Worker

    def accept(self, body: Any, now: datetime | None = None) -> Stored:
        """Check, map and store one request's messages durably (ONE transaction), then wake
        the worker. SegmentError / OverflowError for a bad request: nothing is stored."""
        now = now or datetime.now(UTC)
        messages = messages_of(body, self.namer, now, self.params.max_batch)
        rows = [m.row(now) for m in messages]
        who = [
            Identify(m.message_id, m.lead_id, m.anonymous_id, m.profile)
            for m in messages
            if m.profile is not None and m.lead_id is not None
        ]
        stored = self.worker.events.add(rows, who, now)
        self.worker.accepted(stored.stored, stored.duplicates)
        return stored


def build_ingest(
    store: Store,
    scorer: Callable[[], Any],
    params_path: Path,
    sla_path: Path,
) -> Ingest:
    """The real-time path from the project's files (params.yaml, sla.yaml, the mapping) and the
    environment (LEADSCORE_WEBHOOK_URL / _SECRET, as `leadscore daily`)."""
    from sla.agreement import load_agreement

    params = load_params(params_path, missing_ok=True)
    agreement = load_agreement(sla_path)
    mapping = load_mapping(Path(params.paths.mapping) if params.paths.mapping else None)
    rules = Rules(follow_up_hours=agreement.follow_up_hours, quiet_days=params.daily.quiet_days)
    webhook = resolve_webhook(
        params.daily.webhook_url, signature_format=params.delivery.signature_format
    )
    worker = Worker(store, scorer, rules, params.ingest, webhook, params.delivery)
    return Ingest(EventNamer(mapping), params.ingest, worker)


__all__ = ["EventStore", "Ingest", "build_ingest"]
