"""Several models for one flat table, and an honest choice among them (`train-table --tune`).

Given the rows of one training set (an outer fold's, or all rows for the final model):
1. the LightGBM search (`models.tuning.search`) runs its inner folds and keeps the best trial's
   out-of-fold log-odds;
2. the table logistic (`models.table_logistic`) is fitted on the same inner folds for every
   setting of its small grid (C, with or without products); the setting with the lowest inner
   log loss keeps its out-of-fold log-odds;
3. the blend stacks the two out-of-fold log-odds with non-negative weights (a three-number
   logistic fit), itself cross-fitted over those rows so its inner figure is out of fold too;
4. the candidates are compared on the same inner out-of-fold rows (`CandidateParams.selection`)
   and the best is chosen. Nothing here sees rows outside the frame it is given: the caller's
   outer test rows stay unseen, so their figures for every candidate, and for the choice, are
   honest (nested cross-validation).

Each candidate is then refitted on all the given rows and calibrated on its own inner
out-of-fold scores (cross-fitted, as the tuned LightGBM already was).

The inner out-of-fold figures of LightGBM and the logistic are each the best of a search, so both
are a little optimistic; the blend's weights are fitted on those same scores. The outer folds are
what the report trusts; the inner ones only choose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from foundation.errors import DataError
from foundation.params import CandidateParams, TrainParams
from models.metrics import roc_auc
from models.propensity import (
    Calibrator,
    LeadModel,
    _labels,
    binary_log_loss,
    configured_calibrator,
    encode_frame,
    encode_row,
    learn_categories,
)
from models.table_logistic import (
    LogisticSettings,
    TableLogistic,
    fit_table_logistic,
    logistic_grid,
    one_blas_thread,
)
from models.tuning import SearchResult, Trial, TuneParams, fit_tuned, inner_folds, search

LIGHTGBM, LOGISTIC, BLEND = "lightgbm", "logistic", "blend"
# Folds used to cross-fit the blend's weights over the inner out-of-fold rows.
STACK_FOLDS = 3


@dataclass(frozen=True, eq=False)
class CandidateModel:
    """A calibrated logistic or blend with the interface of `LeadModel` (encode, encode_row,
    predict_proba, raw_score, contributions, calibrator, metadata), so `leadscore score`, the
    service and the MLflow wrapper use it unchanged. It has no `booster` attribute on purpose:
    the service's tree-only fast paths (compiled trees, linear TreeSHAP) then stay off.

    raw = trees_weight * booster log-odds + linear_weight * logistic log-odds + intercept."""

    kind: str
    feature_names: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    calibrator: Calibrator
    linear: TableLogistic
    linear_weight: float = 1.0
    trees: lgb.Booster | None = None
    trees_weight: float = 0.0
    intercept: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def _codes(self) -> dict[str, dict[str, float]]:
        # Built on first use (a served row looks its categories up here), then kept.
        return {
            c: {v: float(i) for i, v in enumerate(self.categories[c])} for c in self.categorical
        }

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(f for f in self.feature_names if f not in set(self.categorical))

    @property
    def calibration(self) -> str:
        return self.calibrator.method

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        return encode_frame(df, self.feature_names, self.categories)

    def encode_row(self, row: Mapping[str, Any]) -> np.ndarray:
        return encode_row(row, self.feature_names, self._codes)

    def _as_array(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            return self.encode(X)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.shape[1] != len(self.feature_names):
            raise DataError(
                f"encoded input has {X.shape[1]} columns, the model expects "
                f"{len(self.feature_names)} ({', '.join(self.feature_names)})"
            )
        return X

    def raw_score(self, X: pd.DataFrame | np.ndarray, num_threads: int | None = None) -> np.ndarray:
        X = self._as_array(X)
        raw = self.linear_weight * self.linear.raw_score(X) + self.intercept
        if self.trees is not None and self.trees_weight:
            raw = raw + self.trees_weight * self.trees.predict(
                X, raw_score=True, num_threads=num_threads or 0
            )
        return raw

    def predict_proba(
        self, X: pd.DataFrame | np.ndarray, num_threads: int | None = None
    ) -> np.ndarray:
        return self.calibrator(self.raw_score(X, num_threads=num_threads))

    def contributions(
        self, X: pd.DataFrame | np.ndarray, num_threads: int | None = None
    ) -> np.ndarray:
        """Per-feature log-odds (uncalibrated) plus the bias in the last column; they sum to
        `raw_score`. The blend's are the weighted sum of its parts' (SHAP values are linear in
        the model)."""
        X = self._as_array(X)
        out = self.linear_weight * self.linear.contributions(X)
        out[:, -1] += self.intercept
        if self.trees is not None and self.trees_weight:
            out += self.trees_weight * self.trees.predict(
                X, pred_contrib=True, num_threads=num_threads or 0
            )
        return out

    def feature_importance(self) -> pd.DataFrame:
        """Mean absolute contribution per feature is not known without data; the logistic's
        absolute standardised coefficients, summed per feature, say what it leans on."""
        weight = np.zeros(len(self.feature_names))
        for coef, owners in zip(self.linear.coef, self.linear.basis.owners, strict=True):
            for j in owners:
                weight[j] += abs(coef) * self.linear_weight / len(owners)
        return (
            pd.DataFrame({"feature": list(self.feature_names), "gain": weight})
            .sort_values("gain", ascending=False, kind="stable")
            .reset_index(drop=True)
        )


@dataclass(frozen=True)
class InnerFigures:
    """A candidate's inner out-of-fold figures, on the rows every candidate was scored on."""

    auc: float
    log_loss: float
    rows: int


