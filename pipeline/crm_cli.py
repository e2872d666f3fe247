"""`leadscore crm ...`: the CRM connections crm.yaml describes (crm/, docs/crm.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli_support import new_app, user_errors

crm_app = new_app("CRM connections (crm.yaml): check them.")


@crm_app.command("check")
@user_errors
def check(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="The CRM configuration. Default: $LEADSCORE_CRM_CONFIG, else crm.yaml."
        ),
    ] = None,
) -> None:
    """Read crm.yaml, try each CRM's connection and print what was found. Exit 2 with one line
    when the file is wrong, a secret is unset, or a CRM cannot be reached or refuses the token."""
    from crm.check import check as run_check
    from crm.config import load_crm_config

    run_check(load_crm_config(config), typer.echo)
