"""Figures measured from the CRM history: conversion rates, funnel rates, deal values, lead mix.

Pure functions over the validated leads and stages tables (docs/CONTRACTS.md) plus one persona
label per lead. A rate measured on a handful of leads is noise that would swing next month's
targets, so a thin channel x persona cell falls back to its channel, and a thin channel to the
overall rate; each figure says which source it came from, so both teams can see it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from sla.agreement import GivenRates
from sla.errors import SLAError

# Funnel order: reaching a later stage means the lead passed the earlier ones, even when the CRM
# skipped a row (a deal won straight from a demo still counts as an SQL). `contacted` is a sales
# touch and `disqualified` an exit, so neither has a rank.
FUNNEL_RANK = {"visitor": 0, "prospect": 1, "mql": 2, "sql": 3, "opportunity": 4, "customer": 5}
NO_PERSONA = "none"  # the persona label of a lead that matches none of personas.yaml
OTHER_PERSONA = "other"  # key in a given deal-value mapping used for personas not listed
CELL = ("channel", "persona")
# A month counts as complete once the data reaches its last day: an export taken at 23:59 on the
# 31st must not wait for midnight.
COMPLETE_MONTH_GRACE = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """Half-open time window [start, end) of whole months, in UTC."""

    start: pd.Timestamp
    end: pd.Timestamp

    def contains(self, ts: pd.Series) -> pd.Series:
        return (ts >= self.start) & (ts < self.end)

    def label(self) -> str:
        last = self.end - pd.DateOffset(months=1)
        return f"{self.start:%Y-%m}..{last:%Y-%m}"


@dataclass(frozen=True)
class Rate:
    value: float
    leads: int  # the denominator it was measured on (0 when given)
    source: str  # cell | channel | overall | given


@dataclass(frozen=True)
class RateTable:
    """Lead -> customer rates with the fallback cell -> channel -> overall already applied."""

    overall: Rate
    channels: Mapping[str, Rate]
    cells: Mapping[tuple[str, str], Rate]

    def rate_for(self, channel: str, persona: str) -> Rate:
        return self.cells.get((channel, persona)) or self.channels.get(channel) or self.overall


@dataclass(frozen=True)
class DealValue:
    eur: float
    won_deals: int
    source: str  # measured | personas.yaml | overall | given


def month_start(ts: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.normalize() - pd.Timedelta(days=ts.day - 1)


def data_end(leads: pd.DataFrame, stages: pd.DataFrame) -> pd.Timestamp:
    """The latest time the history knows about (a lead created or a stage reached)."""
    stamps = [leads["created_at"].max(), stages["ts"].max() if len(stages) else pd.NaT]
    stamps = [s for s in stamps if not pd.isna(s)]
    if not stamps:
        raise SLAError("history is empty: no leads or stages to measure from (run validate)")
    return max(stamps)


def recent_window(end_of_data: pd.Timestamp, months: int, maturity_days: int = 0) -> Window:
    """The last `months` complete months, ending `maturity_days` before the data ends."""
    cut = end_of_data + COMPLETE_MONTH_GRACE - pd.Timedelta(days=maturity_days)
    end = month_start(cut)
    return Window(end - pd.DateOffset(months=months), end)


def persona_labels(persona: pd.Series) -> pd.Series:
    """Persona per lead_id as plain strings, `none` where the lead fits no persona."""
    return persona.astype(object).where(persona.notna(), NO_PERSONA).astype(str)


def lead_outcomes(leads: pd.DataFrame, stages: pd.DataFrame, persona: pd.Series) -> pd.DataFrame:
    """One row per lead: created_at, channel, persona and the furthest funnel rank it reached.

    `persona` is indexed by lead_id (features.persona gives it); a lead missing from it is `none`.
    """
    out = leads[["lead_id", "created_at", "channel"]].copy()
    out["channel"] = out["channel"].astype(object).where(out["channel"].notna(), "unknown")
    labels = persona_labels(persona)
    out["persona"] = out["lead_id"].map(labels).fillna(NO_PERSONA).astype(str)
    ranks = stages["stage"].map(FUNNEL_RANK)
    furthest = ranks.groupby(stages["lead_id"]).max()
    out["rank"] = out["lead_id"].map(furthest).fillna(-1).astype(int)
    return out.reset_index(drop=True)


def reached(outcomes: pd.DataFrame, stage: str) -> pd.Series:
    return outcomes["rank"] >= FUNNEL_RANK[stage]


def cohort(outcomes: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Leads created in the window: the denominator of every measured rate."""
    return outcomes[window.contains(outcomes["created_at"])]


def _rate(converted: int, leads: int, source: str) -> Rate:
    return Rate(converted / leads if leads else 0.0, int(leads), source)


