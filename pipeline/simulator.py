"""Simulated CRM exports (leads, events, stages) plus the hidden truth, chunk by chunk.

Pure generation: no files. `simulate` yields one `SimulatedChunk` of Arrow tables per
world.LEADS_PER_CHUNK leads, so a million leads never sit in memory at once; `summarise` folds
the chunks' statistics into the figures the stage prints. Deterministic for a seed: lead creation
times come from the first child of SeedSequence(seed), chunk k from child k + 1.

How the world works (details in pipeline/simulation/*):
- leads.py: channel, kind (buyer, or a student / competitor / bot who is busy but never buys),
  firmographics (persona-targeted buyers mostly match a persona), persona fit, email domain;
- latent.py: a hidden interest trajectory per lead (rises, peaks, fades), follow-up delay, and
  daily MQL / SQL / disqualification intensities from intent, fit, channel quality, follow-up
  speed and the sales calendar;
- events.py: behaviour drawn from the same trajectory (recent activity is the informative kind);
- funnel.py: the stage times; truth.py: P(SQL in (T, T+H]) computed exactly from the intensities.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from features.persona import Personas
from foundation.params import SimulateParams
from pipeline.simulation import tables, world
from pipeline.simulation.calendar import Calendar, build_calendar, snapshot_dates
from pipeline.simulation.events import Events, draw_events
from pipeline.simulation.funnel import NEVER, FunnelTimes, contact_lag_days, draw_funnel
from pipeline.simulation.latent import draw_latent, intensities, interest, session_rate
from pipeline.simulation.leads import (
    Leads,
    Vocabulary,
    build_vocabulary,
    draw_created_seconds,
    draw_leads,
)
from pipeline.simulation.truth import snapshot_truth

DAY = world.SECONDS_PER_DAY
MATURE_COHORT_DAYS = 180  # funnel rates are measured on leads at least this old at the end
AUC_BINS = 2000  # p_true histogram resolution for the mergeable ceiling AUC
FOLLOWUP_BUCKETS_HOURS = (1.0, 24.0)  # <1 h, 1-24 h, > 24 h


@dataclass
class ChunkStats:
    """Additive statistics of one chunk; `merge` them and `summarise` at the end."""

    n_snapshots: int
    leads: int = 0
    events: int = 0
    stages: int = 0
    truth_rows: int = 0
    leads_without_events: int = 0
    duplicate_events: int = 0
    events_by_type: np.ndarray = field(default_factory=lambda: np.zeros(len(world.EVENT_TYPES)))
    cohort: np.ndarray = field(default_factory=lambda: np.zeros(6))  # leads, mql..customer
    customers: int = 0
    deal_value_eur: float = 0.0
    followup_contacted: np.ndarray = field(default_factory=lambda: np.zeros(3))
    followup_sql: np.ndarray = field(default_factory=lambda: np.zeros(3))
    snapshot_rows: np.ndarray | None = None
    snapshot_p: np.ndarray | None = None
    snapshot_positives: np.ndarray | None = None
    auc_pos: np.ndarray = field(default_factory=lambda: np.zeros(AUC_BINS))
    auc_neg: np.ndarray = field(default_factory=lambda: np.zeros(AUC_BINS))

    def __post_init__(self) -> None:
        for name in ("snapshot_rows", "snapshot_p", "snapshot_positives"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.n_snapshots))

    def merge(self, other: ChunkStats) -> ChunkStats:
        for name in self.__dataclass_fields__:
            if name != "n_snapshots":
                setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


@dataclass(frozen=True)
class SimulatedChunk:
    leads: pa.Table
    events: pa.Table
    stages: pa.Table
    truth: pa.Table
    stats: ChunkStats


def simulate(params: SimulateParams, personas: Personas) -> Iterator[SimulatedChunk]:
    calendar = build_calendar(params)
    vocab = build_vocabulary(personas)
    n_chunks = -(-params.n_leads // world.LEADS_PER_CHUNK)
    children = np.random.SeedSequence(params.seed).spawn(n_chunks + 1)
    created = draw_created_seconds(np.random.default_rng(children[0]), params.n_leads, calendar)
    for k in range(n_chunks):
        lo = k * world.LEADS_PER_CHUNK
        hi = min(lo + world.LEADS_PER_CHUNK, params.n_leads)
        rng = np.random.default_rng(children[k + 1])
        yield simulate_chunk(rng, created[lo:hi], lo, params, personas, vocab, calendar)


def simulate_chunk(
    rng: np.random.Generator,
    created_s: np.ndarray,
    first_index: int,
    params: SimulateParams,
    personas: Personas,
    vocab: Vocabulary,
    calendar: Calendar,
) -> SimulatedChunk:
    leads = draw_leads(rng, created_s, first_index, params, personas, vocab)
    latent = draw_latent(rng, leads, params)
    x = interest(latent, calendar.n_grid)
    rate = session_rate(leads, x, calendar)
    rates = intensities(leads, latent, x, rate, calendar)
    funnel = draw_funnel(rng, leads, latent, x, rates, personas)
    events = draw_events(rng, leads, latent, x, rate, funnel, calendar, params)
    del rate
    truth_rows, truth_snap, p_true = snapshot_truth(
        leads.created_s,
        funnel,
        rates,
        contact_lag_days(leads, latent),
        calendar.snapshot_days,
        calendar.horizon,
    )
    del rates, x

    ids = tables.lead_ids(first_index, leads.n, params.n_leads)
    stages = tables.stages_table(funnel, ids, calendar)
    stats = chunk_stats(leads, latent.followup_s, funnel, events, stages.num_rows, calendar)
    add_truth_stats(stats, funnel, truth_rows, truth_snap, p_true, calendar)
    return SimulatedChunk(
        leads=tables.leads_table(leads, ids, vocab, calendar),
        events=tables.events_table(events, ids, calendar),
        stages=stages,
        truth=tables.truth_table(truth_rows, truth_snap, p_true, ids, calendar),
        stats=stats,
    )


def _seen(ts: np.ndarray, end_s: int) -> np.ndarray:
    return (ts != NEVER) & (ts < end_s)


def chunk_stats(
    leads: Leads,
    followup_s: np.ndarray,
    funnel: FunnelTimes,
    events: Events,
    n_stages: int,
    calendar: Calendar,
) -> ChunkStats:
    end_s = calendar.n_days * DAY
    stats = ChunkStats(n_snapshots=len(calendar.snapshot_days))
    stats.leads = leads.n
    stats.events = events.n
    stats.stages = n_stages
    stats.leads_without_events = int(leads.n - len(np.unique(events.row)))
    same = (np.diff(events.row) == 0) & (np.diff(events.event_type) == 0)
    stats.duplicate_events = int((same & (np.diff(events.ts) <= world.DUPLICATE_WINDOW_S)).sum())
    stats.events_by_type = np.bincount(events.event_type, minlength=len(world.EVENT_TYPES))

    mature = leads.created_s < end_s - MATURE_COHORT_DAYS * DAY
    reached = [
        _seen(t, end_s) & mature
        for t in (funnel.mql_s, funnel.sql_s, funnel.opportunity_s, funnel.customer_s)
    ]
    contacted = _seen(funnel.contact_s, end_s) & mature
    stats.cohort = np.array(
        [mature.sum(), reached[0].sum(), contacted.sum(), *map(np.sum, reached[1:])]
    )
    won = _seen(funnel.customer_s, end_s)
    stats.customers = int(won.sum())
    stats.deal_value_eur = float(np.nansum(funnel.deal_value_eur[won]))

    bucket = np.searchsorted(np.array(FOLLOWUP_BUCKETS_HOURS) * 3600, followup_s)
    stats.followup_contacted = np.bincount(bucket[contacted], minlength=3)[:3]
    sql = contacted & _seen(funnel.sql_s, end_s)
    stats.followup_sql = np.bincount(bucket[sql], minlength=3)[:3]
    return stats


def add_truth_stats(
    stats: ChunkStats,
    funnel: FunnelTimes,
    rows: np.ndarray,
    snapshot: np.ndarray,
    p_true: np.ndarray,
    calendar: Calendar,
) -> None:
    """Per snapshot: population, mean p_true, realised SQL in the horizon; histogram for AUC."""
    stats.truth_rows = len(rows)
    n = stats.n_snapshots
    t_s = calendar.snapshot_days.astype(np.int64)[snapshot] * DAY
    sql_s = funnel.sql_s[rows]
    label = (sql_s != NEVER) & (sql_s > t_s) & (sql_s <= t_s + calendar.horizon * DAY)
    stats.snapshot_rows = np.bincount(snapshot, minlength=n).astype(float)
    stats.snapshot_p = np.bincount(snapshot, weights=p_true, minlength=n)
    stats.snapshot_positives = np.bincount(snapshot, weights=label, minlength=n)
    complete = calendar.snapshot_days[snapshot] + calendar.horizon <= calendar.n_days
    bins = np.minimum((np.sqrt(p_true) * AUC_BINS).astype(np.int64), AUC_BINS - 1)
    stats.auc_pos = np.bincount(bins[complete & label], minlength=AUC_BINS).astype(float)
    stats.auc_neg = np.bincount(bins[complete & ~label], minlength=AUC_BINS).astype(float)


def binned_auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """AUC from score histograms (ties within a bin count one half)."""
    if pos.sum() == 0 or neg.sum() == 0:
        return None
    neg_below = np.cumsum(neg) - neg
    return float((pos * (neg_below + neg / 2)).sum() / (pos.sum() * neg.sum()))


def _rate(num: float, den: float) -> float | None:
    return round(float(num) / float(den), 4) if den else None


def summarise(stats: ChunkStats, params: SimulateParams) -> dict[str, Any]:
    calendar = build_calendar(params)
    leads, mql, contacted, sql, opp, won = stats.cohort
    complete = calendar.snapshot_days + calendar.horizon <= calendar.n_days
    per_snapshot = {
        str(day): {
            "rows": int(rows),
            "mean_p_true": _rate(p, rows),
            "positive_rate": _rate(pos, rows) if ok else None,
        }
        for day, rows, p, pos, ok in zip(
            snapshot_dates(calendar),
            stats.snapshot_rows,
            stats.snapshot_p,
            stats.snapshot_positives,
            complete,
            strict=True,
        )
    }
    followup = {
        label: _rate(s, c)
        for label, s, c in zip(
            ("under_1h", "1h_to_24h", "over_24h"),
            stats.followup_sql,
            stats.followup_contacted,
            strict=True,
        )
    }
    return {
        "rows": {
            "leads": stats.leads,
            "events": stats.events,
            "stages": stats.stages,
            "truth": stats.truth_rows,
        },
        "events_per_lead": _rate(stats.events, stats.leads),
        "share_leads_without_events": _rate(stats.leads_without_events, stats.leads),
        "duplicate_events": stats.duplicate_events,
        "events_by_type": dict(zip(world.EVENT_TYPES, map(int, stats.events_by_type), strict=True)),
        "funnel_rates": {  # leads created at least MATURE_COHORT_DAYS before the end
            "cohort_leads": int(leads),
            "lead_to_mql": _rate(mql, leads),
            "mql_to_contacted": _rate(contacted, mql),
            "mql_to_sql": _rate(sql, mql),
            "sql_to_opportunity": _rate(opp, sql),
            "opportunity_to_customer": _rate(won, opp),
        },
        "sql_rate_by_followup": followup,
        "customers": stats.customers,
        "mean_deal_value_eur": _rate(stats.deal_value_eur, stats.customers),
        "ceiling_auc": binned_auc(stats.auc_pos, stats.auc_neg),
        "snapshots": per_snapshot,
    }
