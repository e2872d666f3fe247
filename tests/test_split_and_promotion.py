"""The time split and the promotion rule: the two places where an honest retrain can go wrong."""

from __future__ import annotations

import pandas as pd
import pytest

from foundation.errors import InsufficientDataError
from models.promotion import decide_promotion
from models.split import time_split


def monthly_table(months: int, rows_per_month: int = 4) -> pd.DataFrame:
    snapshots = pd.date_range("2025-01-01", periods=months, freq="MS", tz="UTC")
    return pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(months * rows_per_month)],
            "snapshot": [s for s in snapshots for _ in range(rows_per_month)],
            "label": [i % 2 for i in range(months * rows_per_month)],
        }
    )


def test_no_training_or_validation_row_is_later_than_the_test_snapshot() -> None:
    split = time_split(monthly_table(12), horizon_days=60, validation_snapshots=1)
    test_at = split.test["snapshot"].min()
    assert split.test["snapshot"].nunique() == 1
    assert split.train["snapshot"].max() < split.valid["snapshot"].min() < test_at


def test_split_purges_snapshots_whose_horizon_overlaps_the_next_part() -> None:
    split = time_split(monthly_table(12), horizon_days=60, validation_snapshots=1)
    horizon = pd.Timedelta(days=60)
    assert split.valid["snapshot"].max() + horizon <= split.test["snapshot"].min()
    assert split.train["snapshot"].max() + horizon <= split.valid["snapshot"].min()
    # 2025-12-01 is the test snapshot; 2025-11-01 + 60 days falls after it, so it is dropped.
    dropped = pd.Timestamp("2025-11-01", tz="UTC")
    assert dropped not in set(split.valid["snapshot"]) | set(split.train["snapshot"])


def test_several_test_snapshots_are_the_latest_and_validation_ends_before_the_first() -> None:
    split = time_split(monthly_table(24), horizon_days=90, validation_snapshots=2, test_snapshots=4)
    tested = sorted(split.test["snapshot"].unique())
    assert [t.month for t in tested] == [9, 10, 11, 12] and tested[-1].year == 2026
    horizon = pd.Timedelta(days=90)
    assert split.valid["snapshot"].max() + horizon <= tested[0]
    assert split.train["snapshot"].max() + horizon <= split.valid["snapshot"].min()


def test_split_refuses_a_history_too_short_for_the_horizon() -> None:
    with pytest.raises(InsufficientDataError, match="validation snapshot"):
        time_split(monthly_table(2), horizon_days=60, validation_snapshots=1)


def test_promotion_leaves_the_auc_comparison_to_the_noise_gate() -> None:
    # No fixed tolerance: 0.80 vs 0.85 is judged on the test rows (tests/test_promotion_noise).
    decision = decide_promotion(0.80, 0.01, 0.85, "3", max_ece=0.03)
    assert decision.promote and "ECE 0.0100 <= 0.03" in decision.reason


def test_promotion_refuses_a_badly_calibrated_challenger_even_if_it_ranks_better() -> None:
    decision = decide_promotion(0.90, 0.08, 0.85, "3", max_ece=0.03)
    assert not decision.promote
    assert "calibration error" in decision.reason


def test_first_model_becomes_champion() -> None:
    decision = decide_promotion(0.70, 0.01, None, None, max_ece=0.03)
    assert decision.promote
    assert "no comparable champion" in decision.reason
