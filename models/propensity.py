"""The propensity model: LightGBM on integer-coded features, then a calibration chosen on valid.

Why this shape:
- Categories become integer codes learned at fit time and LightGBM's native categorical split runs
  on them, so the booster sees plain float64 arrays. That keeps pandas `category` dtypes (which
  break MLflow signatures and differ between train and serve) out of every prediction path, and
  lets a service encode a JSON payload with a dict look-up (`encode_row`) instead of pandas.
- Calibration maps the booster's raw log-odds to a probability with a few stored numbers
  (isotonic thresholds for `np.interp`, or Platt's a, b), so a single-row prediction costs one
  `Booster.predict` call plus arithmetic, not an sklearn object.
- Early stopping and calibration both use `valid`, which the caller takes later in time than
  `train`: a random split across time would let the future leak into the stopping rule.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from foundation.categories import category_key
from foundation.errors import DataError, InsufficientDataError
from foundation.params import LightGBMParams, TrainParams
from models.calibration_curves import platt_fit, strict_isotonic
from models.recency import recency_weights

CalibrationMethod = Literal["isotonic", "sigmoid"]
CALIBRATION_METHODS: tuple[CalibrationMethod, ...] = ("isotonic", "sigmoid")

# Threads used for training: fixed, because LightGBM's result may depend on the thread count even
# with deterministic=True. One, because on a shared 2-core machine (CI, a laptop running the
# service) LightGBM's per-iteration OpenMP barriers turn contention into a 10x slow-down: measured
# here on X Education under load, 4 s with one thread vs 54 s with two.
TRAIN_THREADS = 1
# Threads for a single-row prediction: spinning up an OpenMP team costs more than one row.
SINGLE_ROW_THREADS = 1
# Folds used by `auto` to compare isotonic and sigmoid on the validation data.
CALIBRATION_CV_FOLDS = 5
# Isotonic calibration can output exactly 0 or 1 on a pure bin, which makes one unlucky lead cost
# infinite log loss; no lead is ever that certain, so calibrated probabilities are clipped to this.
PROBABILITY_FLOOR = 1e-4


def category_strings(series: pd.Series) -> pd.Series:
    """A column as object strings via `category_key`, None for missing (vectorised for text).

    Text held as objects with None for missing (the firmographics of `build_features`) takes
    the vectorised path too: str() of a string is the string, so the keys are the same."""
    if (
        pd.api.types.is_string_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.infer_dtype(series, skipna=True) == "string"
    ):
        as_text = series.astype("string")
        return as_text.astype(object).where(as_text.notna(), None)
    return series.map(category_key).astype(object)


def numeric_values(series: pd.Series, column: str) -> np.ndarray:
    """A numeric (or boolean) column as float64 with NaN for missing; text is an error naming it."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & series.notna()
    if bad.any():
        example = series[bad].iloc[0]
        raise DataError(f"column {column!r}: value {example!r} is not a number")
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def encode_frame(
    df: pd.DataFrame, feature_names: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """`df` as float64 in `feature_names` order; categoricals (the keys of `categories`) become
    their code in the learned list, unknown or missing -> NaN (LightGBM's missing branch)."""
    missing = [c for c in feature_names if c not in df.columns]
    if missing:
        raise DataError(f"missing feature columns: {missing}")
    out = np.empty((len(df), len(feature_names)), dtype=np.float64)
    for j, name in enumerate(feature_names):
        if name in categories:
            keys = category_strings(df[name])
            codes = pd.Categorical(keys, categories=list(categories[name])).codes
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = numeric_values(df[name], name)
    return out


def encode_row(
    row: Mapping[str, Any], feature_names: Sequence[str], codes: Mapping[str, Mapping[str, float]]
) -> np.ndarray:
    """`row` (a plain dict) as a (1, n_features) float64 array: `codes` maps each categorical to
    its training codes (unknown or missing -> NaN); numbers as floats, absent or "" -> NaN."""
    out = np.empty((1, len(feature_names)), dtype=np.float64)
    for j, name in enumerate(feature_names):
        value = row.get(name)
        if name in codes:
            key = category_key(value)
            out[0, j] = codes[name].get(key, np.nan) if key is not None else np.nan
        elif value is None or value == "":
            out[0, j] = np.nan
        else:
            try:
                out[0, j] = float(value)
            except (TypeError, ValueError) as exc:
                raise DataError(f"feature {name!r}: value {value!r} is not a number") from exc
    return out


def _lightgbm_names(names: Sequence[str]) -> list[str]:
    """Names LightGBM accepts (it refuses JSON specials and rewrites spaces), kept unique."""
    out: list[str] = []
    for i, name in enumerate(names):
        clean = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or f"feature_{i}"
        out.append(clean if clean not in out else f"{clean}_{i}")
    return out


@dataclass(frozen=True, eq=False)
class Calibrator:
    """Raw log-odds -> calibrated probability, from a few stored numbers (cheap per row)."""

    method: CalibrationMethod
    thresholds: np.ndarray = field(default_factory=lambda: np.empty(0))  # isotonic x
    values: np.ndarray = field(default_factory=lambda: np.empty(0))  # isotonic y
    a: float = 1.0  # sigmoid: p = expit(a * raw + b)
    b: float = 0.0

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if self.method == "isotonic":
            # np.interp clips outside the fitted range, like out_of_bounds="clip" in sklearn.
            p = np.interp(raw, self.thresholds, self.values)
        else:
            p = expit(self.a * raw + self.b)
        # np.clip's Python wrapper costs more than the whole sigmoid on one row; same values.
        return np.minimum(np.maximum(p, PROBABILITY_FLOOR), 1.0 - PROBABILITY_FLOOR)


def configured_calibrator(
    raw: np.ndarray, y: np.ndarray, params: TrainParams, weight: np.ndarray | None = None
) -> tuple[Calibrator, dict[str, float]]:
    """The calibration `params.calibration` asks for (`auto`: the method with the lower
    cross-validated log loss, whose losses are returned too) fitted on `raw` -> `y`, each row
    counting `weight` (models/recency.py: later validation snapshots count more)."""
    cv_losses: dict[str, float] = {}
    strict = params.calibration_strict
    if params.calibration == "auto":
        method, cv_losses = choose_calibration(raw, y, params.seed, weight=weight, strict=strict)
    else:
        method = params.calibration
    return fit_calibrator(raw, y, method, weight, strict=strict), cv_losses


def fit_calibrator(
    raw: np.ndarray,
    y: np.ndarray,
    method: CalibrationMethod,
    weight: np.ndarray | None = None,
    *,
    strict: bool = False,
) -> Calibrator:
    """Fit isotonic regression or Platt scaling of labels on raw scores (log-odds); `strict`
    breaks the isotonic steps' ties (`strict_isotonic`)."""
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = None if weight is None else np.asarray(weight, dtype=np.float64)
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(raw, y, sample_weight=w)
        x, v = iso.X_thresholds_.copy(), iso.y_thresholds_.copy()
        if strict:
            x, v = strict_isotonic(x, v)
        return Calibrator("isotonic", thresholds=x, values=v)
    if method == "sigmoid":
        a, b = platt_fit(raw, y, w)
        return Calibrator("sigmoid", a=a, b=b)
    raise ValueError(f"unknown calibration method {method!r} (use one of {CALIBRATION_METHODS})")


def binary_log_loss(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Mean log loss; p is clipped to the probability floor so one pure bin is not infinite."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
    return float(-np.average(y * np.log(p) + (1.0 - y) * np.log1p(-p), weights=weight))


def choose_calibration(
    raw: np.ndarray,
    y: np.ndarray,
    seed: int,
    folds: int = CALIBRATION_CV_FOLDS,
    weight: np.ndarray | None = None,
    strict: bool = False,
) -> tuple[CalibrationMethod, dict[str, float]]:
    """Pick isotonic or sigmoid by cross-validated log loss on the validation data.

    Isotonic is more flexible but over-fits small validation sets; sigmoid is rigid but stable.
    Comparing them out-of-fold lets the data decide instead of a rule of thumb on its size.
    """
    y = np.asarray(y).astype(int)
    n_splits = min(folds, int(np.bincount(y, minlength=2).min()))
    if n_splits < 2:  # too few positives (or negatives) to cross-validate: the rigid choice
        return "sigmoid", {}
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    losses: dict[str, float] = {}
    for method in CALIBRATION_METHODS:
        oof = np.empty(len(y))
        for fit_idx, held_idx in splitter.split(raw.reshape(-1, 1), y):
            w = None if weight is None else weight[fit_idx]
            calibrator = fit_calibrator(raw[fit_idx], y[fit_idx], method, w, strict=strict)
            oof[held_idx] = calibrator(raw[held_idx])
        losses[method] = binary_log_loss(y, oof, weight)
    best: CalibrationMethod = min(CALIBRATION_METHODS, key=lambda m: losses[m])
    return best, losses


@dataclass(frozen=True, eq=False)
class LeadModel:
    """A trained, calibrated propensity model that needs nothing but numpy to predict a row.

    `metadata` carries what a scorer needs to use the model on new data but the booster does not
    know (e.g. the id column of a flat CRM export); it is plain JSON-able data.
    """

    booster: lgb.Booster
    feature_names: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    calibrator: Calibrator
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Derived look-ups, rebuilt on unpickle too (they are cheap): name -> code per categorical.
        codes = {
            c: {v: float(i) for i, v in enumerate(self.categories[c])} for c in self.categorical
        }
        object.__setattr__(self, "_codes", codes)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_codes", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(f for f in self.feature_names if f not in set(self.categorical))

    @property
    def calibration(self) -> CalibrationMethod:
        return self.calibrator.method

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """Features in training column order as float64; unknown or missing category -> NaN."""
        return encode_frame(df, self.feature_names, self.categories)

    def encode_row(self, row: Mapping[str, Any]) -> np.ndarray:
        """One lead from a plain dict (a JSON payload) as a (1, n_features) array, no pandas.

        A key that is absent counts as missing: an API caller may omit optional fields.
        """
        return encode_row(row, self.feature_names, self._codes)  # type: ignore[attr-defined]

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
        """Uncalibrated log-odds from the booster."""
        X = self._as_array(X)
        threads = num_threads if num_threads is not None else _default_threads(len(X))
        return self.booster.predict(X, raw_score=True, num_threads=threads)

    def predict_proba(
        self, X: pd.DataFrame | np.ndarray, num_threads: int | None = None
    ) -> np.ndarray:
        """Calibrated P(positive), shape (n,). One thread for a single row unless told otherwise."""
        return self.calibrator(self.raw_score(X, num_threads=num_threads))

    def contributions(
        self, X: pd.DataFrame | np.ndarray, num_threads: int | None = None
    ) -> np.ndarray:
        """SHAP values in log-odds (uncalibrated), shape (n, n_features + 1); last column bias."""
        X = self._as_array(X)
        threads = num_threads if num_threads is not None else _default_threads(len(X))
        return self.booster.predict(X, pred_contrib=True, num_threads=threads)

    def feature_importance(self) -> pd.DataFrame:
        """Total gain per feature (LightGBM's own importance), largest first."""
        gain = self.booster.feature_importance(importance_type="gain")
        return (
            pd.DataFrame({"feature": list(self.feature_names), "gain": gain.astype(float)})
            .sort_values("gain", ascending=False, kind="stable")
            .reset_index(drop=True)
        )


def _default_threads(n_rows: int) -> int:
    # 0 = LightGBM's default (all cores) for batches; one thread for a single row.
    return SINGLE_ROW_THREADS if n_rows <= 1 else 0


def lightgbm_params(params: LightGBMParams, seed: int, num_threads: int) -> dict[str, Any]:
    """The LightGBM parameter dict: hyper-parameters from params.yaml, determinism fixed here."""
    return {
        "objective": "binary",
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "min_data_in_leaf": params.min_child_samples,
        "bagging_fraction": params.subsample,
        "bagging_freq": params.subsample_freq,
        "feature_fraction": params.colsample_bytree,
        "lambda_l2": params.reg_lambda,
        "cat_smooth": params.cat_smooth,
        "min_data_per_group": params.min_data_per_group,
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": num_threads,
        "verbosity": -1,
    }


def monotone_directions(
    feature_names: Sequence[str], categorical: Sequence[str], patterns: Mapping[str, int]
) -> list[int]:
    """Direction per feature from the first matching pattern (0 when none; categoricals have
    no order, so always 0)."""
    directions = []
    for name in feature_names:
        match = 0
        if name not in categorical:
            match = next((d for p, d in patterns.items() if fnmatch.fnmatchcase(name, p)), 0)
        directions.append(int(match))
    return directions


def learn_categories(train: pd.DataFrame, categorical: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Sorted distinct values per categorical column, as seen in training only."""
    out: dict[str, tuple[str, ...]] = {}
    for col in categorical:
        keys = category_strings(train[col]).dropna()
        out[col] = tuple(sorted(set(keys)))
    return out


def _check_labels(y: np.ndarray, where: str) -> None:
    counts = np.bincount(y, minlength=2)
    if len(counts) > 2 or y.min(initial=0) < 0:
        raise DataError(f"{where}: label must be 0/1, found values {sorted(set(y.tolist()))}")
    if counts.min() == 0:
        raise InsufficientDataError(
            f"{where}: the label has a single class ({counts[0]} negatives, {counts[1]} positives);"
            " a model needs both"
        )


def _labels(df: pd.DataFrame, label: str, where: str) -> np.ndarray:
    if label not in df.columns:
        raise DataError(f"{where}: label column {label!r} not found")
    if df[label].isna().any():
        raise DataError(f"{where}: label column {label!r} has missing values")
    y = df[label].astype("int64").to_numpy()
    _check_labels(y, where)
    return y


def fit_propensity(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    label: str,
    params: TrainParams,
    *,
    num_threads: int = TRAIN_THREADS,
    metadata: Mapping[str, Any] | None = None,
) -> tuple[LeadModel, dict[str, Any]]:
    """Train LightGBM with early stopping on `valid`, then calibrate on `valid`.

    `valid` must come later in time than `train` (the caller's job; see the module docstring).
    Returns the model and an info dict: best_iteration, calibration method, the validation log
    loss before calibration, after it (in-sample on valid: never worse, by construction) and the
    cross-validated log loss of each calibration method when `auto` compared them.
    """
    feature_names = tuple(numeric) + tuple(categorical)
    if not feature_names:
        raise DataError("no features to train on")
    y_train = _labels(train, label, "training data")
    y_valid = _labels(valid, label, "validation data")

    categories = learn_categories(train, categorical)
    X_train = encode_frame(train, feature_names, categories)
    X_valid = encode_frame(valid, feature_names, categories)

    lgb_names = _lightgbm_names(feature_names)
    cat_idx = list(range(len(numeric), len(feature_names)))
    config = lightgbm_params(params.lightgbm, params.seed, num_threads)
    config["metric"] = params.lightgbm.early_stopping_metric
    directions = monotone_directions(feature_names, categorical, params.monotone)
    if any(directions):
        # A marketer's promise the trees must keep: e.g. more recent activity never lowers the
        # score. "intermediate" keeps most of the accuracy the basic method gives away.
        config["monotone_constraints"] = directions
        config["monotone_constraints_method"] = "intermediate"
    d_train = lgb.Dataset(
        X_train, y_train, feature_name=lgb_names, categorical_feature=cat_idx, free_raw_data=True
    )
    d_valid = lgb.Dataset(X_valid, y_valid, reference=d_train)
    booster = lgb.train(
        config,
        d_train,
        num_boost_round=params.lightgbm.n_estimators,
        valid_sets=[d_valid],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(params.lightgbm.early_stopping_rounds, verbose=False)],
    )
    best_iteration = booster.best_iteration or booster.current_iteration()
    # Keep only the trees up to the best iteration: no later caller can forget num_iteration.
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best_iteration))

    raw_valid = booster.predict(X_valid, raw_score=True, num_threads=num_threads)
    weight = recency_weights(valid, params.calibration_half_life_snapshots)
    calibrator, cv_losses = configured_calibrator(raw_valid, y_valid, params, weight)

    model = LeadModel(
        booster=booster,
        feature_names=feature_names,
        categorical=tuple(categorical),
        categories=categories,
        calibrator=calibrator,
        metadata=dict(metadata or {}),
    )
    info = {
        "best_iteration": int(best_iteration),
        "calibration": calibrator.method,
        "valid_logloss_uncalibrated": binary_log_loss(y_valid, expit(raw_valid)),
        "valid_logloss_calibrated": binary_log_loss(y_valid, calibrator(raw_valid)),
        **{f"valid_logloss_cv_{m}": v for m, v in cv_losses.items()},
        "train_rows": len(train),
        "valid_rows": len(valid),
    }
    return model, info
