"""What the service serves right now: one immutable `Serving` object, swapped whole on reload.

Requests read `app.state.serving` once and use that object to the end, so a reload that swaps
the reference mid-flight can never mix the old model with the new agreement or feature params.
A reload builds the new object off the event loop, probes it with a real score, warms it (see
serve/warmup.py: ready means warm) and only then swaps; on any failure the old object stays and
the reason is returned.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from anyio import CapacityLimiter
from starlette.concurrency import run_in_threadpool

from scoring.context import ScoringContext, load_context
from scoring.scorer import Scorer
from serve.errors import NotReady
from serve.settings import Settings
from serve.warmup import settle_heap, warm

log = logging.getLogger("leadscore.serve")


@dataclass(frozen=True)
class Serving:
    scorer: Scorer
    loaded_at: datetime


@dataclass
class ServiceState:
    """Mutable holder on `app.state`: the current Serving (or why there is none) and a lock."""

    settings: Settings
    serving: Serving | None = None
    not_ready_reason: str = "model not loaded yet"
    reload_lock: asyncio.Lock | None = None
    # Threads computing single-lead reasons at once (settings.reasons_threads); set at startup.
    reasons_limiter: CapacityLimiter | None = None

    def reasons_threads(self) -> CapacityLimiter:
        if self.reasons_limiter is None:
            self.reasons_limiter = CapacityLimiter(
                self.settings.reasons_threads or os.cpu_count() or 1
            )
        return self.reasons_limiter

    def current(self) -> Serving:
        serving = self.serving
        if serving is None:
            raise NotReady(self.not_ready_reason)
        return serving


def build_serving(settings: Settings, context: ScoringContext | None = None) -> Serving:
    """Load the model at `settings.model_uri`, build its scorer, and prove it scores a probe lead.

    Slow (MLflow, joblib): call from a thread. Raises on any failure, with a message for humans.
    """
    from models.registry import load_lead_model

    loaded = load_lead_model(settings.model_uri)
    context = context or load_context(settings, loaded.model)
    scorer = Scorer(
        loaded,
        context,
        top_reasons=settings.top_reasons,
        batch_threads=settings.batch_threads,
        compiled=compiled_trees_for(settings, loaded),
    )
    scorer.probe()
    # Ready means warm: pay the first calls' costs now, not on the first users (serve/warmup.py).
    warm(scorer, settings.max_batch, settings.max_events_per_lead)
    return Serving(scorer=scorer, loaded_at=datetime.now(UTC))


def compiled_trees_for(settings: Settings, loaded: Any) -> Any:
    """The model's trees compiled for batches (cached per model version), or None: booster."""
    booster = getattr(loaded.model, "booster", None)
    if not settings.compiled_trees or booster is None:
        return None
    from scoring.compiled_trees import cache_dir_for, compile_trees

    cache = cache_dir_for(settings.model_uri, settings.compiled_trees_dir)
    return compile_trees(booster, len(loaded.model.feature_names), cache)


def describe_failure(exc: BaseException) -> str:
    """One line a human can act on; our errors already say what and where."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def load_initial(state: ServiceState) -> None:
    """Lifespan: load the model in a thread; failing leaves the service alive but not ready."""
    try:
        serving = await run_in_threadpool(build_serving, state.settings)
        settle_heap()  # before /readyz says 200: no full collection of the loaded heap later
        state.serving = serving
        scorer = serving.scorer
        log.info(
            "model loaded: %s version %s", scorer.model_ref["name"], scorer.model_ref["version"]
        )
    except Exception as exc:
        state.not_ready_reason = f"model failed to load: {describe_failure(exc)}"
        log.error("%s", state.not_ready_reason)


async def reload(state: ServiceState) -> tuple[bool, Serving | None, Serving | None, str | None]:
    """Load the URI again and swap atomically; keep the old one on failure.

    Returns (reloaded, now serving, previous, reason-if-refused).
    """
    assert state.reload_lock is not None
    async with state.reload_lock:
        previous = state.serving
        try:
            new = await run_in_threadpool(build_serving, state.settings)
        except Exception as exc:
            reason = f"new model refused, still serving the previous one: {describe_failure(exc)}"
            if previous is None:
                state.not_ready_reason = f"model failed to load: {describe_failure(exc)}"
                reason = state.not_ready_reason
            log.warning("%s", reason)
            return False, previous, previous, reason
        settle_heap()  # only what the new model added since the last freeze is scanned
        state.serving = new  # one reference assignment: requests see old or new, never a mix
        log.info(
            "model reloaded: %s version %s",
            new.scorer.model_ref["name"],
            new.scorer.model_ref["version"],
        )
        return True, new, previous, None
