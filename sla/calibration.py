"""Realised calibration: were the probabilities handed out one horizon ago right?

Once a horizon has passed since a day's scores were stored, every lead scored that day has an
outcome (reached SQL within the horizon, or not). Grouped into score bands, the sum of the
probabilities is the number of conversions the model promised and the count of conversions is
what happened. The promise has an exact spread (a Poisson-binomial count), so "off" means
outside that interval, not merely different: a band of 40 leads at 5% may well give 0 or 5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sla.forecast import sql_forecast_interval


def band_edges(probability: np.ndarray, bands: int) -> np.ndarray:
    """Quantile edges, so each band holds about as many leads (duplicates merged)."""
    edges = np.quantile(probability, np.linspace(0, 1, bands + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    return np.unique(edges)


def realised_calibration(
    probability: np.ndarray, converted: np.ndarray, bands: int, level: float
) -> list[dict[str, Any]]:
    """Per probability band: leads, conversions promised, its interval, and realised.

    `within` is False when the realised count falls outside the interval: the alert a manager
    needs ("the top band converts at half the promised rate"), not noise from a small band.
    `level` holds for the whole check, not per band: with five bands at 90% each, an honest
    model would still raise an alert four times in ten. Each band's interval is widened to
    1 - (1 - level) / bands (Bonferroni), so a false alert anywhere stays under 1 - level.
    """
    probability = np.asarray(probability, dtype=float)
    converted = np.asarray(converted, dtype=bool)
    if probability.size == 0:
        return []
    band = np.searchsorted(band_edges(probability, bands)[1:-1], probability, side="right")
    per_band_level = 1 - (1 - level) / len(np.unique(band))
    rows = []
    for index in np.unique(band):
        member = band == index
        p = probability[member]
        interval = sql_forecast_interval(p, per_band_level)
        actual = int(converted[member].sum())
        rows.append(
            {
                "band": int(index) + 1,
                "probability_from": round(float(p.min()), 4),
                "probability_to": round(float(p.max()), 4),
                "leads": int(member.sum()),
                "predicted": round(interval.expected, 2),
                "level": round(per_band_level, 4),
                "low": interval.low,
                "high": interval.high,
                "actual": actual,
                "within": interval.low <= actual <= interval.high,
            }
        )
    return rows


def converted_within(
    lead_ids: pd.Series, first_target_at: pd.Series, start: pd.Timestamp, horizon_days: int
) -> np.ndarray:
    """True for leads whose first target-stage time falls in (start, start + horizon]."""
    reached = pd.to_datetime(lead_ids.map(first_target_at), utc=True)
    end = start + pd.Timedelta(days=horizon_days)
    return ((reached > start) & (reached <= end)).fillna(False).to_numpy(dtype=bool)
