"""Encoded rows -> calibrated probabilities, on the fastest path that gives the same numbers.

One row: LightGBM's single-row fast path on one thread (an OpenMP team costs more than it saves
for one row). A batch: the trees compiled to machine code when lleaves is installed
(scoring/compiled_trees.py, within 1e-12 of the booster), else the booster with `batch_threads`.
Tests pin each fast path to the booster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scoring.compiled_trees import CompiledTrees


class Predictor:
    """Predicts with one model; immutable once built."""

    def __init__(
        self, model: Any, n_features: int, batch_threads: int, compiled: CompiledTrees | None
    ) -> None:
        self.model = model
        self.batch_threads = batch_threads
        self._single_row = None
        # Batches: the trees compiled to machine code (scoring/compiled_trees.py), else the booster.
        self._compiled = compiled
        if hasattr(model, "booster") and hasattr(model, "calibrator"):
            from scoring.fast_booster import single_row_predictor

            self._single_row = single_row_predictor(model.booster, n_features)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities; one thread for a single row (LightGBM's single-row fast
        path when available: the same raw score, a test pins it), `batch_threads` for a batch."""
        if len(X) == 1 and self._single_row is not None:
            raw = np.array([self._single_row.raw_score(X[0])])
            return self.model.calibrator(raw)
        if self._compiled is not None and len(X) > 1:
            return self.model.calibrator(self._compiled.raw_score(X))
        return self.model.predict_proba(X, num_threads=1 if len(X) == 1 else self.batch_threads)
