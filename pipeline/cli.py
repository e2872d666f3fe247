"""The `leadscore` command line: one command per pipeline stage, plus SLA, scoring and serving.

Each command is a thin shell: it loads params.yaml once, calls the stage's `main`, and turns
a LeadscoreError into one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from foundation import DEFAULT_PARAMS
from pipeline.cli_support import (
    ParamsOption,
    batch_command,
    existing_input,
    load_params,
    new_app,
    user_errors,
)
from pipeline.crm_cli import crm_app
from pipeline.engine_options import EngineOption, SchedulerOption, engine_for
from pipeline.events_cli import events_app
from pipeline.serve_cli import score_command, serve_command
from pipeline.sla_cli import sla_app
from pipeline.store_cli import db_app

app = new_app("leadscore: calibrated lead scoring tied to the marketing-sales SLA.")


@app.command()
@user_errors
@batch_command
def simulate(params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Write realistic simulated CRM data (leads, events, stages, personas) into data/raw/."""
    from pipeline import simulate as stage

    stage.main(load_params(params))


@app.command()
@user_errors
@batch_command
def validate(
    params: ParamsOption = DEFAULT_PARAMS,
    raw: Annotated[
        Path | None, typer.Option(help="Folder with leads/events/stages (.csv or .parquet).")
    ] = None,
    engine: EngineOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Check raw data against the data contract; bad rows go to quarantine with the reason."""
    from pipeline import validate as stage

    loaded = load_params(params)
    existing_input(raw, "--raw")
    stage.main(loaded, raw_dir=raw, engine=engine_for(loaded.engine, engine, scheduler))


@app.command()
@user_errors
@batch_command
def features(
    params: ParamsOption = DEFAULT_PARAMS,
    engine: EngineOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Build the point-in-time training table: monthly snapshots, features as of each, labels."""
    from pipeline import features as stage

    loaded = load_params(params)
    stage.main(loaded, engine=engine_for(loaded.engine, engine, scheduler))


@app.command()
@user_errors
@batch_command
def train(params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Train the calibrated LightGBM model and the baselines; log the run to MLflow."""
    from pipeline import train as stage

    stage.main(load_params(params))


@app.command()
@user_errors
@batch_command
def evaluate(params: ParamsOption = DEFAULT_PARAMS) -> None:
    """Score the test snapshot: metrics and plots for the model, baselines and the ceiling."""
    from pipeline import evaluate as stage

    stage.main(load_params(params))


@app.command()
@user_errors
@batch_command
def register(
    params: ParamsOption = DEFAULT_PARAMS,
    accept_shift: Annotated[
        str | None,
        typer.Option(
            "--accept-shift",
            help="Promote even though the challenger's scores or MQL volume move beyond the "
            "registry limits; the reason is recorded on the model version.",
        ),
    ] = None,
) -> None:
    """Register the model version, set `challenger`, promote to `champion` if not worse."""
    from pipeline import register as stage

    stage.main(load_params(params), accept_shift=accept_shift)


@app.command()
@user_errors
@batch_command
def drift(
    params: ParamsOption = DEFAULT_PARAMS,
    as_of: Annotated[
        datetime | None,
        typer.Option("--as-of", help="Open leads as of this time (default: the end of the data)."),
    ] = None,
) -> None:
    """Population stability: today's open leads against the champion's training reference."""
    import pandas as pd

    from pipeline import drift as stage

    stage.main(load_params(params), as_of=None if as_of is None else pd.Timestamp(as_of, tz="UTC"))


@app.command()
@user_errors
def daily(
    params: ParamsOption = DEFAULT_PARAMS,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Run date YYYY-MM-DD (cut-off 00:00 UTC that day). Default: today, UTC."
        ),
    ] = None,
    replay: Annotated[
        bool, typer.Option("--replay", help="Allow a date before the latest stored run.")
    ] = False,
    engine: EngineOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Score every open lead with the champion; write the day's hand-off, returning leads,
    overdue follow-ups and month-to-date recap; store the run; deliver (never retrains)."""
    from pipeline import daily_cli as stage

    loaded = load_params(params)
    stage.run_in_terminal(
        loaded,
        as_of,
        replay,
        engine=engine_for(loaded.engine, engine, scheduler),
        params_path=params,
    )


app.add_typer(sla_app, name="sla")
app.command("serve")(serve_command)
app.command("score")(score_command)
app.add_typer(db_app, name="db")
app.add_typer(crm_app, name="crm")
app.add_typer(events_app, name="events")


@app.command()
@user_errors
def deliver(
    params: ParamsOption = DEFAULT_PARAMS,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="Webhook URL. Default: $LEADSCORE_WEBHOOK_URL, else daily.webhook_url."
        ),
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="First re-queue failed-permanent items (receiver fixed)."
        ),
    ] = False,
) -> None:
    """Re-send the hand-offs still pending in the outbox to the webhook (signed, at least
    once; the receiver deduplicates by Idempotency-Key). Exit 1 if any failed permanently."""
    from pipeline import deliver as stage

    if stage.main(load_params(params), url=url, retry_failed=retry_failed):
        raise typer.Exit(1)


@app.command()
@user_errors
def init(
    directory: Annotated[Path, typer.Argument(help="The project folder to write.")],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Folder with the exports (leads, events, stages)."),
    ] = None,
) -> None:
    """Write a project folder for your own exports: params.yaml, dvc.yaml, sla.yaml,
    personas.yaml and a mapping template listing the exports' columns and names."""
    from pipeline.init_project import init_project

    for path in init_project(directory, data):
        typer.echo(f"wrote {path}")
    typer.echo(f"next: edit {directory / 'mapping.yaml'}, then in {directory}:")
    typer.echo("  dvc init --no-scm && dvc repro")


@app.command("train-table")
@user_errors
def train_table(
    data: Annotated[Path, typer.Argument(help="Lead table, one row per lead (.csv or .parquet).")],
    mapping: Annotated[
        Path, typer.Option("--mapping", help="Mapping YAML: id, label, positive, exclude, ...")
    ],
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse to train while leaky columns are used.")
    ] = False,
    model_name: Annotated[
        str | None, typer.Option("--model-name", help="Registered model name (else the mapping's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    tune: Annotated[
        int | None,
        typer.Option(
            "--tune",
            metavar="N",
            help="Tune LightGBM with N Optuna trials inside each outer fold (nested CV) and "
            "once more on all rows for the final model; trials are MLflow child runs.",
        ),
    ] = None,
    tune_minutes: Annotated[
        float | None,
        typer.Option(
            "--tune-minutes",
            metavar="M",
            help="Time budget for all the tuning, shared by the searches (alone: trials "
            "until time runs out).",
        ),
    ] = None,
) -> None:
    """Train and cross-validate the calibrated model on a flat CRM export; log and register it."""
    from pipeline import train_table as stage

    existing_input(data, "DATA")
    existing_input(mapping, "--mapping")
    stage.main(
        data,
        mapping,
        strict=strict,
        model_name=model_name,
        as_json=as_json,
        tune_trials=tune,
        tune_minutes=tune_minutes,
    )


if __name__ == "__main__":
    app()
