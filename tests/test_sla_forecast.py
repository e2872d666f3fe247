"""The SQL forecast interval: exact where we can check it by hand, honest in coverage."""

from __future__ import annotations

import numpy as np
import pytest

from sla.forecast import sql_count_pmf, sql_forecast_interval


def test_two_coin_flips_give_the_binomial_distribution() -> None:
    pmf = sql_count_pmf(np.array([0.5, 0.5]))
    np.testing.assert_allclose(pmf[:3], [0.25, 0.5, 0.25])
    assert pmf[3:].sum() == pytest.approx(0.0)


def test_equal_probabilities_match_binomial_quantiles() -> None:
    # Binomial(100, 0.1): 5th percentile 5, 95th percentile 15 (scipy.stats.binom.ppf).
    forecast = sql_forecast_interval(np.full(100, 0.1), level=0.9)
    assert forecast.expected == pytest.approx(10.0)
    assert (forecast.low, forecast.high) == (5, 15)


def test_arrivals_alone_give_poisson_quantiles() -> None:
    # Poisson(15): 5th percentile 9, 95th percentile 22.
    forecast = sql_forecast_interval(np.array([]), level=0.9, extra_poisson_mean=15.0)
    assert (forecast.expected, forecast.low, forecast.high) == (15.0, 9, 22)


def test_interval_covers_at_least_the_level_in_simulation() -> None:
    rng = np.random.default_rng(7)
    p = rng.beta(0.4, 25, 800)
    forecast = sql_forecast_interval(p, level=0.9, extra_poisson_mean=4.0)
    draws = (rng.random((4000, p.size)) < p).sum(axis=1) + rng.poisson(4.0, 4000)
    inside = np.mean((draws >= forecast.low) & (draws <= forecast.high))
    assert inside >= 0.89


def test_probabilities_outside_zero_one_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sql_forecast_interval(np.array([0.2, 1.5]))
