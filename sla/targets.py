"""Monthly targets from the agreement: arithmetic nobody argues about.

customers needed = revenue goal / average deal value; leads needed = customers / conversion rate;
lead value = average deal value x conversion rate; the funnel chain MQL -> SQL -> customer gives
the MQLs and SQLs needed. Split per channel x persona by the recent lead mix.

Arithmetic runs on exact fractions: in floats 5 / 0.05 may come out as 100.00000000000001, which
rounds up to 101 leads. Each whole count is its exact figure rounded up once; counts are never
derived from already-rounded counts, which would inflate them (3.34 customers -> 4 -> 80 leads,
where 67 leads meet the goal).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import pandas as pd

from sla import measure
from sla.agreement import MEASURED, Agreement
from sla.errors import SLAError
from sla.measure import DealValue, Rate


def exact(x: float | int | Fraction) -> Fraction:
    """The decimal a person typed (0.05), not its binary float (0.05000000000000000277)."""
    if isinstance(x, Fraction):
        return x
    return Fraction(repr(float(x))) if isinstance(x, float) else Fraction(x)


def whole_up(x: Fraction) -> int:
    """Round up to a whole count; exact, because `x` is a Fraction."""
    return math.ceil(x)


@dataclass(frozen=True)
class Funnel:
    mql_to_sql: float | None = None
    sql_to_customer: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CellInput:
    """One channel x persona cell: its recent lead count, conversion rate and deal value."""

    channel: str
    persona: str
    recent_leads: int
    conversion: Rate
    deal_value: DealValue


@dataclass(frozen=True)
class CellTarget:
    channel: str
    persona: str
    share: float
    conversion_rate: float
    conversion_source: str
    avg_deal_value_eur: float
    deal_value_source: str
    lead_value_eur: float
    leads_needed: int
    customers_needed: int
    sqls_needed: int | None
    mqls_needed: int | None
    revenue_eur: float


@dataclass(frozen=True)
class Targets:
    """The monthly targets; `cells` is empty when computed from three figures alone."""

    revenue_goal_eur: float
    avg_deal_value_eur: float
    conversion_rate: float
    customers_needed: int
    leads_needed: int
    lead_value_eur: float
    mql_to_sql: float | None
    sql_to_customer: float | None
    sqls_needed: int | None
    mqls_needed: int | None
    lead_to_mql: float | None  # implied: MQLs needed / leads needed
    cells: tuple[CellTarget, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cells"] = [asdict(c) for c in self.cells]
        out["sources"] = dict(self.sources)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Targets:
        """The inverse of to_dict: targets frozen in the store as JSON, back as Targets."""
        cells = tuple(CellTarget(**c) for c in data.get("cells") or ())
        rest = {k: v for k, v in data.items() if k not in ("cells", "sources")}
        return cls(**rest, cells=cells, sources=dict(data.get("sources") or {}))

    def cells_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(c) for c in self.cells])


def _check_positive(name: str, value: float | None) -> Fraction:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise SLAError(f"{name} is missing: give it in sla.yaml or on the command line")
    if not value > 0:
        raise SLAError(f"{name} must be above 0, got {value}")
    return exact(value)


def _check_rate(name: str, value: float | None) -> Fraction:
    rate = _check_positive(name, value)
    if rate > 1:
        raise SLAError(f"{name} must be a share in (0, 1], got {value}")
    return rate


def _funnel_counts(customers: Fraction, funnel: Funnel) -> tuple[Fraction | None, Fraction | None]:
    """Exact SQLs and MQLs needed for `customers`, or None where a funnel rate is not known."""
    if funnel.sql_to_customer is None:
        return None, None
    sqls = customers / _check_rate("funnel.sql_to_customer", funnel.sql_to_customer)
    if funnel.mql_to_sql is None:
        return sqls, None
    return sqls, sqls / _check_rate("funnel.mql_to_sql", funnel.mql_to_sql)


def _up(x: Fraction | None) -> int | None:
    return None if x is None else whole_up(x)


def apportion(exact: Sequence[Fraction]) -> list[int]:
    """Whole counts per cell that add up to the total rounded up (largest remainder).

    Each cell gets its exact need rounded down; the few units the total's rounding up adds go to
    the cells closest to their next whole unit (ties: the cell listed first). Rounding every cell
    up would ask for far more than the total: 45 cells each needing 0.1 customers would need 45
    customers, not 5.
    """
    floors = [math.floor(x) for x in exact]
    left = whole_up(sum(exact, Fraction(0))) - sum(floors)
    by_remainder = sorted(range(len(exact)), key=lambda i: (floors[i] - exact[i], i))
    for i in by_remainder[:left]:
        floors[i] += 1
    return floors


def _apportion_optional(exact: Sequence[Fraction | None]) -> list[int | None]:
    if any(x is None for x in exact):
        return [None] * len(exact)
    return list(apportion(exact))  # type: ignore[arg-type]


def targets_from_figures(
    revenue_goal_eur: float,
    avg_deal_value_eur: float,
    conversion_rate: float,
    funnel: Funnel = Funnel(),
) -> Targets:
    """Targets from three agreed figures (goal, deal value, lead -> customer rate)."""
    goal = _check_positive("revenue goal", revenue_goal_eur)
    deal = _check_positive("average deal value", avg_deal_value_eur)
    rate = _check_rate("conversion (close) rate", conversion_rate)
    customers = goal / deal
    leads = customers / rate
    sqls, mqls = _funnel_counts(customers, funnel)
    return Targets(
        revenue_goal_eur=float(goal),
        avg_deal_value_eur=float(deal),
        conversion_rate=float(rate),
        customers_needed=whole_up(customers),
        leads_needed=whole_up(leads),
        lead_value_eur=float(deal * rate),
        mql_to_sql=funnel.mql_to_sql,
        sql_to_customer=funnel.sql_to_customer,
        sqls_needed=_up(sqls),
        mqls_needed=_up(mqls),
        lead_to_mql=None if mqls is None else float(mqls / leads),
        sources=dict(funnel.sources),
    )


def split_targets(revenue_goal_eur: float, cells: Sequence[CellInput], funnel: Funnel) -> Targets:
    """Targets for the whole month and per channel x persona, split by the recent lead mix.

    With shares w, rates r and deal values v per cell, one lead is worth sum(w r v) on average,
    so leads needed = goal / sum(w r v); each cell gets its share w of them. This is the same as
    customers / conversion rate with the mix-weighted rate and deal value. Cell counts are the
    total's whole counts apportioned by the cells' exact figures, so they add up to the total;
    `revenue_eur` per cell is the exact expected revenue.
    """
    goal = _check_positive("revenue goal", revenue_goal_eur)
    total_recent = sum(c.recent_leads for c in cells)
    if total_recent <= 0:
        raise SLAError("lead mix is empty: no recent leads to split the targets by")
    shares = [Fraction(c.recent_leads, total_recent) for c in cells]
    rates = [exact(c.conversion.value) for c in cells]
    values = [exact(c.deal_value.eur) for c in cells]
    lead_value = sum(
        (w * r * v for w, r, v in zip(shares, rates, values, strict=True)), Fraction(0)
    )
    if lead_value == 0:
        raise SLAError(
            "every channel x persona converts at rate 0: no number of leads meets the goal"
        )
    leads = goal / lead_value
    conversion = sum((w * r for w, r in zip(shares, rates, strict=True)), Fraction(0))
    customers = leads * conversion
    sqls, mqls = _funnel_counts(customers, funnel)
    cell_leads = [leads * w for w in shares]
    cell_customers = [n * r for n, r in zip(cell_leads, rates, strict=True)]
    cell_funnel = [_funnel_counts(c, funnel) for c in cell_customers]
    whole_leads = apportion(cell_leads)
    whole_customers = apportion(cell_customers)
    whole_sqls = _apportion_optional([f[0] for f in cell_funnel])
    whole_mqls = _apportion_optional([f[1] for f in cell_funnel])
    out_cells = [
        CellTarget(
            channel=cell.channel,
            persona=cell.persona,
            share=float(w),
            conversion_rate=float(r),
            conversion_source=cell.conversion.source,
            avg_deal_value_eur=float(v),
            deal_value_source=cell.deal_value.source,
            lead_value_eur=float(r * v),
            leads_needed=whole_leads[i],
            customers_needed=whole_customers[i],
            sqls_needed=whole_sqls[i],
            mqls_needed=whole_mqls[i],
            revenue_eur=float(cell_customers[i] * v),
        )
        for i, (cell, w, r, v) in enumerate(zip(cells, shares, rates, values, strict=True))
    ]
    return Targets(
        revenue_goal_eur=float(goal),
        avg_deal_value_eur=float(lead_value / conversion),
        conversion_rate=float(conversion),
        customers_needed=whole_up(customers),
        leads_needed=whole_up(leads),
        lead_value_eur=float(lead_value),
        mql_to_sql=funnel.mql_to_sql,
        sql_to_customer=funnel.sql_to_customer,
        sqls_needed=_up(sqls),
        mqls_needed=_up(mqls),
        lead_to_mql=None if mqls is None else float(mqls / leads),
        cells=tuple(out_cells),
        sources=dict(funnel.sources),
    )


@dataclass(frozen=True)
class History:
    """The validated history the `measured` figures come from (docs/CONTRACTS.md columns)."""

    leads: pd.DataFrame
    stages: pd.DataFrame
    persona: pd.Series  # persona per lead_id (None: fits no persona)


def resolve_funnel(
    agreement: Agreement, outcomes: pd.DataFrame | None, window: measure.Window | None
) -> Funnel:
    """The MQL -> SQL and SQL -> customer rates: given, or measured over the maturity window."""
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    steps = {"mql_to_sql": ("mql", "sql"), "sql_to_customer": ("sql", "customer")}
    for name, (from_stage, to_stage) in steps.items():
        given = getattr(agreement.funnel, name)
        if given == MEASURED:
            if outcomes is None or window is None:
                raise SLAError(f"funnel.{name} is `measured` but no history was given")
            rate = measure.measured_funnel_rate(outcomes, window, from_stage, to_stage)
            values[name], sources[name] = rate.value, f"measured on {rate.leads} leads"
        else:
            values[name], sources[name] = float(given), "given"
    return Funnel(values["mql_to_sql"], values["sql_to_customer"], sources)


def targets_from_agreement(
    agreement: Agreement, history: History, personas: Mapping[str, float]
) -> Targets:
    """Targets per channel x persona from sla.yaml plus the history it says to measure.

    `personas` maps persona name -> agreed average deal value (personas.yaml), the fallback for
    a persona with too few won deals. The split always uses the recent lead mix from history.
    """
    settings = agreement.history
    outcomes = measure.lead_outcomes(history.leads, history.stages, history.persona)
    end = measure.data_end(history.leads, history.stages)
    recent = measure.recent_window(end, settings.months)
    mature = measure.recent_window(end, settings.months, settings.maturity_days)
    mix = measure.lead_mix(outcomes, recent)

    if agreement.conversion_rate == MEASURED:
        rates = measure.measured_conversion(outcomes, mature, settings.min_leads_per_cell)
    else:
        rates = measure.given_conversion(agreement.conversion_rate)

    needed = sorted(mix["persona"].unique())
    if agreement.avg_deal_value_eur == MEASURED:
        deals = measure.won_deals(history.stages, history.persona, recent)
        deal_values = measure.measured_deal_values(deals, personas, settings.min_won_deals, needed)
    else:
        deal_values = measure.given_deal_values(agreement.avg_deal_value_eur, personas, needed)

    cells = [
        CellInput(
            channel=row.channel,
            persona=row.persona,
            recent_leads=int(row.leads),
            conversion=rates.rate_for(row.channel, row.persona),
            deal_value=deal_values[row.persona],
        )
        for row in mix.itertuples(index=False)
    ]
    funnel = resolve_funnel(agreement, outcomes, mature)
    sources = {
        **funnel.sources,
        "lead_mix": f"leads created {recent.label()}",
        "conversion_rate": "given"
        if agreement.conversion_rate != MEASURED
        else f"measured on leads created {mature.label()}",
        "avg_deal_value_eur": "given"
        if agreement.avg_deal_value_eur != MEASURED
        else f"measured on deals won {recent.label()}",
    }
    targets = split_targets(agreement.revenue_goal_eur, cells, funnel)
    return Targets(**{**targets.__dict__, "sources": sources})
