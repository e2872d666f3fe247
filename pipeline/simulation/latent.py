"""The hidden state behind each lead: an interest trajectory, follow-up speed, and daily hazards.

Everything downstream is driven by three per-day intensity matrices over the calendar grid
(leads x days): MQL, SQL and disqualification. They are intensities lambda (hazard per day =
1 - exp(-lambda)), so survival over days is exp(-sum lambda), which both the sampler (funnel.py)
and the exact truth (truth.py) use. Behaviour (events.py) is driven by the same trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foundation.params import SimulateParams
from pipeline.simulation import world
from pipeline.simulation.calendar import Calendar
from pipeline.simulation.leads import Leads


def kind_table(field: str) -> np.ndarray:
    """One attribute of world.KINDS as an array indexable by the kind code."""
    return np.array([getattr(k, field) for k in world.KINDS], dtype=np.float32)


@dataclass(frozen=True)
class Latent:
    peak_day: np.ndarray  # float32: day the interest peaks (grid days)
    height: np.ndarray  # float32 peak interest in [0, 1]
    rise: np.ndarray  # float32 half-width before the peak (days)
    fade: np.ndarray  # float32 half-width after the peak (days)
    followup_s: np.ndarray  # float64 seconds from MQL to first sales touch; inf: never
    speed: np.ndarray  # float32 SQL hazard multiplier from follow-up speed (HBR: fast wins)


def draw_latent(rng: np.random.Generator, leads: Leads, params: SimulateParams) -> Latent:
    t = world.TRAJECTORY
    n = leads.n
    buyer = leads.is_buyer
    channel_in_market = np.array([c.in_market for c in world.CHANNELS])[leads.channel]
    fit_lift = 1 - t.fit_in_market + t.fit_in_market * 2 * leads.fit
    in_market = rng.random(n) < np.clip(channel_in_market * fit_lift, 0, 1)
    height = np.where(
        in_market,
        rng.beta(*t.in_market_height, n),
        rng.beta(*t.browsing_height, n) * t.browsing_cap,
    )
    height = np.where(buyer, height, rng.beta(*t.non_buyer_height, n))
    peak = leads.created_day + rng.normal(t.peak_offset_mean, t.peak_offset_sd, n)

    channel_followup = np.array([c.followup for c in world.CHANNELS])[leads.channel]
    median_s = params.followup_median_hours * 3600 * channel_followup
    followup = rng.lognormal(np.log(median_s), params.followup_sigma)
    followup = np.where(rng.random(n) < params.never_contacted_share, np.inf, followup)
    return Latent(
        peak_day=peak.astype(np.float32),
        height=height.astype(np.float32),
        rise=rng.uniform(*t.rise_days, n).astype(np.float32),
        fade=rng.uniform(*t.fade_days, n).astype(np.float32),
        followup_s=followup,
        speed=followup_speed(followup / 3600, params).astype(np.float32),
    )


def followup_speed(hours: np.ndarray, params: SimulateParams) -> np.ndarray:
    """SQL hazard multiplier: 1 when called at once, decaying toward a floor as the lead cools."""
    floor = params.followup_floor
    return floor + (1 - floor) * np.exp(-hours / params.followup_decay_hours)


def interest(latent: Latent, n_grid: int) -> np.ndarray:
    """(leads, days) float32 interest: an asymmetric Gaussian bump over a small floor."""
    days = np.arange(n_grid, dtype=np.float32)
    offset = days[None, :] - latent.peak_day[:, None]
    width = np.where(offset < 0, latent.rise[:, None], latent.fade[:, None])
    offset /= width
    np.square(offset, out=offset)
    offset *= -0.5
    np.exp(offset, out=offset)
    offset *= latent.height[:, None]
    offset += world.TRAJECTORY.floor
    return offset


def alive_mask(leads: Leads, n_grid: int) -> np.ndarray:
    return np.arange(n_grid, dtype=np.int32)[None, :] >= leads.created_day[:, None]


def session_rate(leads: Leads, x: np.ndarray, calendar: Calendar) -> np.ndarray:
    """Expected site sessions per (lead, day): propensity x (base + slope x interest) x calendar."""
    base = kind_table("sessions")[leads.kind][:, None]
    slope = kind_table("sessions_interest")[leads.kind][:, None]
    rate = x * slope
    rate += base
    rate *= (leads.propensity[:, None] * calendar.activity[None, :]) * alive_mask(leads, x.shape[1])
    return rate


@dataclass(frozen=True)
class Intensities:
    """Per (lead, day) intensities; hazard = 1 - exp(-intensity)."""

    mql: np.ndarray  # from creation on
    sql: np.ndarray  # applies from the day of first contact on (buyers only)
    dq: np.ndarray  # applies from the day of first contact on


def intensities(
    leads: Leads, latent: Latent, x: np.ndarray, rate: np.ndarray, calendar: Calendar
) -> Intensities:
    f = world.FUNNEL
    buyer = leads.is_buyer[:, None]
    fit_floor = (f.mql_fit_floor + leads.fit)[:, None]
    mql = rate * x
    mql *= f.mql_activity * fit_floor * kind_table("mql_scale")[leads.kind][:, None]
    mql += (fit_floor * buyer) * (f.mql_intent * x + f.mql_dormant) * alive_mask(leads, x.shape[1])

    quality = np.array([c.quality for c in world.CHANNELS], dtype=np.float32)[leads.channel]
    fit_weight = np.exp(f.fit_steepness * (leads.fit - 1))
    scale = f.sql_rate * quality * fit_weight * latent.speed * leads.is_buyer
    sql = np.power(x, f.intent_power, dtype=np.float32)
    sql += f.sql_intent_floor
    sql *= scale.astype(np.float32)[:, None] * calendar.sales[None, :]

    dq = np.where(buyer, f.dq_rate + f.dq_low_intent * (1 - x), f.dq_non_buyer)
    dq *= calendar.sales[None, :]
    return Intensities(mql=mql, sql=sql, dq=dq.astype(np.float32))