def measured_conversion(
    outcomes: pd.DataFrame, window: Window, min_leads: int, stage: str = "customer"
) -> RateTable:
    """Lead -> `stage` rates per channel x persona over the leads created in `window`.

    A cell with fewer than `min_leads` leads takes its channel's rate; a channel with fewer takes
    the overall rate. No leads, or no conversion at all, is an SLAError (targets would be infinite).
    """
    rows = cohort(outcomes, window).assign(won=lambda d: reached(d, stage))
    if rows.empty:
        raise SLAError(
            f"conversion_rate: no leads created in {window.label()} to measure from; "
            "give the rate in sla.yaml or lower history.maturity_days"
        )
    overall = _rate(int(rows["won"].sum()), len(rows), "overall")
    if overall.value == 0:
        raise SLAError(
            f"conversion_rate: none of the {overall.leads} leads created in {window.label()} "
            f"reached {stage}; the measured rate is 0, so targets would be infinite: "
            "give conversion_rate in sla.yaml"
        )
    by_channel = rows.groupby("channel")["won"].agg(["sum", "size"])
    channels = {
        ch: _rate(int(r["sum"]), int(r["size"]), "channel")
        for ch, r in by_channel.iterrows()
        if r["size"] >= min_leads
    }
    by_cell = rows.groupby(list(CELL))["won"].agg(["sum", "size"])
    cells = {
        key: _rate(int(r["sum"]), int(r["size"]), "cell")
        for key, r in by_cell.iterrows()
        if r["size"] >= min_leads
    }
    return RateTable(overall, channels, cells)


def given_conversion(rates: GivenRates) -> RateTable:
    """The agreed rates in the same shape as measured ones (cell -> channel -> overall)."""
    return RateTable(
        overall=Rate(rates.overall, 0, "given"),
        channels={ch: Rate(r, 0, "given") for ch, r in rates.channels.items()},
        cells={
            (ch, p): Rate(r, 0, "given")
            for ch, per_persona in rates.cells.items()
            for p, r in per_persona.items()
        },
    )


def measured_funnel_rate(
    outcomes: pd.DataFrame, window: Window, from_stage: str, to_stage: str
) -> Rate:
    """Share of the window's leads that reached `from_stage` and went on to `to_stage`."""
    rows = cohort(outcomes, window)
    base = reached(rows, from_stage)
    name = f"{from_stage}_to_{to_stage}"
    if not base.any():
        raise SLAError(
            f"funnel.{name}: no lead created in {window.label()} reached {from_stage}; "
            f"give funnel.{name} in sla.yaml"
        )
    rate = _rate(int(reached(rows[base], to_stage).sum()), int(base.sum()), "overall")
    if rate.value == 0:
        raise SLAError(
            f"funnel.{name}: none of the {rate.leads} leads that reached {from_stage} in "
            f"{window.label()} reached {to_stage} (rate 0); give funnel.{name} in sla.yaml"
        )
    return rate


def won_deals(stages: pd.DataFrame, persona: pd.Series, window: Window) -> pd.DataFrame:
    """Customer rows won in the window with a deal value: lead_id, persona, deal_value_eur."""
    won = stages[(stages["stage"] == "customer") & window.contains(stages["ts"])]
    won = won[won["deal_value_eur"].notna()].drop_duplicates("lead_id", keep="first")
    labels = persona_labels(persona)
    return pd.DataFrame(
        {
            "lead_id": won["lead_id"].to_numpy(),
            "persona": won["lead_id"].map(labels).fillna(NO_PERSONA).astype(str).to_numpy(),
            "deal_value_eur": won["deal_value_eur"].astype(float).to_numpy(),
        }
    )


def measured_deal_values(
    deals: pd.DataFrame, personas: Mapping[str, float], min_won: int, needed: list[str]
) -> dict[str, DealValue]:
    """Average deal value per persona in `needed`: measured when at least `min_won` deals,
    else the agreed personas.yaml figure, else (a lead fitting no persona) the overall average."""
    if deals.empty:
        raise SLAError(
            "avg_deal_value_eur: no won deal with a value in the history window; "
            "give avg_deal_value_eur in sla.yaml"
        )
    overall = DealValue(float(deals["deal_value_eur"].mean()), len(deals), "overall")
    stats = deals.groupby("persona")["deal_value_eur"].agg(["mean", "size"])
    out: dict[str, DealValue] = {}
    for name in needed:
        if name in stats.index and stats.loc[name, "size"] >= min_won:
            out[name] = DealValue(
                float(stats.loc[name, "mean"]), int(stats.loc[name, "size"]), "measured"
            )
        elif name in personas:
            n = int(stats.loc[name, "size"]) if name in stats.index else 0
            out[name] = DealValue(float(personas[name]), n, "personas.yaml")
        else:
            out[name] = overall
    return out


def given_deal_values(
    given: Mapping[str, float], personas: Mapping[str, float], needed: list[str]
) -> dict[str, DealValue]:
    """Agreed deal values: the sla.yaml mapping, then personas.yaml, then the `other` entry."""
    out: dict[str, DealValue] = {}
    for name in needed:
        if name in given:
            out[name] = DealValue(given[name], 0, "given")
        elif name in personas:
            out[name] = DealValue(float(personas[name]), 0, "personas.yaml")
        elif OTHER_PERSONA in given:
            out[name] = DealValue(given[OTHER_PERSONA], 0, "given")
        else:
            raise SLAError(
                f"avg_deal_value_eur: no deal value for persona {name!r} (not in sla.yaml nor "
                f"personas.yaml); add it, or an `{OTHER_PERSONA}` entry, to avg_deal_value_eur"
            )
    return out


def lead_mix(outcomes: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Lead counts per channel x persona over the window (the split of the lead target)."""
    rows = cohort(outcomes, window)
    if rows.empty:
        raise SLAError(f"lead mix: no leads created in {window.label()} (run validate?)")
    return rows.groupby(list(CELL)).size().rename("leads").reset_index()
