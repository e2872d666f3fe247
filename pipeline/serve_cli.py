"""`leadscore serve` (the HTTP service under uvicorn); `leadscore score` (a file, same scorer)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from foundation.errors import DataError, LeadscoreError
from pipeline.cli_support import default_input, fail
from pipeline.engine_options import EngineOption, SchedulerOption, engine_for

if TYPE_CHECKING:
    from foundation.params import EngineParams


def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Interface (default LEADSCORE_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port (default LEADSCORE_PORT or 8000).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes, one model each (default 1).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model URI (models:/name@alias) or model.joblib path. "
            "Default: LEADSCORE_MODEL_URI or models:/lead-propensity@champion."
        ),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="uvicorn log level (default info).")] = None,
    access_log: Annotated[bool, typer.Option(help="Log one line per request (no bodies).")] = True,
) -> None:
    """Serve the scoring API (FastAPI under uvicorn). Settings come from LEADSCORE_* variables;
    API keys from LEADSCORE_API_KEYS or LEADSCORE_API_KEYS_FILE."""
    import uvicorn

    from serve.errors import log_config
    from serve.settings import Settings

    if model is not None:
        # Workers are separate processes that build their own Settings from the environment.
        os.environ["LEADSCORE_MODEL_URI"] = model
    try:
        settings = Settings()
        if not settings.api_key_list():
            typer.secho(
                "warning: no API key configured (LEADSCORE_API_KEYS or LEADSCORE_API_KEYS_FILE): "
                "every /v1 call will get 401",
                fg=typer.colors.YELLOW,
                err=True,
            )
    except (LeadscoreError, ValueError) as exc:
        fail(str(exc))
    uvicorn.run(
        "serve.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port if port is not None else settings.port,
        workers=workers or settings.workers,
        log_level=log_level or settings.log_level,
        log_config=log_config(log_level or settings.log_level),  # the service's lines too
        access_log=access_log,
        limit_max_requests=None,
        limit_concurrency=settings.limit_concurrency,
        timeout_keep_alive=settings.timeout_keep_alive_s,
        backlog=settings.backlog,
    )


def score_command(
    input: Annotated[
        Path, typer.Argument(help="Leads, feature rows or a CRM export (.csv/.parquet).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the scores (.csv/.parquet).")],
    events: Annotated[
        Path | None, typer.Option(help="Events table, when INPUT is a leads table.")
    ] = None,
    stages: Annotated[
        Path | None,
        typer.Option(help="Stages table (funnel state), when INPUT is a leads table."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Score as of this time (ISO 8601, UTC if naive). Default: now."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Model URI or model.joblib path (default: as `leadscore serve`)."),
    ] = None,
    explain: Annotated[bool, typer.Option(help="Add the top reasons (slower).")] = False,
    params: Annotated[
        Path | None,
        typer.Option(help="Pipeline parameters (features). Default: params.yaml if present."),
    ] = None,
    personas: Annotated[
        Path | None, typer.Option(help="The agreed personas. Default: personas.yaml if present.")
    ] = None,
    sla: Annotated[
        Path | None,
        typer.Option(help="The agreement (decisions). Default: sla.yaml if present, else none."),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(min=0, max=100, help="MQL score threshold override (0-100).")
    ] = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows scored per step.")] = 10_000,
    engine: EngineOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Score a file with the service's scorer: one row per lead with probability, score, tier,
    grades, SLA decision and rule, follow-up deadline and expected value."""
    from foundation.params import load_params

    try:
        # Named files must exist; unnamed, the project's own are used when present (a model
        # from the registry carries its feature params and personas, so none is required).
        params = default_input(params, "--params", Path("params.yaml")) or Path("params.yaml")
        personas = default_input(personas, "--personas", Path("personas.yaml")) or Path(
            "personas.yaml"
        )
        sla = default_input(sla, "--sla", Path("sla.yaml"))
        chosen = engine_for(load_params(params, missing_ok=True).engine, engine, scheduler)
    except LeadscoreError as exc:
        fail(str(exc))
    if chosen.kind == "dask":
        _score_on_dask(
            input,
            out,
            events,
            stages,
            as_of,
            model,
            explain,
            params,
            personas,
            sla,
            threshold,
            chunk_size,
            chosen,
        )
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from foundation.io import read_table, write_table
    from models.registry import load_lead_model
    from scoring.score_file import prepare, score_prepared, scoring_context
    from scoring.scorer import Scorer
    from scoring.settings import ScoringSettings

    try:
        settings = ScoringSettings()
        when = _as_of(as_of)
        # The inputs first: a typo in a path should not wait for a model download.
        table = read_table(input)
        event_table = read_table(events) if events is not None else None
        stage_table = read_table(stages) if stages is not None else None
        loaded = load_lead_model(model or settings.model_uri)
        context = scoring_context(
            loaded.model, params, personas, sla, threshold, settings.threshold_path
        )
        scorer = Scorer(loaded, context, batch_threads=0)  # a file: all cores
        prepared = prepare(table, scorer, event_table, when, source=str(input), stages=stage_table)
        with Progress(
            TextColumn("scoring"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} leads"),
            TimeRemainingColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task("score", total=len(prepared.features))
            scores = score_prepared(
                scorer,
                prepared,
                when,
                explain=explain,
                chunk_size=chunk_size,
                progress=lambda n: bar.advance(task, n),
            )
        write_table(scores, out)
    except LeadscoreError as exc:
        fail(str(exc))
    skipped = f", {prepared.skipped} created after as_of skipped" if prepared.skipped else ""
    mqls = int((scores["decision"] == "mql").sum()) if len(scores) else 0
    typer.echo(
        f"scored {len(scores)} leads ({prepared.kind}){skipped} with {scorer.model_ref['name']} "
        f"version {scorer.model_ref['version']}; {mqls} MQL; wrote {out}"
    )
    for note in context.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)


