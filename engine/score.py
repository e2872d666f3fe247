"""Batch scoring on a Dask cluster: `leadscore score --engine dask` (and the daily run's scores).

Each worker builds the scorer once (the same `Scorer` the service and `leadscore score` use,
from the same model URI, params, personas and agreement) and scores partitions with
`scoring.score_file.prepare` + `score_prepared`. A leads table with events (and stages) is
partitioned by lead_id so each lead's rows meet its events; feature rows are scored as read.
Scores are written as `OUT/part-NNNNN.parquet`, each part in its input order.

Workers need what the scorer reads: the model (an MLflow URI reachable from them, or a file on
storage they share), params, personas and the agreement at the same paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from engine.cluster import gather
from engine.features import write_part
from engine.partition import by_lead, in_order, restore_order
from foundation.chunks import clear_output
from foundation.completion import mark_complete, mark_started, require_complete
from foundation.errors import ConfigError
from foundation.params import EngineParams


@dataclass(frozen=True)
class ScoringJob:
    """What a worker needs to build the scorer and score a partition (small, picklable)."""

    model_uri: str
    params: Path
    personas: Path
    sla: Path
    threshold: float | None
    threshold_path: Path | None
    as_of: datetime
    explain: bool = False
    chunk_size: int = 10_000
    source: str = "input"

    def scorer_key(self) -> tuple[Any, ...]:
        """Same job, same files as when the scorer was built: a worker of a long-lived
        cluster (`--scheduler`) rebuilds it when the agreement or threshold file changed."""
        return (
            self.model_uri,
            self.threshold,
            *(_stamp(p) for p in (self.params, self.personas, self.sla, self.threshold_path)),
        )


def _stamp(path: Path | None) -> tuple[Any, ...] | None:
    if path is None:
        return None
    try:
        stat = Path(path).stat()
    except OSError:
        return (str(path), None)
    return (str(path), stat.st_mtime_ns, stat.st_size)


_SCORERS: dict[tuple[Any, ...], Any] = {}


def worker_scorer(job: ScoringJob) -> Any:
    """The scorer of this worker process, built on first use: the model is loaded once per
    worker, not once per partition."""
    key = job.scorer_key()
    if key not in _SCORERS:
        from models.registry import load_lead_model
        from scoring.score_file import scoring_context
        from scoring.scorer import Scorer

        loaded = load_lead_model(job.model_uri)
        context = scoring_context(
            loaded.model, job.params, job.personas, job.sla, job.threshold, job.threshold_path
        )
        _SCORERS.clear()  # one model per worker at a time
        _SCORERS[key] = Scorer(loaded, context, batch_threads=1)  # Dask owns the parallelism
    return _SCORERS[key]


def score_partition(
    leads: pd.DataFrame,
    events: pd.DataFrame | None,
    stages: pd.DataFrame | None,
    job: ScoringJob,
    out: Path,
) -> dict[str, Any]:
    """Runs on a worker: score one partition, write its part, return its counts."""
    from scoring.score_file import prepare, score_prepared

    scorer = worker_scorer(job)
    leads = restore_order(leads)
    events = restore_order(events) if events is not None else None
    stages = restore_order(stages) if stages is not None else None
    prepared = prepare(leads, scorer, events, job.as_of, source=job.source, stages=stages)
    scores = score_prepared(
        scorer, prepared, job.as_of, explain=job.explain, chunk_size=job.chunk_size
    )
    write_part(scores, out)
    return {
        "scored": len(scores),
        "skipped": prepared.skipped,
        "mql": int((scores["decision"] == "mql").sum()) if len(scores) else 0,
        "kind": prepared.kind,
        "model": dict(scorer.model_ref),
        "notes": list(scorer.context.notes),
    }


def _read(path: Path) -> Any:
    import dask.dataframe as dd

    from foundation.chunks import CSV_TEXT

    path = Path(path).resolve()
    require_complete(path)
    if path.suffix == ".csv":
        return dd.read_csv(str(path), blocksize="64MB", **CSV_TEXT)
    return dd.read_parquet(str(path))


def score_partitioned(
    client: Any,
    input_path: Path,
    events_path: Path | None,
    stages_path: Path | None,
    out_dir: Path,
    job: ScoringJob,
    engine: EngineParams,
) -> dict[str, Any]:
    """Score `input_path` on the cluster into `out_dir` (a folder of part files); returns the
    totals (scored, skipped, mql, kind, model, notes)."""
    import dask

    if Path(out_dir).suffix != ".parquet":
        raise ConfigError(f"--out {out_dir}: the Dask engine writes Parquet parts (use .parquet)")
    leads = _read(input_path)
    if events_path is not None or stages_path is not None:
        threads = sum(client.nthreads().values()) or 1
        n = engine.partitions or max(threads, leads.npartitions)
        frames = [leads] + [_read(p) for p in (events_path, stages_path) if p is not None]
        parts = by_lead(client, frames, n)
        lead_parts = parts[0]
        event_parts = parts[1] if events_path is not None else [None] * n
        stage_parts = parts[-1] if stages_path is not None else [None] * n
    else:
        lead_parts = in_order(client, leads)
        event_parts = stage_parts = [None] * len(lead_parts)
    clear_output(out_dir)
    out_dir = Path(out_dir).resolve()
    mark_started(out_dir, "score")
    tasks = [
        dask.delayed(score_partition)(lp, ep, sp, job, out_dir / f"part-{i:05d}.parquet")
        for i, (lp, ep, sp) in enumerate(zip(lead_parts, event_parts, stage_parts, strict=True))
    ]
    results = gather(client, client.compute(tasks), f"scoring {input_path}")
    mark_complete(out_dir, "score")  # only now may a reader take the folder as the scores
    kinds = {r["kind"] for r in results if r["scored"]} or {results[0]["kind"]}
    return {
        "scored": sum(r["scored"] for r in results),
        "skipped": sum(r["skipped"] for r in results),
        "mql": sum(r["mql"] for r in results),
        "kind": "/".join(sorted(kinds)),
        "model": results[0]["model"],
        "notes": results[0]["notes"],
        "parts": len(results),
    }
