"""`leadscore db ...`: look at and migrate the store of record (store/).

Opening the store migrates it anyway; `db upgrade` is for doing it on purpose (a deploy step,
before the dashboard and the daily job start) and `db status` for seeing where a database is.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli_support import new_app, user_errors

db_app = new_app("The store of record: migrate it and show its state.")

DbUrlOption = Annotated[
    str | None,
    typer.Option(
        "--db-url",
        help="SQLAlchemy URL of the store. Default: $LEADSCORE_DB_URL, else sqlite:///leadscore.db.",
    ),
]


@db_app.command("upgrade")
@user_errors
def upgrade(
    db_url: DbUrlOption = None,
    sql: Annotated[
        bool,
        typer.Option(
            "--sql", help="Print the SQL of the whole migration instead (for a DBA to apply)."
        ),
    ] = False,
) -> None:
    """Create the store or migrate it to this version's schema (Alembic head)."""
    from store import Store
    from store.migrations_config import head_revision

    if sql:
        from alembic import command

        from store.migrations_config import alembic_config
        from store.urls import resolve_url

        command.upgrade(alembic_config(resolve_url(db_url)), "head", sql=True)
        return
    with Store.open(db_url) as store:
        typer.echo(f"{store.url}: at revision {head_revision()} (head)")


@db_app.command("status")
@user_errors
def status(db_url: DbUrlOption = None) -> None:
    """Show the store's schema revision, its runs and its delivery outbox."""
    from store import Store

    with Store.open(db_url) as store:
        runs = store.runs()
        counts = store.outbox_counts()
        typer.echo(f"store: {store.url} (revision {store.revision()})")
        if runs.empty:
            typer.echo("runs: none yet")
        else:
            typer.echo(
                f"runs: {len(runs)}, {runs['run_date'].iloc[0]} .. {runs['run_date'].iloc[-1]}"
            )
        typer.echo("outbox: " + ", ".join(f"{n} {status}" for status, n in counts.items()))


@db_app.command("prune")
@user_errors
def prune(
    keep_days: Annotated[
        int,
        typer.Option(
            "--keep-days",
            min=1,
            help="Keep per-lead scores of the runs in the last N days (before the latest run).",
        ),
    ],
    db_url: DbUrlOption = None,
) -> None:
    """Delete old per-lead score rows (the store's growth); runs, hand-offs, flags and the
    outbox are kept."""
    from datetime import timedelta

    from store import Store

    with Store.open(db_url) as store:
        latest = store.last_run()
        if latest is None:
            typer.echo("no runs stored: nothing to prune")
            return
        before = latest.run_date - timedelta(days=keep_days)
        removed = store.prune_scores(before)
        typer.echo(f"deleted {removed} score row(s) of runs before {before}")
