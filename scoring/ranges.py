"""What a feature value may be: impossible values are refused, unseen ones are scored and flagged.

Two kinds of limit, both checked on the encoded float64 matrix with a few numpy comparisons
(no Python call per value, which would halve batch speed):

- **Impossible** (refused with 422 naming the feature): what no lead can have, by the feature's
  definition in features/: a negative count, day count, age, decayed count or log size; a
  fraction, fit or 0/1 flag outside [0, 1]; a trend outside [-1, 1]; any infinite value. The
  rules go by the pipeline's feature names, so they apply to models trained on the pipeline's
  features; a flat-table model's own columns are only held to being finite.
- **Outside the training range** (scored, listed in the answer's `out_of_range`): a possible
  value beyond the smallest or largest the model saw in training. The model carries these
  ranges already: LightGBM records each numeric feature's [min:max] over the training data in
  the booster (`feature_infos`), so every model, old ones included, knows them with nothing
  stored besides. A feature the booster has no range for (all unknown in training) is never
  flagged.

Unknown values (NaN: null, an empty string) are neither.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# (name test, lowest, highest) by the definitions in features/behaviour.py and persona.py.
NON_NEGATIVE_PREFIXES = ("n_", "active_days", "sessions", "decayed_", "days_since_")
NON_NEGATIVE_NAMES = frozenset({"lead_age_days", "log_company_size"})
UNIT_PREFIXES = ("fit_",)
UNIT_NAMES = frozenset(
    {"newsletter_subscribed", "email_ctr", "webinar_attendance_ratio", "engagement_score"}
)
TREND_PREFIX = "trend_"
_RANGE = re.compile(r"^\[(.+):(.+)\]$")
NO_FLAGS: tuple[str, ...] = ()
FINITE = float(np.finfo(np.float64).max)


def possible_range(name: str) -> tuple[float, float]:
    """The values a pipeline feature can take, by its name (-inf, inf when it says nothing)."""
    if name in UNIT_NAMES or name.startswith(UNIT_PREFIXES):
        return 0.0, 1.0
    if name.startswith(TREND_PREFIX):
        return -1.0, 1.0
    if name in NON_NEGATIVE_NAMES or name.startswith(NON_NEGATIVE_PREFIXES):
        return 0.0, math.inf
    return -math.inf, math.inf


def training_ranges(booster: Any, n_features: int) -> list[tuple[float, float] | None]:
    """Each feature's [min, max] in the training data, from the booster's `feature_infos`
    (in training column order; None for a categorical or an always-unknown feature)."""
    if booster is None or not hasattr(booster, "model_to_string"):
        return [None] * n_features
    text = booster.model_to_string()  # once per load (~30 ms): the header holds the ranges
    line = next((x for x in text.splitlines() if x.startswith("feature_infos=")), "")
    infos = line.partition("=")[2].split(" ") if line else []
    out: list[tuple[float, float] | None] = []
    for j in range(n_features):
        match = _RANGE.match(infos[j]) if j < len(infos) else None
        out.append((float(match.group(1)), float(match.group(2))) if match else None)
    return out


class FeatureBounds:
    """Impossible and training limits as arrays over the encoded columns of one model."""

    def __init__(
        self,
        feature_names: Sequence[str],
        categorical: frozenset[str],
        booster: Any = None,
        *,
        pipeline_features: bool = True,
    ) -> None:
        n = len(feature_names)
        self.names = tuple(feature_names)
        self._names_array = np.array(self.names, dtype=object)
        numeric = np.array([f not in categorical for f in feature_names], dtype=bool)
        self.numeric = numeric
        # The largest finite double, not inf: an infinite value is impossible for every feature.
        low, high = np.full(n, -FINITE), np.full(n, FINITE)
        if pipeline_features:
            for j, name in enumerate(feature_names):
                if numeric[j]:
                    lo, hi = possible_range(name)
                    low[j], high[j] = max(lo, -FINITE), min(hi, FINITE)
        self.low, self.high = low, high
        self.limits = {name: (low[j], high[j]) for j, name in enumerate(feature_names)}
        seen_low, seen_high = np.full(n, -np.inf), np.full(n, np.inf)
        for j, seen in enumerate(training_ranges(booster, n)):
            if seen is not None and numeric[j]:
                seen_low[j], seen_high[j] = seen
        self.seen_low, self.seen_high = seen_low, seen_high

    @classmethod
    def of(cls, model: Any) -> FeatureBounds:
        metadata = getattr(model, "metadata", None) or {}
        return cls(
            tuple(model.feature_names),
            frozenset(model.categorical),
            getattr(model, "booster", None),
            pipeline_features=metadata.get("source") != "table",
        )

    def impossible(self, matrix: np.ndarray) -> dict[int, list[str]]:
        """Row -> names of its impossible values (only rows that have one). NaN is unknown
        (comparisons with NaN are false; an infinity fails one bound or the other)."""
        x = matrix if matrix.ndim == 2 else matrix[None, :]
        bad = (x < self.low) | (x > self.high)
        if not bad.any():  # the usual case: one reduction, no index lists
            return {}
        rows, cols = np.nonzero(bad)
        out: dict[int, list[str]] = {}
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            out.setdefault(i, []).append(self.names[j])
        return out

    def errors(self, names: Sequence[str], loc: Callable[[str], tuple]) -> list[dict[str, Any]]:
        """422 items for impossible values of `names`, at `loc(name)`."""
        from scoring.errors import error_item

        return [
            error_item(loc(name), impossible_message(name, *self.limits[name]), "impossible_value")
            for name in names
        ]

    def out_of_range(self, matrix: np.ndarray) -> list[Sequence[str]]:
        """Per row, the features whose value lies outside what training saw (empty: none)."""
        x = matrix if matrix.ndim == 2 else matrix[None, :]
        outside = (x < self.seen_low) | (x > self.seen_high)
        out: list[Sequence[str]] = [NO_FLAGS] * len(x)
        if not outside.any():
            return out
        # Row-major cells, so each flagged row's names are one run: sliced per row rather than
        # appended per cell (a 1000-lead batch often has hundreds of flagged cells).
        rows, cols = np.nonzero(outside)
        flagged = self._names_array[cols].tolist()
        starts = np.flatnonzero(np.diff(rows, prepend=-1))
        ends = [*starts[1:].tolist(), len(rows)]
        for i, a, b in zip(rows[starts].tolist(), starts.tolist(), ends, strict=True):
            out[i] = flagged[a:b]
        return out


def impossible_message(name: str, low: float, high: float) -> str:
    if low == -FINITE and high == FINITE:
        return f"{name} must be a finite number"
    if high == FINITE:
        return f"{name} cannot be negative (nor infinite)"
    return f"{name} must lie between {low:g} and {high:g}"
