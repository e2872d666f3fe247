"""The SQL forecast interval: exact where we can check it by hand, honest in coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sla.forecast import (
    Arrivals,
    MonthForecast,
    arrivals_forecast,
    backtest_summary,
    month_forecast,
    sql_count_pmf,
    sql_forecast_interval,
    with_realised,
)


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


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_arrivals_use_the_recent_run_rate_and_same_month_conversion() -> None:
    # Three months before June: 10, 20, 30 leads (run rate 20/month); of the 60, six became SQL
    # in their own month, one only the month after (does not count), none after June matters.
    created, sql = {}, {}
    for month, n in (("2025-03", 10), ("2025-04", 20), ("2025-05", 30)):
        for i in range(n):
            created[f"{month}-{i}"] = at(f"{month}-05")
    for lead in ["2025-03-0", "2025-04-0", "2025-04-1", "2025-05-0", "2025-05-1", "2025-05-2"]:
        sql[lead] = created[lead] + pd.Timedelta(days=10)
    sql["2025-05-3"] = at("2025-06-02")  # next month: not a same-month conversion
    created["late"] = at("2025-06-10")  # created after the forecast: never read
    sql["late"] = at("2025-06-11")
    arrivals = arrivals_forecast(
        pd.Series(created), pd.Series(sql), at("2025-06-01"), run_rate_months=3, conversion_months=3
    )
    assert arrivals.leads_per_month == pytest.approx(20.0)
    assert arrivals.same_month_sql_rate == pytest.approx(6 / 60)
    assert arrivals.expected_sqls == pytest.approx(2.0)


def test_realised_counts_selected_and_new_leads_that_became_sql_in_the_month() -> None:
    month = at("2025-06-01")
    forecast = month_forecast(month, 40, np.array([0.5, 0.5, 0.2]), Arrivals(10, 0.1, 1.0), 0.9)
    created = pd.Series({"a": at("2025-01-01"), "b": at("2025-02-01"), "n": at("2025-06-03")})
    created["m"] = at("2025-06-20")
    sql = pd.Series(
        {
            "a": at("2025-06-15"),  # selected, SQL in June: counts
            "b": at("2025-07-01"),  # selected, SQL in July: not this month
            "n": at("2025-06-25"),  # created and SQL in June: an arrival
            "x": at("2025-06-10"),  # not selected, not new: the threshold did not pick it
        }
    )
    done = with_realised(forecast, pd.Series(["a", "b", "c"]), created, sql, month)
    assert (done.selected_realised, done.arrivals_realised, done.realised) == (1, 1, 2)
    assert done.expected_sqls == pytest.approx(2.2)
    assert done.ratio == pytest.approx(2 / 2.2)
    assert done.inside == (done.low <= 2 <= done.high)


def test_backtest_summary_pools_months_and_counts_hits() -> None:
    hit = MonthForecast("2025-05", 40, 10, 10.0, 5, 15, 0.9, 9.0, 1.0, 12, 11, 1)
    miss = MonthForecast("2025-06", 40, 10, 10.0, 5, 15, 0.9, 9.0, 1.0, 16, 15, 1)
    open_month = MonthForecast("2025-07", 40, 10, 10.0, 5, 15, 0.9, 9.0, 1.0)
    summary = backtest_summary([hit, miss, open_month])
    assert summary["months"] == 2 and summary["inside"] == 1
    assert summary["pooled_ratio"] == pytest.approx(28 / 20)


@pytest.mark.slow
@pytest.mark.e2e
def test_pipeline_forecasts_each_month_with_month_probabilities(trained_project) -> None:
    """The trained model carries a month calibration, and the SLA report backtests six complete
    months with it: forecast, interval, realised, ratio.

    The calibration is fitted on the validation rows, so its sum there matches their month SQLs
    by construction and proves nothing; it is checked instead on the test snapshot, which it never
    saw: within a factor of two of the month SQLs there (this half-size data holds too few month
    positives a snapshot for a tighter band), and below the 60-day sum row by row.

    The acceptance figures (>= 5 of 6 months inside the 90% interval, pooled realised / forecast
    in [0.8, 1.2]) are checked on the full default data after `dvc repro` by
    scripts/check_forecast.py, which CI runs (its logic: tests/test_check_forecast.py)."""
    import json

    import joblib

    from models.horizon import month_probability
    from models.split import time_split

    root = trained_project.root
    report = json.loads((root / "artifacts/sla/report.json").read_text())
    months = report["forecast_backtest"]["months"]
    assert len(months) == 6 and report["forecast_backtest"]["summary"]["months"] == 6
    for m in months:
        assert m["realised"] is not None and m["ratio"] is not None
        assert m["low"] <= m["expected_sqls"] <= m["high"]
        assert m["arrivals_expected"] > 0
    assert report["threshold"]["forecast_horizon"] == "month"

    model = joblib.load(root / "artifacts/train/model.joblib")
    table = pd.read_parquet(root / "data/features/training_table.parquet")
    test = time_split(table, 60, 1).test
    month = month_probability(model, test)
    assert month is not None
    horizon = model.predict_proba(test)
    realised = test["label_month"].sum()
    assert realised > 0
    # On rows it never saw, the month calibration forecasts the month's SQLs better than the
    # 60-day probability would (measured here: 19.3 and 33.5 against 24 realised), within a
    # factor of two, and never above the 60-day probability of the same lead.
    assert abs(np.log(month.sum() / realised)) < abs(np.log(horizon.sum() / realised))
    assert 0.5 <= month.sum() / realised <= 2.0, (month.sum(), realised)
    assert (month <= horizon + 1e-12).all()
