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


@crm_app.command("push")
@user_errors
def push(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="The CRM configuration. Default: $LEADSCORE_CRM_CONFIG, else crm.yaml."
        ),
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option("--db-url", help="The store. Default: $LEADSCORE_DB_URL, else leadscore.db."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--date", help="The run to push (YYYY-MM-DD). Default: the last.")
    ] = None,
) -> None:
    """Write the last daily run's scores onto the HubSpot contacts they came from (score, tier,
    reasons, model version, scored at). Exit 1 when some records failed, 2 when HubSpot
    refused the token or cannot be configured."""
    from datetime import date

    from crm.config import load_crm_config, secret_from_env
    from crm.push import push_hubspot, push_lines
    from foundation.errors import ConfigError
    from store import Store

    loaded = load_crm_config(config)
    if loaded.hubspot is None:
        raise ConfigError("crm.yaml has no hubspot: section: nothing to push to")
    token = secret_from_env(loaded.hubspot.token_env, "hubspot.token_env")
    with Store.open(db_url) as store:
        result = push_hubspot(
            store, loaded.hubspot, token, date.fromisoformat(as_of) if as_of else None
        )
    for line in push_lines(result):
        typer.echo(line)
    report = result.report
    if report.stopped:
        from crm.check import CrmCheckError

        raise CrmCheckError(f"hubspot: {report.stopped}")
    if report.failed:
        raise typer.Exit(1)
