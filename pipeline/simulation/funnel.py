"""Funnel transitions drawn from the latent intensities: mql -> contacted -> sql -> opportunity
-> customer, with `disqualified` ending any of them.

The order of draws is the one truth.py integrates over, day by day:
1. MQL: first day with an MQL event under intensity `mql` from the creation day on.
2. Contact: MQL time + the lead's follow-up delay (a latent, per lead; some are never called).
3. From the contact day on, SQL and disqualification compete; on the day of the first of them it
   is SQL with probability h_sql / h_any (SQL is checked first each day).
4. After SQL, opportunity/customer/lost follow fit and intent with lognormal delays (they do not
   enter the truth, which is about SQL).
Times are seconds since the calendar start; -1 means "never" (or beyond the simulated grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.persona import Personas
from pipeline.simulation import world
from pipeline.simulation.latent import Intensities, Latent
from pipeline.simulation.leads import Leads
from pipeline.simulation.search import first_at_least

DAY = world.SECONDS_PER_DAY
NEVER = -1


@dataclass(frozen=True)
class FunnelTimes:
    mql_s: np.ndarray  # int64 seconds since start, NEVER if none
    contact_s: np.ndarray
    sql_s: np.ndarray
    sql_dq_s: np.ndarray  # disqualified before SQL (after contact)
    opportunity_s: np.ndarray
    customer_s: np.ndarray
    lost_s: np.ndarray  # disqualified after SQL (no opportunity, or closed lost)
    deal_value_eur: np.ndarray  # float64, NaN unless customer


def first_event_day(
    rng: np.random.Generator, intensity: np.ndarray, start_day: np.ndarray
) -> np.ndarray:
    """First day >= start_day with an event, for per-day intensities; -1 if none on the grid.

    P(no event on days start..d) = exp(-sum intensity[start..d]), drawn by inversion: one
    exponential per lead against the cumulative intensity from its start day.
    """
    n, n_grid = intensity.shape
    cum = np.cumsum(intensity, axis=1)
    rows = np.arange(n)
    active = (start_day >= 0) & (start_day < n_grid)
    start = np.where(active, start_day, 0)
    before = np.where(start > 0, cum[rows, start - 1], 0)
    target = before + rng.exponential(size=n).astype(np.float32)
    day = first_at_least(cum, rows, target)
    hit = active & (cum[rows, day] >= target)
    return np.where(hit, np.maximum(day, start), NEVER).astype(np.int32)


def _later_same_day(rng: np.random.Generator, after_s: np.ndarray) -> np.ndarray:
    """A time later on the same day as `after_s` (uniform over what is left of the day)."""
    end = (after_s // DAY + 1) * DAY
    return after_s + (rng.random(len(after_s)) * (end - after_s)).astype(np.int64)


def _work_time(rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
    lo, hi = world.FUNNEL.followup_work_hours
    return day.astype(np.int64) * DAY + (rng.uniform(lo, hi, len(day)) * 3600).astype(np.int64)


def _lognormal_days(rng: np.random.Generator, spec: tuple[float, float], n: int) -> np.ndarray:
    median, sigma = spec
    return (rng.lognormal(np.log(median), sigma, n) * DAY).astype(np.int64)


def contact_lag_days(leads: Leads, latent: Latent) -> np.ndarray:
    """Days from an MQL (at the lead's usual hour) to first contact; -1 if never contacted."""
    finite = np.isfinite(latent.followup_s)
    seconds = leads.work_second + np.where(finite, latent.followup_s, 0)
    return np.where(finite, seconds // DAY, NEVER).astype(np.int32)


def draw_funnel(
    rng: np.random.Generator,
    leads: Leads,
    latent: Latent,
    x: np.ndarray,
    rates: Intensities,
    personas: Personas,
) -> FunnelTimes:
    n = leads.n
    rows = np.arange(n)
    created_day = leads.created_day

    mql_day = first_event_day(rng, rates.mql, created_day)
    has_mql = mql_day >= 0
    on_creation_day = mql_day == created_day
    mql_s = np.where(
        on_creation_day,
        _later_same_day(rng, leads.created_s),
        mql_day.astype(np.int64) * DAY + leads.work_second,
    )
    mql_s = np.where(has_mql, mql_s, NEVER)

    contacted = has_mql & np.isfinite(latent.followup_s)
    contact_s = np.where(contacted, mql_s + np.where(contacted, latent.followup_s, 0), NEVER)
    contact_s = contact_s.astype(np.int64)
    contact_day = np.where(contacted, contact_s // DAY, NEVER)
    contact_day = np.where(contact_day < x.shape[1], contact_day, NEVER).astype(np.int32)

    outcome_day = first_event_day(rng, rates.sql + rates.dq, contact_day)
    decided = outcome_day >= 0
    day = np.where(decided, outcome_day, 0)
    h_sql = -np.expm1(-rates.sql[rows, day])
    h_any = -np.expm1(-(rates.sql[rows, day] + rates.dq[rows, day]))
    is_sql = decided & (rng.random(n) * h_any < h_sql)
    outcome_s = np.where(
        outcome_day == contact_day, _later_same_day(rng, contact_s), _work_time(rng, day)
    )
    sql_s = np.where(is_sql, outcome_s, NEVER)
    sql_dq_s = np.where(decided & ~is_sql, outcome_s, NEVER)

    f = world.FUNNEL
    intent_at_sql = x[rows, day]
    p_opp = np.clip(f.opp_base + f.opp_fit * leads.fit + f.opp_intent * intent_at_sql, 0, 0.95)
    is_opp = is_sql & (rng.random(n) < p_opp)
    opp_s = np.where(is_opp, sql_s + _lognormal_days(rng, f.opp_delay_days, n), NEVER)
    no_opp_s = np.where(is_sql & ~is_opp, sql_s + _lognormal_days(rng, f.sql_lost_days, n), NEVER)

    p_won = np.clip(f.won_base + f.won_fit * leads.fit, 0, 0.95)
    is_won = is_opp & (rng.random(n) < p_won)
    customer_s = np.where(is_won, opp_s + _lognormal_days(rng, f.cycle_days, n), NEVER)
    closed_lost_s = np.where(is_opp & ~is_won, opp_s + _lognormal_days(rng, f.lost_days, n), NEVER)

    deal = persona_deal_values(personas)[leads.persona]
    sigma = f.deal_sigma
    deal = deal * rng.lognormal(-(sigma**2) / 2, sigma, n)  # mean stays the persona's average
    return FunnelTimes(
        mql_s=mql_s.astype(np.int64),
        contact_s=contact_s,
        sql_s=sql_s.astype(np.int64),
        sql_dq_s=sql_dq_s.astype(np.int64),
        opportunity_s=opp_s.astype(np.int64),
        customer_s=customer_s.astype(np.int64),
        lost_s=np.maximum(no_opp_s, closed_lost_s).astype(np.int64),
        deal_value_eur=np.where(is_won, np.round(deal, -1), np.nan),
    )


def persona_deal_values(personas: Personas) -> np.ndarray:
    """Average deal per persona code; the last entry (code -1) is for leads fitting none."""
    values = [p.avg_deal_value_eur for p in personas.personas]
    return np.array([*values, world.FUNNEL.no_persona_deal_eur], dtype=np.float64)