@dataclass(frozen=True)
class Candidates:
    """The outcome for one training set: fitted candidates, their inner figures, the choice."""

    models: dict[str, LeadModel | CandidateModel]
    inner: dict[str, InnerFigures]
    chosen: str
    search: SearchResult
    lightgbm_info: dict[str, Any]
    logistic_settings: LogisticSettings | None
    blend_weights: tuple[float, float, float] | None  # trees, linear, intercept

    @property
    def model(self) -> LeadModel | CandidateModel:
        return self.models[self.chosen]

    def summary(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "inner": {n: f.__dict__ for n, f in self.inner.items()},
            "logistic": None if self.logistic_settings is None else self.logistic_settings.__dict__,
            "blend_weights": None
            if self.blend_weights is None
            else dict(zip(("lightgbm", "logistic", "intercept"), self.blend_weights, strict=True)),
        }


def fit_stack(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative weights and an intercept for the columns of `Z` (log-odds) by maximum
    likelihood: a blend that can only add the candidates up, never bet against one."""

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = Z @ theta[:-1] + theta[-1]
        loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
        resid = expit(z) - y
        return loss, np.append(Z.T @ resid / len(y), resid.mean())

    start = np.append(np.full(Z.shape[1], 1.0 / Z.shape[1]), 0.0)
    bounds = [(0.0, None)] * Z.shape[1] + [(None, None)]
    result = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return result.x[:-1], float(result.x[-1])


def _stack_splits(
    rows: np.ndarray, y: np.ndarray, order_key: np.ndarray | None, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-fitting splits over `rows` for the blend (forward-chaining when ordered by time)."""
    positions = np.arange(len(rows))
    order = None if order_key is None else np.argsort(order_key[rows], kind="stable")
    splits = inner_folds(y[rows], order, STACK_FOLDS, seed)
    return [(rows[positions[f]], rows[positions[h]]) for f, h in splits]


def _figures(y: np.ndarray, raw: np.ndarray) -> InnerFigures:
    return InnerFigures(auc=roc_auc(y, raw), log_loss=binary_log_loss(y, expit(raw)), rows=len(y))


def _better(a: InnerFigures, b: InnerFigures, selection: str) -> bool:
    return a.auc > b.auc if selection == "auc" else a.log_loss < b.log_loss


def fit_candidates(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    label: str,
    train: TrainParams,
    tune: TuneParams,
    params: CandidateParams,
    *,
    time_column: str | None = None,
    on_trial: Callable[[Trial], None] | None = None,
    fit_all: bool = True,
) -> Candidates:
    """Search, compare on inner folds, choose, refit (see the module docstring). `fit_all`:
    refit every candidate (an outer fold reports them all); False: only what the choice needs."""
    # The logistic fits, the blend's and the calibrators' optimisers all call BLAS: one thread.
    with one_blas_thread():
        return _fit_candidates(
            frame, numeric, categorical, label, train, tune, params,
            time_column=time_column, on_trial=on_trial, fit_all=fit_all,
        )  # fmt: skip


def _fit_candidates(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    label: str,
    train: TrainParams,
    tune: TuneParams,
    params: CandidateParams,
    *,
    time_column: str | None,
    on_trial: Callable[[Trial], None] | None,
    fit_all: bool,
) -> Candidates:
    feature_names = tuple(numeric) + tuple(categorical)
    y = _labels(frame, label, "training data")
    wanted = params.models
    found = search(
        frame, numeric, categorical, label, train, tune, time_column=time_column, on_trial=on_trial
    )
    order_key = None
    order = None
    if time_column is not None:
        order_key = np.argsort(np.argsort(frame[time_column].to_numpy(), kind="stable"))
        order = np.argsort(frame[time_column].to_numpy(), kind="stable")
    splits = inner_folds(y, order, tune.inner_folds, train.seed)
    # Codes are labels only (no outcome in them): one vocabulary for every inner split.
    categories = learn_categories(frame, categorical)
    X = encode_frame(frame, feature_names, categories)
    cat_pos = list(range(len(numeric), len(feature_names)))

    oof: dict[str, np.ndarray] = {}
    if LIGHTGBM in wanted:
        oof[LIGHTGBM] = found.oof_raw
    settings: LogisticSettings | None = None
    if LOGISTIC in wanted:
        settings, oof[LOGISTIC] = _choose_logistic(X, y, cat_pos, splits, params, train.seed)
    weights: tuple[float, float, float] | None = None
    if BLEND in wanted:
        held = np.flatnonzero(~np.isnan(oof[LIGHTGBM]) & ~np.isnan(oof[LOGISTIC]))
        Z = np.column_stack([oof[LIGHTGBM], oof[LOGISTIC]])
        blend_oof = np.full(len(y), np.nan)
        for fit_rows, held_rows in _stack_splits(held, y, order_key, train.seed):
            w, b = fit_stack(Z[fit_rows], y[fit_rows])
            blend_oof[held_rows] = Z[held_rows] @ w + b
        oof[BLEND] = blend_oof
        w, b = fit_stack(Z[held], y[held])
        weights = (float(w[0]), float(w[1]), b)

    common = np.ones(len(y), dtype=bool)
    for scores in oof.values():
        common &= ~np.isnan(scores)
    inner = {name: _figures(y[common], oof[name][common]) for name in wanted}
    chosen = wanted[0]
    for name in wanted[1:]:
        if _better(inner[name], inner[chosen], params.selection):
            chosen = name

    needed = (
        set(wanted) if fit_all else {chosen} | ({LIGHTGBM, LOGISTIC} if chosen == BLEND else set())
    )
    models: dict[str, LeadModel | CandidateModel] = {}
    lgb_info: dict[str, Any] = {}
    if LIGHTGBM in needed:
        models[LIGHTGBM], lgb_info = fit_tuned(frame, numeric, categorical, label, train, found)
    linear: TableLogistic | None = None
    if LOGISTIC in needed and settings is not None:
        linear = fit_table_logistic(X, y, cat_pos, params, settings, train.seed)
        models[LOGISTIC] = _candidate(
            LOGISTIC, feature_names, categorical, categories, oof[LOGISTIC], y, train, linear
        )
    if BLEND in needed and weights is not None and linear is not None:
        booster = models[LIGHTGBM].booster  # type: ignore[union-attr]
        models[BLEND] = _candidate(
            BLEND,
            feature_names,
            categorical,
            categories,
            oof[BLEND],
            y,
            train,
            linear,
            linear_weight=weights[1],
            trees=booster,
            trees_weight=weights[0],
            intercept=weights[2],
        )
    return Candidates(
        models=models,
        inner=inner,
        chosen=chosen,
        search=found,
        lightgbm_info=lgb_info,
        logistic_settings=settings,
        blend_weights=weights,
    )


def _candidate(
    kind: str,
    feature_names: tuple[str, ...],
    categorical: Sequence[str],
    categories: dict[str, tuple[str, ...]],
    oof_raw: np.ndarray,
    y: np.ndarray,
    train: TrainParams,
    linear: TableLogistic,
    **parts: Any,
) -> CandidateModel:
    """Calibrated on its inner out-of-fold log-odds: every calibrating score came from a fit
    that never saw its row (cross-fitted)."""
    held = ~np.isnan(oof_raw)
    calibrator, _ = configured_calibrator(oof_raw[held], y[held], train)
    return CandidateModel(
        kind=kind,
        feature_names=feature_names,
        categorical=tuple(categorical),
        categories=categories,
        calibrator=calibrator,
        linear=linear,
        **parts,
    )


def _choose_logistic(
    X: np.ndarray,
    y: np.ndarray,
    cat_pos: Sequence[int],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    params: CandidateParams,
    seed: int,
) -> tuple[LogisticSettings, np.ndarray]:
    """The grid setting with the lowest inner out-of-fold log loss, and its out-of-fold
    log-odds. Each inner fit learns its basis (knots, kept levels) from its own rows."""
    best: tuple[float, LogisticSettings, np.ndarray] | None = None
    held_all = np.concatenate([h for _, h in splits])
    for setting in logistic_grid(params):
        raw = np.full(len(y), np.nan)
        for fit_rows, held_rows in splits:
            model = fit_table_logistic(X[fit_rows], y[fit_rows], cat_pos, params, setting, seed)
            raw[held_rows] = model.raw_score(X[held_rows])
        loss = binary_log_loss(y[held_all], expit(raw[held_all]))
        if best is None or loss < best[0]:
            best = (loss, setting, raw)
    assert best is not None  # the grid is never empty (CandidateParams validates it)
    return best[1], best[2]
