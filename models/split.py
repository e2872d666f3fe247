"""Time-ordered train / validation / test split over monthly snapshots.

Never a random split across time: a lead appears in many snapshots, and its later rows would
tell the model its own future. The split is also purged: a snapshot is used for fitting only
when its whole label horizon (T, T+H] ends by the first snapshot of the next part, because
that is all a model retrained at that moment could have known.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from foundation.errors import InsufficientDataError

SNAPSHOT = "snapshot"


@dataclass(frozen=True)
class TimeSplit:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    def describe(self) -> dict[str, object]:
        def span(df: pd.DataFrame) -> dict[str, object]:
            snaps = sorted(df[SNAPSHOT].unique())
            return {
                "rows": len(df),
                "snapshots": [pd.Timestamp(s).date().isoformat() for s in snaps],
            }

        return {"train": span(self.train), "valid": span(self.valid), "test": span(self.test)}


def time_split(
    table: pd.DataFrame, horizon_days: int, validation_snapshots: int, test_snapshots: int = 1
) -> TimeSplit:
    """Test = the latest `test_snapshots` snapshots (a quarterly log may test on a whole year);
    validation = the latest `validation_snapshots` whose horizon ends by the first test snapshot;
    train = every snapshot whose horizon ends by the validation start.
    """
    horizon = pd.Timedelta(days=horizon_days)
    snapshots = sorted(pd.to_datetime(table[SNAPSHOT].unique(), utc=True))
    if not snapshots:
        raise InsufficientDataError("the training table has no snapshots")
    if len(snapshots) < test_snapshots:
        raise InsufficientDataError(
            f"{len(snapshots)} snapshot(s) are fewer than the {test_snapshots} test "
            "snapshot(s): lower train.test_snapshots or move features.first_snapshot earlier"
        )
    tested = snapshots[-test_snapshots:]
    test_at = tested[0]
    valid_candidates = [s for s in snapshots if s + horizon <= test_at]
    if len(valid_candidates) < validation_snapshots:
        raise InsufficientDataError(
            f"need {validation_snapshots} validation snapshot(s) whose {horizon_days}-day horizon "
            f"ends by the test snapshot {test_at.date()}, found {len(valid_candidates)}: "
            "lengthen the history or lower features.horizon_days"
        )
    valid_at = valid_candidates[-validation_snapshots:]
    train_at = [s for s in snapshots if s + horizon <= valid_at[0]]
    if not train_at:
        raise InsufficientDataError(
            f"no training snapshot's horizon ends by the validation start {valid_at[0].date()}: "
            "move features.first_snapshot earlier or lengthen the history"
        )
    snap = pd.to_datetime(table[SNAPSHOT], utc=True)
    return TimeSplit(
        train=table[snap.isin(train_at)].reset_index(drop=True),
        valid=table[snap.isin(valid_at)].reset_index(drop=True),
        test=table[snap.isin(tested)].reset_index(drop=True),
    )
