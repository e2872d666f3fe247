"""What every `leadscore` command shares: the --params option and the error wrapper that turns
a LeadscoreError into one clear line on stderr and exit code 2 instead of a traceback.

Its own module so that sub-apps (pipeline/sla_cli.py, pipeline/serve_cli.py) can use it while
pipeline/cli.py imports them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from foundation.batch_gc import batch_gc
from foundation.errors import LeadscoreError

if TYPE_CHECKING:
    from foundation.params import Params

USER_ERROR_EXIT = 2

ParamsOption = Annotated[
    Path, typer.Option("--params", help="Pipeline parameters file.", show_default=True)
]


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        # Plain click help: rich's help renderer costs a third of a second per `--help`.
        rich_markup_mode=None,
    )


def fail(message: str, code: int = USER_ERROR_EXIT) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a LeadscoreError as one clear message and exit 2, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LeadscoreError as exc:
            fail(str(exc))
        except Exception as exc:
            if not is_database_loss(exc):
                raise
            # The database went away mid-run (PostgreSQL stopped, the network cut): one line,
            # not a traceback. Every write is one transaction, so nothing is half-written.
            fail(
                f"the store of record became unreachable during the run ({first_line(exc)}): "
                "nothing was half-written; run the command again once the database is back "
                "(pending deliveries keep their keys and are re-sent, deduplicated)"
            )

    return wrapper


def is_database_loss(exc: BaseException) -> bool:
    """A connection-level database failure (not a bug): SQLAlchemy's OperationalError or
    InterfaceError. sqlalchemy is only looked up if some command already imported it."""
    import sys

    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None:
        return False
    return isinstance(exc, errors.OperationalError | errors.InterfaceError)


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def batch_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """For a command that runs once and exits (the DVC stages): the garbage collector stops
    re-walking the stage's imports and skips its shutdown pass (foundation/batch_gc.py)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with batch_gc():
            return func(*args, **kwargs)

    return wrapper


def load_params(path: Path) -> Params:
    """params.yaml as typed params, imported on first use: `--help` never pays for pydantic.
    A missing file stops the command before it reads or writes anything (exit 2). The event
    families the last validation found are folded in (pipeline/mapped_exports.py)."""
    from foundation.params import load_params as load
    from pipeline.mapped_exports import with_event_families

    existing_input(path, "--params")
    return with_event_families(load(path))


def existing_input(path: Path | None, option: str) -> Path | None:
    """An input named on the command line (or its default) must exist: a typo is an error naming
    it, never a silent fallback that then reads or writes other files."""
    if path is not None and not Path(path).exists():
        from foundation.errors import ConfigError

        raise ConfigError(f"{option} {path}: no such file or folder")
    return path


def default_input(path: Path | None, option: str, default: Path) -> Path | None:
    """An optional input: the one named must exist; unnamed, the default is used if present."""
    if path is not None:
        return existing_input(path, option)
    return default if default.exists() else None
