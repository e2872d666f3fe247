"""`leadscore sla ...`: the agreement's monthly targets and the SLA report, from the command line.

A Typer sub-app wired into pipeline/cli.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from foundation import DEFAULT_PARAMS
from foundation.errors import LeadscoreError
from pipeline.cli_support import (
    ParamsOption,
    batch_command,
    load_params,
    new_app,
    user_errors,
)

sla_app = new_app("The marketing-sales agreement: monthly targets and the SLA report.")

SlaOption = Annotated[
    Path | None, typer.Option("--sla", help="Agreement file (default: paths.sla in params).")
]


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _print_targets(t: dict[str, Any]) -> None:
    typer.echo(f"Monthly revenue goal      {t['revenue_goal_eur']:>12,.0f} EUR")
    typer.echo(f"Average deal value        {t['avg_deal_value_eur']:>12,.0f} EUR")
    typer.echo(f"Lead -> customer rate     {t['conversion_rate']:>12.2%}")
    typer.echo(f"Lead value                {t['lead_value_eur']:>12,.2f} EUR")
    typer.echo(f"Customers needed          {t['customers_needed']:>12,}")
    if t["sqls_needed"] is not None:
        typer.echo(f"SQLs needed               {t['sqls_needed']:>12,}")
    if t["mqls_needed"] is not None:
        typer.echo(f"MQLs needed               {t['mqls_needed']:>12,}")
    typer.echo(f"Leads needed              {t['leads_needed']:>12,}")
    if t["cells"]:
        typer.echo(
            "\nper channel x persona (leads / MQLs / SQLs / customers needed, lead value EUR):"
        )
        for c in sorted(t["cells"], key=lambda c: -c["leads_needed"]):
            typer.echo(
                f"  {c['channel']:<15} {c['persona']:<17} {c['leads_needed']:>6} "
                f"{_count(c['mqls_needed']):>6} {_count(c['sqls_needed']):>5} "
                f"{c['customers_needed']:>4}  {c['lead_value_eur']:>9,.2f}  "
                f"(rate: {c['conversion_source']}, deal: {c['deal_value_source']})"
            )
    for name, source in t.get("sources", {}).items():
        typer.echo(f"  source {name}: {source}")


@sla_app.command()
@user_errors
def targets(
    params: ParamsOption = DEFAULT_PARAMS,
    sla: SlaOption = None,
    revenue_goal: Annotated[
        float | None, typer.Option("--revenue-goal", help="Monthly revenue goal (EUR).")
    ] = None,
    avg_deal: Annotated[
        float | None, typer.Option("--avg-deal", help="Average deal value (EUR).")
    ] = None,
    close_rate: Annotated[
        float | None, typer.Option("--close-rate", help="Lead -> customer rate, e.g. 0.05.")
    ] = None,
    mql_to_sql: Annotated[
        float | None, typer.Option("--mql-to-sql", help="MQL -> SQL rate (optional).")
    ] = None,
    sql_to_customer: Annotated[
        float | None, typer.Option("--sql-to-customer", help="SQL -> customer rate (optional).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Monthly targets: customers, SQLs, MQLs and leads needed, and what a lead is worth.

    With --revenue-goal, --avg-deal and --close-rate the targets come from those figures alone;
    otherwise from the agreement (sla.yaml) and, for `measured` figures, the validated history.
    """
    from sla.targets import Funnel, targets_from_figures

    figures = {"--revenue-goal": revenue_goal, "--avg-deal": avg_deal, "--close-rate": close_rate}
    given = [name for name, value in figures.items() if value is not None]
    if given:
        missing = [name for name in figures if name not in given]
        if missing:
            raise LeadscoreError(
                f"targets from figures need all of --revenue-goal, --avg-deal and --close-rate; "
                f"missing {', '.join(missing)}"
            )
        funnel = Funnel(mql_to_sql, sql_to_customer)
        result = targets_from_figures(revenue_goal, avg_deal, close_rate, funnel)  # type: ignore[arg-type]
    else:
        from pipeline.sla_data import targets_from_files

        result = targets_from_files(load_params(params), sla)
    out = result.to_dict()
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        _print_targets(out)


@sla_app.command()
@user_errors
@batch_command
def report(params: ParamsOption = DEFAULT_PARAMS, sla: SlaOption = None) -> None:
    """Monthly SLA report: targets vs. actuals per channel and persona, follow-up compliance,
    the MQL threshold and its backtest. Writes artifacts/sla/ and logs it to the MLflow run."""
    from pipeline.sla_report import main

    main(load_params(params), sla)
