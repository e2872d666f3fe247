"""The hidden truth: P(lead reaches SQL in (T, T+H]) per lead and monthly snapshot T.

Exact for the generating process in funnel.py, given the latent state (interest trajectory, fit,
channel, follow-up delay) and the lead's own history up to T; only the future draws are
integrated out. With day-level intensities, backward recursion over the horizon days
t0 .. E = t0 + H - 1 (day t0 starts at T):

- contacted before T (and not disqualified): V(t) = h_sql(t) + (1 - h_any(t)) V(t+1), V(E+1) = 0
  (SQL is checked before disqualification each day, as the sampler does);
- MQL before T, contact still to come on day c: V(c) if c <= E, else 0 (never called: 0);
- not yet MQL: U(t) = h_mql(t) V(t + lag) + (1 - h_mql(t)) U(t+1), lag = the lead's contact lag
  in days (0 if lag runs past E or the lead is never called);
- disqualified before T: 0.
Leads created after T or already SQL at T are not in the truth.
"""

from __future__ import annotations

import numpy as np

from pipeline.simulation import world
from pipeline.simulation.funnel import NEVER, FunnelTimes
from pipeline.simulation.latent import Intensities


def snapshot_truth(
    created_s: np.ndarray,
    funnel: FunnelTimes,
    rates: Intensities,
    contact_lag: np.ndarray,
    snapshot_days: np.ndarray,
    horizon: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lead row, snapshot position, p_true) for every lead in each snapshot's population."""
    day = world.SECONDS_PER_DAY
    leads_out, snaps_out, p_out = [], [], []
    offsets = np.arange(horizon, dtype=np.int32)
    for k, t0 in enumerate(snapshot_days):
        t_s = int(t0) * day
        alive = (created_s <= t_s) & ((funnel.sql_s == NEVER) | (funnel.sql_s > t_s))
        rows = np.flatnonzero(alive)
        if rows.size == 0:
            continue
        window = slice(int(t0), int(t0) + horizon)
        # (horizon, leads) layout: each backward step below works on one contiguous row.
        lam_sql = np.ascontiguousarray(rates.sql[:, window][rows].T)
        keep = np.exp(-(lam_sql + rates.dq[:, window][rows].T))
        h_sql = -np.expm1(-lam_sql)
        value = np.zeros((horizon + 1, rows.size), dtype=np.float32)  # V(t0 + j); V(E+1) = 0
        for j in range(horizon - 1, -1, -1):
            np.multiply(keep[j], value[j + 1], out=value[j])
            value[j] += h_sql[j]
        del lam_sql, keep, h_sql

        h_mql = -np.expm1(-np.ascontiguousarray(rates.mql[:, window][rows].T))
        lag = contact_lag[rows]
        target = offsets[:, None] + lag[None, :]
        target = np.where((lag >= 0) & (target < horizon), target, horizon)
        called = np.take_along_axis(value, target, axis=0)  # V(day of contact) if MQL on day j
        pre = np.zeros(rows.size, dtype=np.float32)
        for j in range(horizon - 1, -1, -1):
            pre = h_mql[j] * called[j] + (1 - h_mql[j]) * pre

        mql_s, contact_s = funnel.mql_s[rows], funnel.contact_s[rows]
        dq_before = (funnel.sql_dq_s[rows] != NEVER) & (funnel.sql_dq_s[rows] <= t_s)
        has_mql = (mql_s != NEVER) & (mql_s <= t_s)
        called_at = np.where(contact_s != NEVER, contact_s // day - t0, horizon)
        called_at = np.clip(called_at, 0, horizon)  # contacted before T: value from day t0 on
        p = np.where(has_mql, value[called_at, np.arange(rows.size)], pre)
        p = np.where(dq_before, 0.0, p)
        leads_out.append(rows.astype(np.int32))
        snaps_out.append(np.full(rows.size, k, dtype=np.int16))
        p_out.append(np.clip(p, 0, 1).astype(np.float64))
    if not leads_out:
        return np.zeros(0, np.int32), np.zeros(0, np.int16), np.zeros(0, np.float64)
    return np.concatenate(leads_out), np.concatenate(snaps_out), np.concatenate(p_out)
