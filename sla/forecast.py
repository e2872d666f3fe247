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
import pandas as pd

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


@dataclass(frozen=True)
class Arrivals:
    """SQLs expected this month from leads not yet created at the month start."""

    leads_per_month: float  # run rate: mean leads created per month, recent months
    same_month_sql_rate: float  # share of a month's new leads that were SQL within that month
    expected_sqls: float  # leads_per_month x same_month_sql_rate: a Poisson mean

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def arrivals_forecast(
    created_at: pd.Series,
    first_sql_at: pd.Series,
    month: pd.Timestamp,
    run_rate_months: int = 3,
    conversion_months: int = 6,
) -> Arrivals:
    """New leads' SQLs in the month starting `month`, from the months before it only.

    `created_at` per lead_id (index) and `first_sql_at` (index lead_id, first time at SQL or
    beyond). Leads arrive at the mean rate of the last `run_rate_months` months; each converts
    within its first month at the pooled rate of the last `conversion_months` months. Arrivals
    are Poisson and each converts independently, so their SQL count is Poisson with the product
    as mean. Nothing after `month` is read: the forecast is what was knowable then.
    """
    created = pd.to_datetime(created_at, utc=True)
    sql = pd.to_datetime(first_sql_at, utc=True).reindex(created.index)

    def window(months: int) -> tuple[pd.Series, pd.Series, int]:
        start = month - pd.DateOffset(months=months)
        inside = ((created >= start) & (created < month)).to_numpy()
        return created[inside], sql[inside], months

    recent, _, n_recent = window(run_rate_months)
    born, converted, _ = window(conversion_months)
    born_month = born.dt.tz_convert(None).dt.to_period("M")
    same_month = converted.notna() & (converted.dt.tz_convert(None).dt.to_period("M") == born_month)
    rate = float(same_month.mean()) if len(born) else 0.0
    per_month = len(recent) / n_recent
    return Arrivals(
        leads_per_month=per_month, same_month_sql_rate=rate, expected_sqls=per_month * rate
    )


@dataclass(frozen=True)
class MonthForecast:
    """One month of the threshold's forecast and, once the month is over, what happened."""

    month: str
    threshold: float
    selected: int  # open leads at the month start the threshold hands to sales
    expected_sqls: float  # from the selected leads (month probabilities) plus arrivals
    low: int
    high: int
    level: float
    selected_expected: float
    arrivals_expected: float
    realised: int | None = None  # selected leads + new leads of the month that became SQL in it
    selected_realised: int | None = None
    arrivals_realised: int | None = None

    @property
    def ratio(self) -> float | None:
        if self.realised is None or self.expected_sqls <= 0:
            return None
        return self.realised / self.expected_sqls

    @property
    def inside(self) -> bool | None:
        return None if self.realised is None else self.low <= self.realised <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "inside": self.inside}


def month_forecast(
    month: pd.Timestamp,
    threshold: float,
    selected_probability_month: np.ndarray,
    arrivals: Arrivals,
    level: float,
) -> MonthForecast:
    """The forecast made at the month start: selected leads' month probabilities (each a
    Bernoulli) plus the arrivals' Poisson count."""
    p = np.asarray(selected_probability_month, dtype=np.float64)
    interval = sql_forecast_interval(p, level, arrivals.expected_sqls)
    return MonthForecast(
        month=f"{month:%Y-%m}",
        threshold=float(threshold),
        selected=len(p),
        expected_sqls=interval.expected,
        low=interval.low,
        high=interval.high,
        level=level,
        selected_expected=float(p.sum()),
        arrivals_expected=arrivals.expected_sqls,
    )


def with_realised(
    forecast: MonthForecast,
    selected_ids: pd.Series,
    created_at: pd.Series,
    first_sql_at: pd.Series,
    month: pd.Timestamp,
) -> MonthForecast:
    """Add what happened: selected leads that reached SQL within the month, and leads created
    in the month that did (the arrivals the forecast counted). Counted as the agreement counts:
    the first SQL-or-beyond time falls in the calendar month."""
    end = month + pd.DateOffset(months=1)
    sql = pd.to_datetime(first_sql_at, utc=True)
    in_month = sql[(sql >= month) & (sql < end)]
    created = pd.to_datetime(created_at, utc=True)
    born = created[(created > month) & (created < end)].index
    chosen = int(pd.Index(selected_ids).isin(in_month.index).sum())
    arrived = int(pd.Index(born).isin(in_month.index).sum())
    return MonthForecast(
        **{
            **asdict(forecast),
            "realised": chosen + arrived,
            "selected_realised": chosen,
            "arrivals_realised": arrived,
        }
    )


def backtest_summary(months: list[MonthForecast]) -> dict[str, Any]:
    """How often the realised count fell inside the interval, and realised / forecast pooled."""
    done = [m for m in months if m.realised is not None]
    forecast = sum(m.expected_sqls for m in done)
    realised = sum(m.realised or 0 for m in done)
    return {
        "months": len(done),
        "inside": sum(bool(m.inside) for m in done),
        "forecast": forecast,
        "realised": realised,
        "pooled_ratio": realised / forecast if forecast > 0 else None,
    }
