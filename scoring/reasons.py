"""Encoded rows -> the top reasons for and against, in words a salesperson reads.

Exact SHAP contributions in linear time (models/linear_treeshap.py, a fraction of a millisecond
a lead) when the C extension is built, LightGBM's pred_contrib otherwise; the words come from
models/explain.py, with the event families in the source's own words.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scoring.context import ScoringContext
    from scoring.encode import Encoder


class Reasons:
    """Explains one model's scores under one context; immutable once built."""

    def __init__(
        self,
        model: Any,
        encoder: Encoder,
        context: ScoringContext,
        top_reasons: int,
        batch_threads: int,
    ) -> None:
        self.model = model
        self.context = context
        self.feature_names = encoder.feature_names
        self.categorical = encoder.categorical
        self.category_key = encoder.category_key
        self.top_reasons = top_reasons
        self.batch_threads = batch_threads
        # Reasons: exact SHAP in linear time (models/linear_treeshap.py), else pred_contrib.
        self._explainer = None
        if hasattr(model, "booster") and hasattr(model, "calibrator"):
            from models.linear_treeshap import linear_treeshap

            self._explainer = linear_treeshap(model.booster)

    @functools.cached_property
    def family_phrases(self) -> dict[str, str] | None:
        """Reasons for the event families in the source's own words (None: no families)."""
        params = self.context.feature_params
        if params is None or not params.event_families:
            return None
        from features.event_families import family_phrases

        return family_phrases(params)

    @property
    def reasons_are_cheap(self) -> bool:
        """True when reasons come from the linear-time TreeSHAP (a fraction of a millisecond a
        lead: worth no thread hop), False when from LightGBM's pred_contrib."""
        return self._explainer is not None

    def reasons(self, X: np.ndarray, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, list]]:
        """Top reasons for and against, per row, from the model's SHAP contributions (computed
        in linear time when the extension is built; LightGBM's pred_contrib otherwise).

        The words show what the model saw: numbers as encoded (a numeric string as its number,
        an empty value as unknown), categories by their key.
        """
        from models.explain import reasons

        if self._explainer is not None:
            contrib = self._explainer.contributions(X)
        else:
            threads = 1 if len(X) == 1 else self.batch_threads
            contrib = self.model.contributions(X, num_threads=threads)
        out = []
        phrases = self.family_phrases
        for i, row in enumerate(rows):
            seen = _SeenValues(self, X[i], row)
            r = reasons(contrib[i], self.feature_names, seen, k=self.top_reasons, overrides=phrases)
            out.append(
                {
                    "reasons_for": [_reason(x) for x in r["for"]],
                    "reasons_against": [_reason(x) for x in r["against"]],
                }
            )
        return out


class _SeenValues:
    """One lead's feature values as the model saw them, by feature position, computed only for
    the few features a reason shows (all of them cost a third of a reasons request)."""

    def __init__(self, owner: Reasons, x: np.ndarray, row: Mapping[str, Any]) -> None:
        self._owner, self._x, self._row = owner, x, row

    def __getitem__(self, j: int) -> Any:
        name = self._owner.feature_names[j]
        if name in self._owner.categorical:
            return self._owner.category_key(self._row.get(name))
        return float(self._x[j])


def _reason(r: Any) -> dict[str, Any]:
    value = r.value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    return {"feature": r.feature, "text": r.text, "value": value, "contribution": r.contribution}
