"""How many SQLs a month will bring: an expected count with an honest interval.

Each open lead becomes SQL (or not) independently with its calibrated probability, so the count
of SQLs among them is Poisson-binomial: its mean is the sum of the probabilities and its spread
comes from the same numbers (no extra assumption). Leads that have not arrived yet add a Poisson
count: arrivals at a run rate, each converting with a small probability, thin to a Poisson with
mean = expected arrivals x conversion rate. The interval is equal-tailed on the exact discrete
distribution, so it covers at least `level` of the mass (discrete counts cannot hit it exactly).

A single month holds only 10-20 SQLs on typical data: a 90% interval is then roughly +-40% of the
forecast. That width is the truth about a small count, not a weakness of the model; judge a
forecast over several months pooled (see `sla.report` backtest).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# The exact distribution is truncated where the remaining mass is negligible: mean + this many
# standard deviations (+ a floor for tiny counts). 12 sd leaves far less than 1e-20 behind.
_TAIL_SDS = 12.0
_TAIL_FLOOR = 20


@dataclass(frozen=True)
class SQLForecast:
    """Expected SQLs and the equal-tailed interval [low, high] holding at least `level`."""

    expected: float
    low: int
    high: int
    level: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sql_count_pmf(probabilities: np.ndarray, extra_poisson_mean: float = 0.0) -> np.ndarray:
    """P(count = k) for k = 0..K: Poisson-binomial of `probabilities` plus an independent Poisson.

    K is cut where the mass beyond is negligible, so the returned array sums to 1 within
    floating error. One pass per lead over a short array: a few ms for thousands of leads.
    """
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    p = p[~np.isnan(p)]
    if np.any((p < 0) | (p > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    if extra_poisson_mean < 0 or not math.isfinite(extra_poisson_mean):
        raise ValueError(f"extra_poisson_mean must be >= 0, got {extra_poisson_mean}")
    mean = float(p.sum()) + extra_poisson_mean
    var = float((p * (1 - p)).sum()) + extra_poisson_mean
    size = math.ceil(mean + _TAIL_SDS * math.sqrt(var)) + _TAIL_FLOOR + 1
    pmf = np.zeros(size)
    pmf[0] = 1.0
    for pi in p[p > 0]:
        # Adding one lead: k SQLs either were k already and this one fails, or k-1 and it succeeds.
        pmf[1:] = pmf[1:] * (1 - pi) + pmf[:-1] * pi
        pmf[0] *= 1 - pi
    if extra_poisson_mean > 0:
        k = np.arange(size)
        log_pois = k * math.log(extra_poisson_mean) - extra_poisson_mean - _log_factorial(k)
        pmf = np.convolve(pmf, np.exp(log_pois))[:size]
    return pmf / pmf.sum()


def _log_factorial(k: np.ndarray) -> np.ndarray:
    return np.array([math.lgamma(int(x) + 1) for x in k])


def sql_forecast_interval(
    probabilities: np.ndarray, level: float = 0.9, extra_poisson_mean: float = 0.0
) -> SQLForecast:
    """Expected SQL count and its `level` interval from calibrated per-lead probabilities.

    `probabilities`: each open lead's calibrated chance of becoming SQL within the period.
    `extra_poisson_mean`: expected SQLs from leads not yet known (arrivals x conversion rate).
    `low` and `high` are the smallest counts whose cumulative probability reaches (1 - level) / 2
    and (1 + level) / 2, so P(low <= X <= high) >= level.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    pmf = sql_count_pmf(p, extra_poisson_mean)
    tail = (1 - level) / 2
    cdf = np.cumsum(pmf)
    # Tolerance: a CDF that is exactly `tail` in exact arithmetic must not flip on rounding.
    low = int(np.searchsorted(cdf, tail - 1e-12, side="left"))
    high = int(np.searchsorted(cdf, 1 - tail - 1e-12, side="left"))
    expected = float(np.nansum(p)) + float(extra_poisson_mean)
    return SQLForecast(expected=expected, low=low, high=min(high, len(pmf) - 1), level=level)
