"""A regularised logistic regression built for flat lead tables: the `logistic` candidate.

It works on the same encoded float64 matrix as the booster (`propensity.encode_frame`: numbers as
they are, categories as integer codes, NaN for missing or unknown), so a row is encoded once for
every candidate and a served row costs a few array operations.

Why this basis, and not one `LogisticRegression` call on scaled columns:
- Numbers in CRM exports are skewed (a few leads with 200 visits): each is clipped to its central
  range seen in training, then expanded into a linear spline (hinges at quantile knots), so the
  model can bend (more visits help, then stop helping) without trees. Missing gets its own flag
  and the training median, so "never answered" is a signal, not a zero.
- Categories are one-hot, and levels seen on fewer than `rare_min_count` training rows share one
  pooled column: a level with three leads cannot earn a coefficient of its own (the overfitting a
  high-cardinality column invites), and a level never seen in training lands with them too.
- Optional pairwise products of the numbers most correlated with the label give the linear model
  the interactions a tree finds for free; whether they help is decided on the inner folds.

`contributions` splits the log-odds into one additive part per feature (each basis column's
coefficient times its distance from the training mean; a product split half and half between its
two features), so reasons work as for the trees: the parts plus the bias sum to the raw score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import ThreadpoolController

from foundation.params import CandidateParams
from models.propensity import TRAIN_THREADS

# Basis columns whose training spread is below this are constant: they are dropped, not scaled.
CONSTANT_STD = 1e-12


@cache
def _blas() -> ThreadpoolController:
    # Finding the loaded BLAS libraries scans the process (~50 ms): once, not per fit.
    return ThreadpoolController()


def one_blas_thread() -> Any:
    """A context in which BLAS uses `TRAIN_THREADS` threads (see `fit_table_logistic`)."""
    return _blas().limit(limits=TRAIN_THREADS, user_api="blas")


@dataclass(frozen=True)
class LogisticSettings:
    """One point of the logistic candidate's inner search."""

    C: float
    splines: bool
    interactions: bool


@dataclass(frozen=True, eq=False)
class TableBasis:
    """The fitted expansion of an encoded matrix into the logistic's columns (see the module
    docstring); `owners[k]` are the feature positions basis column k belongs to."""

    n_features: int
    numeric: tuple[int, ...]
    low: np.ndarray  # per numeric: clip range and fill value
    high: np.ndarray
    fill: np.ndarray
    knots: tuple[np.ndarray, ...]  # per numeric: interior hinge points
    flag_missing: np.ndarray  # per numeric: bool, missing seen in training
    categorical: tuple[int, ...]
    kept_levels: tuple[np.ndarray, ...]  # per categorical: codes with a column of their own
    pairs: tuple[tuple[int, int], ...]  # positions in `numeric` multiplied together
    mean: np.ndarray  # per basis column, for scaling
    scale: np.ndarray
    keep: np.ndarray  # bool per raw basis column: not constant in training
    owners: tuple[tuple[int, ...], ...]

    @property
    def width(self) -> int:
        return int(self.keep.sum())

    def transform(self, X: np.ndarray) -> np.ndarray:
        raw, _ = _expand(X, self)
        return (raw[:, self.keep] - self.mean) / self.scale


def _numeric_blocks(
    X: np.ndarray, basis_like: TableBasis | _Partial
) -> tuple[list[np.ndarray], list[tuple[int, ...]], np.ndarray]:
    """Per numeric feature: [linear, hinges..., missing flag] and their owners; also the clipped
    linear terms (for products)."""
    cols: list[np.ndarray] = []
    owners: list[tuple[int, ...]] = []
    linear = np.empty((len(X), len(basis_like.numeric)))
    for i, j in enumerate(basis_like.numeric):
        x = X[:, j]
        missing = np.isnan(x)
        v = np.clip(np.where(missing, basis_like.fill[i], x), basis_like.low[i], basis_like.high[i])
        linear[:, i] = v
        cols.append(v)
        owners.append((j,))
        for knot in basis_like.knots[i]:
            cols.append(np.maximum(v - knot, 0.0))
            owners.append((j,))
        if basis_like.flag_missing[i]:
            cols.append(missing.astype(np.float64))
            owners.append((j,))
    return cols, owners, linear


@dataclass(frozen=True)
class _Partial:
    """The numeric part of a basis, before products and scaling are known."""

    numeric: tuple[int, ...]
    low: np.ndarray
    high: np.ndarray
    fill: np.ndarray
    knots: tuple[np.ndarray, ...]
    flag_missing: np.ndarray


def _expand(X: np.ndarray, basis: TableBasis) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    cols, owners, linear = _numeric_blocks(X, basis)
    for j, kept in zip(basis.categorical, basis.kept_levels, strict=True):
        codes = X[:, j]
        missing = np.isnan(codes)
        known = np.zeros(len(X), dtype=bool)
        for level in kept:
            hit = codes == level
            known |= hit
            cols.append(hit.astype(np.float64))
            owners.append((j,))
        cols.append((~known & ~missing).astype(np.float64))  # pooled: rare or never seen
        owners.append((j,))
        cols.append(missing.astype(np.float64))
        owners.append((j,))
    if basis.pairs:
        centred = (linear - basis.fill[None, :]) / np.where(
            basis.high > basis.low, basis.high - basis.low, 1.0
        )
        for a, b in basis.pairs:
            cols.append(centred[:, a] * centred[:, b])
            owners.append((basis.numeric[a], basis.numeric[b]))
    matrix = np.column_stack(cols) if cols else np.zeros((len(X), 0))
    return matrix, owners


