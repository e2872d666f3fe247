"""`--engine` and `--scheduler`, shared by `validate`, `features`, `score` and `daily`: they
override params.yaml's `engine` section for one run (no Dask import here: --help stays fast)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # pydantic is imported when a command runs, not for --help
    from foundation.params import EngineParams

EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="pandas (this process, chunk by chunk) or dask (a cluster). Default: params engine.",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address (tcp://host:8786); implies --engine dask. "
        "Default: params engine.scheduler, else a LocalCluster sized to this machine.",
    ),
]


def engine_for(
    engine: EngineParams, kind: str | None = None, scheduler: str | None = None
) -> EngineParams:
    """params.yaml's engine with the command line's choices on top (validated like the file)."""
    update: dict[str, object] = {}
    if kind is not None:
        update["kind"] = kind
    if scheduler is not None:
        update["scheduler"] = scheduler
        update.setdefault("kind", "dask")
    if not update:
        return engine
    from pydantic import ValidationError

    from foundation.errors import ConfigError
    from foundation.params import EngineParams, format_validation_error

    try:
        return EngineParams.model_validate(engine.model_dump() | update)
    except ValidationError as exc:
        raise ConfigError(format_validation_error("--engine/--scheduler", exc)) from None
