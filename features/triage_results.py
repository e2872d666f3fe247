"""What a triage says about one table: the problems found, the rows kept and quarantined, and the
summary (`validation_summary.json`) that chunk and partition summaries merge into.

Kept apart from the triage itself (features/triage.py) so the Dask path (engine/validate.py)
merges its partitions' summaries with the same function the chunked run uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TOP_UNKNOWN_VALUES = 5
# Distinct unknown values counted per column and chunk, so chunk counts can be merged into the
# summary's top values without holding every distinct value of a garbage column.
UNKNOWN_VALUES_COUNTED = 1000


@dataclass(frozen=True)
class Problem:
    """One kind of problem found on some rows: positions in the raw table and one message each."""

    kind: str
    positions: np.ndarray
    messages: pd.Series


@dataclass(frozen=True)
class TableResult:
    """A triaged table (or chunk): typed rows downstream may trust, bad rows as read with their
    reason. `unknown_values` counts up to UNKNOWN_VALUES_COUNTED values per column; the summary
    shows the TOP_UNKNOWN_VALUES most frequent."""

    table: str
    kept: pd.DataFrame
    quarantined: pd.DataFrame
    reasons: dict[str, int]
    warnings: dict[str, int] = field(default_factory=dict)
    unknown_values: dict[str, dict[str, int]] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()
    missing_optional_columns: tuple[str, ...] = ()

    @property
    def rows_in(self) -> int:
        return len(self.kept) + len(self.quarantined)

    def summary(self, top: int | None = TOP_UNKNOWN_VALUES) -> dict[str, Any]:
        """validation_summary.json's entry; `top=None` keeps every counted unknown value (for
        merging chunk summaries with `merge_summaries`)."""
        return {
            "rows_in": self.rows_in,
            "rows_kept": len(self.kept),
            "rows_quarantined": len(self.quarantined),
            "empty": self.rows_in == 0,
            "reasons": dict(self.reasons),
            "warnings": dict(self.warnings),
            "unknown_values": {k: top_counts(v, top) for k, v in self.unknown_values.items()},
            "ignored_columns": list(self.ignored_columns),
            "missing_optional_columns": list(self.missing_optional_columns),
        }


def top_counts(counts: dict[str, int], top: int | None) -> dict[str, int]:
    """Most frequent first; ties by value, so chunked and whole-table runs agree."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ordered if top is None else ordered[:top])


def _add_counts(total: dict[str, int], more: dict[str, int]) -> None:
    for key, count in more.items():
        total[key] = total.get(key, 0) + count


def merge_summaries(parts: list[dict[str, Any]], top: int | None = TOP_UNKNOWN_VALUES) -> dict:
    """One table's summary from its chunks' summaries (each made with `summary(top=None)`)."""
    if not parts:
        raise ValueError("no chunk summaries to merge")
    merged: dict[str, Any] = {
        "rows_in": sum(p["rows_in"] for p in parts),
        "rows_kept": sum(p["rows_kept"] for p in parts),
        "rows_quarantined": sum(p["rows_quarantined"] for p in parts),
    }
    merged["empty"] = merged["rows_in"] == 0
    reasons: dict[str, int] = {}
    warnings: dict[str, int] = {}
    unknown: dict[str, dict[str, int]] = {}
    for part in parts:
        _add_counts(reasons, part["reasons"])
        _add_counts(warnings, part["warnings"])
        for column, counts in part["unknown_values"].items():
            _add_counts(unknown.setdefault(column, {}), counts)
    merged["reasons"] = top_counts(reasons, None)
    merged["warnings"] = dict(sorted(warnings.items(), key=lambda kv: (-kv[1], kv[0])))
    merged["unknown_values"] = {k: top_counts(v, top) for k, v in unknown.items()}
    merged["ignored_columns"] = list(parts[0]["ignored_columns"])
    merged["missing_optional_columns"] = list(parts[0]["missing_optional_columns"])
    return merged
