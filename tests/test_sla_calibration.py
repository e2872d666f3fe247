"""Realised calibration per band: an honest model lands inside its intervals; one that promised
twice what happened is caught."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sla.calibration import converted_within, realised_calibration


def test_a_calibrated_model_lands_inside_every_band() -> None:
    rng = np.random.default_rng(7)
    p = rng.beta(0.6, 20, 20_000)
    converted = rng.random(p.size) < p
    rows = realised_calibration(p, converted, bands=5, level=0.99)
    assert len(rows) == 5 and sum(r["leads"] for r in rows) == p.size
    assert all(r["within"] for r in rows), rows


def test_promising_twice_the_conversions_is_flagged_in_the_top_band() -> None:
    rng = np.random.default_rng(8)
    p = rng.beta(0.6, 20, 20_000)
    converted = rng.random(p.size) < p / 2
    top = realised_calibration(p, converted, bands=5, level=0.9)[-1]
    assert not top["within"] and top["actual"] < top["low"]


def test_no_scores_no_bands() -> None:
    assert realised_calibration(np.array([]), np.array([]), bands=5, level=0.9) == []


def test_conversion_counts_only_inside_the_horizon() -> None:
    start = pd.Timestamp("2026-01-01", tz="UTC")
    first = pd.Series(
        pd.to_datetime(["2025-12-31", "2026-01-15", "2026-03-15"], utc=True), ["a", "b", "c"]
    )
    got = converted_within(pd.Series(["a", "b", "c", "d"]), first, start, horizon_days=60)
    assert got.tolist() == [False, True, False, False]