def _score_on_dask(
    input: Path,
    out: Path,
    events: Path | None,
    stages: Path | None,
    as_of: str | None,
    model: str | None,
    explain: bool,
    params: Path,
    personas: Path,
    sla: Path | None,
    threshold: float | None,
    chunk_size: int,
    engine: EngineParams,
) -> None:
    """`leadscore score --engine dask`: the same scorer per partition (engine/score.py)."""
    from engine.cluster import dask_client
    from engine.score import ScoringJob, score_partitioned
    from scoring.settings import ScoringSettings

    try:
        settings = ScoringSettings()
        job = ScoringJob(
            model_uri=_absolute_if_file(str(model or settings.model_uri)),
            params=params.resolve(),
            personas=personas.resolve(),
            sla=(sla or Path("sla.yaml")).resolve(),  # absent: decisions skipped
            threshold=threshold,
            threshold_path=settings.threshold_path.resolve() if settings.threshold_path else None,
            as_of=_as_of(as_of),
            explain=explain,
            chunk_size=chunk_size,
            source=str(input),
        )
        for path in (input, events, stages):
            if path is not None and not path.exists():
                raise DataError(f"{path}: file not found")
        with dask_client(engine) as client:
            done = score_partitioned(client, input, events, stages, out, job, engine)
    except LeadscoreError as exc:
        fail(str(exc))
    skipped = f", {done['skipped']} created after as_of skipped" if done["skipped"] else ""
    typer.echo(
        f"scored {done['scored']} leads ({done['kind']}){skipped} with {done['model']['name']} "
        f"version {done['model']['version']}; {done['mql']} MQL; wrote {out} "
        f"({done['parts']} part files, engine dask)"
    )
    for note in done["notes"]:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)


def _absolute_if_file(uri: str) -> str:
    """A model given as a local path: absolute, since workers do not share this working folder."""
    return str(Path(uri).resolve()) if "://" not in uri and Path(uri).exists() else uri


def _as_of(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    from foundation.errors import ConfigError

    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--as-of {text!r} is not a time (expected ISO 8601, e.g. 2026-03-01T00:00:00Z)"
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
