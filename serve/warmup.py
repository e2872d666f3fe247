"""Ready means warm: what the first requests after a start or a reload used to pay, paid before.

Measured on the service (benchmarks/serve_bench.py): right after /readyz said 200, the p99 of
single leads was 6-9x a bare FastAPI + booster service's, then settled near it. The causes:
- the garbage collector: loading imports MLflow, pandas, sklearn and the model, so the heap holds
  about a million objects, most still in the young generations. The first full collections then
  came during the first seconds of traffic, each scanning that whole heap (100+ ms, on the event
  loop). `settle_heap` collects once and freezes what survives (`gc.freeze`): the loaded code and
  model are never garbage, and later collections skip them;
- first calls: each code path's first run pays lazy imports inside functions, pydantic-core's
  and orjson's first use of a shape, LightGBM's first prediction of each kind, the first batch's
  worker thread, numpy's first allocations of each size, CPython's specialisation of hot code.
  `warm` runs the new scorer through the calls the routes make (parse, score, reasons, rules,
  batch in both forms, JSON) a few dozen times before it is swapped in.

Both run on startup and on every reload, before the new model is visible to requests.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from serve.errors import json_response

if TYPE_CHECKING:
    from scoring.scorer import Scorer

# Single-lead rounds per body: CPython specialises a function after a few calls; a few dozen
# rounds also let every allocator size class and branch be seen (measured: ~20 ms per start).
SINGLE_ROUNDS = 20
BATCH_ROUNDS = 3
WARM_BATCH = 1000
WARM_EVENTS = 50


def sample_row(scorer: Scorer) -> dict[str, Any]:
    """A feature row with every feature set: numbers 1.0, categories their first known value."""
    row: dict[str, Any] = {}
    for name in scorer.feature_names:
        categories = scorer.model.categories.get(name) if name in scorer.categorical else None
        row[name] = categories[0] if categories else (None if name in scorer.categorical else 1.0)
    return row


def sample_bodies(scorer: Scorer, now: datetime, batch: int, n_events: int) -> dict[str, bytes]:
    """JSON bodies shaped like real requests: a feature row, a lead with events, batches."""
    row = sample_row(scorer)
    bodies = {
        "row": {"lead_id": "warm", "features": row, "explain": False},
        "row_explain": {"lead_id": "warm", "features": row, "explain": True},
        "rows": {"leads": [{"lead_id": f"w{i}", "features": row} for i in range(min(10, batch))]},
        "columns": {
            "columns": {name: [value] * batch for name, value in row.items()},
            "lead_ids": [f"w{i}" for i in range(batch)],
        },
    }
    if scorer.lead_features is not None:
        created = now - timedelta(days=30)
        events = [
            {"ts": (created + timedelta(hours=i)).isoformat(), "event_type": "site_visit"}
            for i in range(n_events)
        ]
        lead = {"lead_id": "warm", "created_at": created.isoformat(), "channel": "warm"}
        bodies["lead"] = {"lead": lead, "events": events, "explain": False}
        bodies["lead_explain"] = {"lead": lead, "events": events, "explain": True}
    return {name: orjson.dumps(body) for name, body in bodies.items()}


def warm(scorer: Scorer, max_batch: int, max_events: int) -> None:
    """Run the scorer through what POST /v1/score and /v1/score/batch do, before it serves."""
    from serve.batch import check_events, score_batch, standard_json
    from serve.schemas import ScoreRequest

    now = datetime.now(UTC)
    bodies = sample_bodies(scorer, now, min(WARM_BATCH, max_batch), min(WARM_EVENTS, max_events))
    for _ in range(SINGLE_ROUNDS):
        for name in ("row", "row_explain", "lead", "lead_explain"):
            if name not in bodies:
                continue
            standard_json(bodies[name])
            item = ScoreRequest.model_validate_json(bodies[name])
            check_events(item, max_events)
            result = scorer.score_one(item, item.explain, now)
            result["model"] = scorer.model_ref
            json_response(result)
    for _ in range(BATCH_ROUNDS):
        for name in ("rows", "columns"):
            body = bodies[name]
            data = standard_json(body)
            json_response(score_batch(scorer, data, max_batch, max_events, now, body))


def settle_heap() -> None:
    """Collect now and freeze the survivors, so no full collection of the loaded heap lands on a
    request. On a reload only objects created since the last freeze are scanned (cheap); the
    previous model's objects are freed by reference counting once the last request drops it."""
    gc.collect()
    gc.freeze()
