"""`leadscore db ...`: look at and migrate the store of record (store/), and export from it
what the next retrain reads (`db closes`: the sales desk's closes).

Opening the store migrates it anyway; `db upgrade` is for doing it on purpose (a deploy step,
before the dashboard and the daily job start) and `db status` for seeing where a database is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from foundation.errors import ConfigError
from pipeline.cli_support import new_app, user_errors

db_app = new_app("The store of record: migrate it, show its state, export its closes.")

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


@db_app.command("closes")
@user_errors
def closes(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="File to write (.csv or .parquet): lead_id, reason, closed_at, by."
        ),
    ],
    reason: Annotated[
        list[str] | None,
        typer.Option(
            "--reason",
            metavar="REASON",
            help="Only leads whose latest close has this reason (repeat for several; default: "
            "every reason). `duplicate` is the list train.exclude_leads reads.",
        ),
    ] = None,
    db_url: DbUrlOption = None,
) -> None:
    """Export the leads the sales desk closed (the latest close of each), for the next
    retrain: `--reason duplicate` is the list `train.exclude_leads` leaves out."""
    from foundation.io import write_table
    from sales.closes import check_reasons, latest_closes
    from store import Store
    from store.actions import lead_actions

    asked = check_reasons(reason) if reason else None
    if out.suffix not in (".csv", ".parquet"):
        raise ConfigError(f"--out {out}: use a .csv or .parquet file")
    existing_store(db_url)
    with Store.open(db_url) as store:
        actions = lead_actions(store)
        listed = latest_closes(actions, asked)
        closed = latest_closes(actions)
        write_table(listed.assign(closed_at=listed["closed_at"].map(_iso)), out)
        which = f" with reason {', '.join(asked)}" if asked else ""
        typer.echo(
            f"wrote {out}: {len(listed)} lead(s){which}, of {len(closed)} closed lead(s) in "
            f"{store.url}"
        )


def _iso(ts: object) -> str:
    """A close's time as ISO 8601 UTC text, the same in CSV and Parquet."""
    import pandas as pd

    return pd.Timestamp(ts).tz_convert("UTC").isoformat()


def existing_store(db_url: str | None) -> None:
    """An export from a SQLite file that is not there is a typo or the wrong folder: opening it
    would create an empty store and write an empty list, and the retrain would exclude nothing."""
    from sqlalchemy.engine import make_url

    from store.urls import resolve_url

    url = make_url(resolve_url(db_url))
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file not in (None, "", ":memory:") and not Path(str(file)).exists():
        raise ConfigError(f"no store at {url.database} (--db-url, $LEADSCORE_DB_URL)")
