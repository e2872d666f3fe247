"""Population stability between what a model was trained on and the leads it scores now.

The reference profile is frozen at training: numeric features by their decile edges plus a
missing bin, categorical features by their top values plus `other` and `missing`, and the score
by its validation deciles. Any later check bins today's leads with the *reference* edges, so a
PSI always answers "how far has the population moved from what this model learned on", not
"how do two arbitrary samples differ". Pure functions over DataFrames and arrays; no I/O.

PSI = sum over bins of (current - reference) * ln(current / reference). A bin empty on one side
would make that infinite, so shares are floored at `epsilon` before the sum (the usual fix; the
floor is a parameter so a team can read its effect).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MISSING = "missing"
OTHER = "other"
SCORE = "score"
REFERENCE_PROFILE = "reference_profile"  # key in LeadModel.metadata
REFERENCE_PROFILE_ARTIFACT = "drift/reference_profile.json"  # in the training run (MLflow)
PROFILE_VERSION = 1


@dataclass(frozen=True)
class DriftThresholds:
    warn: float = 0.1
    alert: float = 0.25
    epsilon: float = 1e-4

    def level(self, value: float) -> str:
        if value >= self.alert:
            return "alert"
        if value >= self.warn:
            return "warn"
        return "ok"


def scored_population(features: pd.DataFrame) -> np.ndarray:
    """Rows of the population the daily run scores: open and never disqualified.

    The reference and every later check must describe the same population; otherwise a check
    measures the difference between two definitions (disqualified leads are 15% of training
    rows and none of the daily's), not a change in the leads.
    """
    if "disqualified" not in features.columns:
        return np.ones(len(features), dtype=bool)
    return (pd.to_numeric(features["disqualified"], errors="coerce").fillna(0) != 1).to_numpy()


def numeric_edges(values: pd.Series, n_bins: int) -> list[float]:
    """Interior decile edges of the non-missing values, duplicates dropped (counts pile on 0)."""
    finite = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return []
    quantiles = np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1])
    return [float(q) for q in np.unique(quantiles)]


def numeric_bin_counts(values: pd.Series | np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Counts per bin: (-inf, e0], (e0, e1], ..., (ek, inf), then missing (NaN, +-inf)."""
    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    missing = ~np.isfinite(array)
    index = np.searchsorted(np.asarray(edges, dtype=float), array[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
    return np.append(counts, float(missing.sum()))


def numeric_labels(edges: Sequence[float]) -> list[str]:
    if not edges:
        return ["all values", MISSING]
    labels = [f"<= {edges[0]:g}"]
    labels += [f"({lo:g}, {hi:g}]" for lo, hi in itertools.pairwise(edges)]
    return [*labels, f"> {edges[-1]:g}", MISSING]


def category_values(values: pd.Series, top: int) -> list[str]:
    present = values.dropna().astype(str)
    return [str(v) for v in present.value_counts().head(top).index]


def category_bin_counts(values: pd.Series, kept: Sequence[str]) -> np.ndarray:
    """Counts per kept value, then `other` (including categories never seen), then missing."""
    series = pd.Series(values, dtype=object)
    missing = series.isna()
    text = series[~missing].astype(str)
    known = text.value_counts()
    counts = [float(known.get(value, 0)) for value in kept]
    other = float(len(text)) - sum(counts)
    return np.array([*counts, other, float(missing.sum())])


def shares(counts: np.ndarray) -> list[float]:
    total = float(counts.sum())
    if total == 0:
        return [0.0] * len(counts)
    return [float(c) / total for c in counts]


def profile_column(values: pd.Series, kind: str, n_bins: int, top: int) -> dict[str, Any]:
    if kind == "numeric":
        edges = numeric_edges(values, n_bins)
        return {
            "kind": "numeric",
            "edges": edges,
            "labels": numeric_labels(edges),
            "shares": shares(numeric_bin_counts(values, edges)),
        }
    kept = category_values(values, top)
    return {
        "kind": "categorical",
        "values": kept,
        "labels": [*kept, OTHER, MISSING],
        "shares": shares(category_bin_counts(values, kept)),
    }


def bin_counts(values: pd.Series | np.ndarray, column: Mapping[str, Any]) -> np.ndarray:
    if column["kind"] == "numeric":
        return numeric_bin_counts(values, column["edges"])
    return category_bin_counts(pd.Series(values), column["values"])


def reference_profile(
    features: pd.DataFrame,
    numeric: Iterable[str],
    categorical: Iterable[str],
    scores: np.ndarray,
    n_bins: int = 10,
    top_categories: int = 10,
    cells: Sequence[str] = (),
    min_cell_rows: int = 200,
) -> dict[str, Any]:
    """The frozen picture of the training population (JSON-ready: saved with the model).

    With `cells` (e.g. channel x persona), each cell with at least `min_cell_rows` rows also
    keeps its own shares over the overall bins: a cell is later compared with itself at
    training, since every cell differs from the whole population by construction.
    """
    columns: dict[str, Any] = {}
    for name in numeric:
        columns[name] = profile_column(features[name], "numeric", n_bins, top_categories)
    for name in categorical:
        columns[name] = profile_column(features[name], "categorical", n_bins, top_categories)
    profile = {
        "version": PROFILE_VERSION,
        "rows": len(features),
        "features": columns,
        SCORE: profile_column(pd.Series(scores, dtype=float), "numeric", n_bins, top_categories),
    }
    scores = np.asarray(scores, dtype=float)
    groups = []
    for key, position in cell_positions(features, cells):
        if len(position) < min_cell_rows:
            continue
        part = features.iloc[position]
        groups.append(
            {
                "key": key,
                "rows": len(position),
                SCORE: shares(bin_counts(scores[position], profile[SCORE])),
                "features": {
                    name: shares(bin_counts(part[name], column)) for name, column in columns.items()
                },
            }
        )
    profile["cells"] = {"by": list(cells), "groups": groups}
    return profile


def cell_positions(
    features: pd.DataFrame, by: Sequence[str]
) -> list[tuple[dict[str, str], np.ndarray]]:
    """(cell key, row positions) per combination of the `by` columns; missing is its own value."""
    if not by or any(column not in features.columns for column in by):
        return []
    keys = features[list(by)].astype(object).where(features[list(by)].notna(), MISSING)
    out = []
    for key, index in keys.groupby(list(by), sort=True).groups.items():
        values = key if isinstance(key, tuple) else (key,)
        named = {column: str(value) for column, value in zip(by, values, strict=True)}
        out.append((named, features.index.get_indexer(index)))
    return out


def psi(reference: Sequence[float], current: Sequence[float], epsilon: float = 1e-4) -> float:
    """Population stability index of two share vectors over the same bins (floored at epsilon)."""
    ref = np.maximum(np.asarray(reference, dtype=float), epsilon)
    cur = np.maximum(np.asarray(current, dtype=float), epsilon)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def moved_bins(
    column: Mapping[str, Any], current: Sequence[float], most: int = 2
) -> list[dict[str, Any]]:
    """The bins that grew most: what a marketer reads as "more paid_search than before"."""
    change = np.asarray(current) - np.asarray(column["shares"])
    order = np.argsort(-change)[:most]
    return [
        {
            "bin": column["labels"][i],
            "reference_share": round(float(column["shares"][i]), 4),
            "current_share": round(float(current[i]), 4),
        }
        for i in order
        if change[i] > 0
    ]


def column_drift(
    name: str, column: Mapping[str, Any], values: pd.Series | np.ndarray, limits: DriftThresholds
) -> dict[str, Any]:
    current = shares(bin_counts(values, column))
    if sum(current) == 0:  # no current rows: nothing to compare, never an alarm
        return {"feature": name, "psi": 0.0, "level": "ok", "moved": [], "rows": 0}
    value = psi(column["shares"], current, limits.epsilon)
    return {
        "feature": name,
        "psi": round(value, 4),
        "level": limits.level(value),
        "moved": moved_bins(column, current),
        "rows": len(values),
    }


def population_drift(
    profile: Mapping[str, Any],
    features: pd.DataFrame,
    scores: np.ndarray,
    limits: DriftThresholds,
) -> dict[str, Any]:
    """PSI of the score and of every profiled feature present in `features`, worst first."""
    per_feature = [
        column_drift(name, column, features[name], limits)
        for name, column in profile["features"].items()
        if name in features.columns
    ]
    per_feature.sort(key=lambda row: -row["psi"])
    score = column_drift(SCORE, profile[SCORE], np.asarray(scores, dtype=float), limits)
    current = shares(bin_counts(np.asarray(scores, dtype=float), profile[SCORE]))
    score["bins"] = [  # the whole distribution, now vs reference: the dashboard draws it
        {"bin": label, "reference_share": round(ref, 4), "current_share": round(cur, 4)}
        for label, ref, cur in zip(
            profile[SCORE]["labels"], profile[SCORE]["shares"], current, strict=True
        )
    ]
    return {
        "rows": len(features),
        "score": score,
        "features": per_feature,
        "warnings": [row for row in per_feature if row["level"] != "ok"],
    }


def cell_drift(
    profile: Mapping[str, Any],
    features: pd.DataFrame,
    scores: np.ndarray,
    min_rows: int,
    limits: DriftThresholds,
    top: int = 3,
) -> list[dict[str, Any]]:
    """Score and feature PSI of each cell (e.g. channel x persona) against the same cell at
    training, for cells with enough rows on both sides (small cells measure noise, not drift).
    A cell big now that was not profiled at training is listed as new."""
    reference = profile.get("cells") or {"by": [], "groups": []}
    by = reference["by"]
    known = {tuple(g["key"][c] for c in by): g for g in reference["groups"]}
    scores = np.asarray(scores, dtype=float)
    out = []
    for key, position in cell_positions(features, by):
        if len(position) < min_rows:
            continue
        group = known.get(tuple(key[c] for c in by))
        if group is None:
            out.append(
                {
                    **key,
                    "rows": len(position),
                    "new": True,
                    "score_psi": None,
                    "score_level": "new",
                    "top_features": [],
                }
            )
            continue
        part = features.iloc[position]
        score = psi(
            group[SCORE], shares(bin_counts(scores[position], profile[SCORE])), limits.epsilon
        )
        moved = sorted(
            (
                {
                    "feature": name,
                    "psi": round(
                        psi(
                            ref,
                            shares(bin_counts(part[name], profile["features"][name])),
                            limits.epsilon,
                        ),
                        4,
                    ),
                }
                for name, ref in group["features"].items()
                if name in part.columns
            ),
            key=lambda row: -row["psi"],
        )[:top]
        out.append(
            {
                **key,
                "rows": len(position),
                "reference_rows": group["rows"],
                "new": False,
                "score_psi": round(score, 4),
                "score_level": limits.level(score),
                "top_features": [{**row, "level": limits.level(row["psi"])} for row in moved],
            }
        )
    return out


def score_shift(
    champion_scores: np.ndarray, challenger_scores: np.ndarray, n_bins: int, epsilon: float
) -> float:
    """PSI of the challenger's scores against the champion's on the same leads (champion bins)."""
    column = profile_column(pd.Series(champion_scores, dtype=float), "numeric", n_bins, 0)
    current = shares(bin_counts(np.asarray(challenger_scores, dtype=float), column))
    return psi(column["shares"], current, epsilon)


def volume_change(champion_selected: int, challenger_selected: int) -> float:
    """Relative change in how many leads a threshold selects (inf from zero to some)."""
    if champion_selected == 0:
        return 0.0 if challenger_selected == 0 else math.inf
    return challenger_selected / champion_selected - 1.0