def fit_basis(
    X: np.ndarray,
    y: np.ndarray,
    categorical_positions: Sequence[int],
    params: CandidateParams,
    splines: bool,
    interactions: bool,
) -> TableBasis:
    """Learn clip ranges, knots, kept levels and products from the training rows alone."""
    n, p = X.shape
    categorical = tuple(int(j) for j in categorical_positions)
    numeric = tuple(j for j in range(p) if j not in set(categorical))
    low, high, fill = (np.zeros(len(numeric)) for _ in range(3))
    knots: list[np.ndarray] = []
    flag = np.zeros(len(numeric), dtype=bool)
    q = params.clip_quantile
    for i, j in enumerate(numeric):
        x = X[:, j]
        seen = x[~np.isnan(x)]
        flag[i] = len(seen) < n
        if len(seen) == 0:
            knots.append(np.empty(0))
            continue
        low[i], high[i] = np.quantile(seen, [q, 1.0 - q])
        fill[i] = float(np.median(seen))
        inside = np.clip(seen, low[i], high[i])
        levels = np.unique(inside)
        if len(levels) <= 2 or not splines or params.spline_knots == 0:  # a flag: no bends
            knots.append(np.empty(0))
            continue
        probs = np.linspace(0, 1, params.spline_knots + 2)[1:-1]
        cut = np.unique(np.quantile(inside, probs))
        knots.append(cut[(cut > low[i]) & (cut < high[i])])
    partial = _Partial(numeric, low, high, fill, tuple(knots), flag)
    kept_levels = []
    for j in categorical:
        codes = X[:, j]
        values, counts = np.unique(codes[~np.isnan(codes)], return_counts=True)
        kept_levels.append(values[counts >= params.rare_min_count])
    pairs: tuple[tuple[int, int], ...] = ()
    if interactions and params.interaction_features >= 2 and len(numeric) >= 2:
        _, _, linear = _numeric_blocks(X, partial)
        strength = np.array([_abs_corr(linear[:, i], y) for i in range(len(numeric))])
        top = sorted(np.argsort(-strength, kind="stable")[: params.interaction_features].tolist())
        top = [i for i in top if strength[i] > 0]
        pairs = tuple((a, b) for k, a in enumerate(top) for b in top[k + 1 :])
    draft = TableBasis(
        n_features=p,
        numeric=numeric,
        low=low,
        high=high,
        fill=fill,
        knots=tuple(knots),
        flag_missing=flag,
        categorical=categorical,
        kept_levels=tuple(kept_levels),
        pairs=pairs,
        mean=np.empty(0),
        scale=np.empty(0),
        keep=np.empty(0, dtype=bool),
        owners=(),
    )
    raw, owners = _expand(X, draft)
    std = raw.std(axis=0)
    keep = std > CONSTANT_STD
    return TableBasis(
        **{
            **draft.__dict__,
            "mean": raw[:, keep].mean(axis=0),
            "scale": std[keep],
            "keep": keep,
            "owners": tuple(o for o, k in zip(owners, keep, strict=True) if k),
        }
    )


def _abs_corr(x: np.ndarray, y: np.ndarray) -> float:
    if x.std() < CONSTANT_STD:
        return 0.0
    return float(abs(np.corrcoef(x, y)[0, 1]))


@dataclass(frozen=True, eq=False)
class TableLogistic:
    """A fitted basis and its coefficients: raw log-odds and per-feature contributions."""

    basis: TableBasis
    coef: np.ndarray
    intercept: float
    settings: LogisticSettings

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        return self.basis.transform(X) @ self.coef + self.intercept

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n, n_features + 1): per feature, the log-odds its basis columns add against the
        training average; last column the bias (the score of the average row)."""
        parts = self.basis.transform(X) * self.coef  # basis is centred on the training mean
        out = np.zeros((len(X), self.basis.n_features + 1))
        for k, owners in enumerate(self.basis.owners):
            share = parts[:, k] / len(owners)
            for j in owners:
                out[:, j] += share
        out[:, -1] = self.intercept
        return out


def fit_table_logistic(
    X: np.ndarray,
    y: np.ndarray,
    categorical_positions: Sequence[int],
    params: CandidateParams,
    settings: LogisticSettings,
    seed: int,
) -> TableLogistic:
    """Basis from `X`, then an L2-penalised logistic regression with strength 1/C on it."""
    basis = fit_basis(X, y, categorical_positions, params, settings.splines, settings.interactions)
    B = basis.transform(X)
    if B.shape[1] == 0:  # nothing varies: the base rate
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        return TableLogistic(basis, np.zeros(0), float(np.log(rate / (1 - rate))), settings)
    # Newton steps on a (columns x columns) system: a few iterations for n >> columns, where
    # lbfgs wanders on the correlated hinge columns.
    model = LogisticRegression(
        C=settings.C, solver="newton-cholesky", max_iter=params.max_iter, random_state=seed
    )
    # One BLAS thread, for the reason LightGBM trains on one (`propensity.TRAIN_THREADS`): on a
    # shared 2-core machine a BLAS thread team under contention made these fits 10x slower
    # (measured here: 4 s against 0.3 s for 6,000 X Education rows).
    with one_blas_thread():
        model.fit(B, y)
    return TableLogistic(basis, model.coef_[0].copy(), float(model.intercept_[0]), settings)


def logistic_grid(params: CandidateParams) -> list[LogisticSettings]:
    """The settings the inner folds compare: each C on three bases of growing flexibility
    (straight lines; splines; splines and products), so a table whose signal is linear is not
    forced to pay for bends it does not need."""
    bases = [(False, False)]
    if params.spline_knots > 0:
        bases.append((True, False))
    if params.interaction_features >= 2:
        bases.append((params.spline_knots > 0, True))
    return [
        LogisticSettings(C=c, splines=splines, interactions=products)
        for splines, products in bases
        for c in params.C_grid
    ]
