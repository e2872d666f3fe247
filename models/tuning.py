"""Hyper-parameter search for the flat-table model: Optuna over LightGBM's main knobs, scored by
cross-validation on the rows it is given and on nothing else.

Why this shape:
- Nesting is the caller's contract: `pipeline.train_table` calls `search` once per outer training
  fold with that fold's training rows only, and once on all rows for the final model. Every row
  the objective touches is recorded (`SearchResult.rows_seen`), so a test can prove the outer test
  rows never guided the search.
- The objective is the inner cross-validated log loss of the booster: a proper score, so it rewards
  ranking and honest probabilities together (AUC alone would happily pick an over-confident model
  that the calibrator must then undo on little data).
- The first trial is the configured parameters (params.yaml / the mapping's `train.lightgbm`), so
  the search can only return something that did at least as well on the inner folds.
- Cross-fitted calibration: the best trial already holds an out-of-fold raw score for every row
  (each from a booster that never saw it). `fit_tuned` refits one booster on all rows for the
  mean best iteration and fits the calibrator on those out-of-fold scores: all rows calibrate,
  instead of the 20% hold-out the untuned path spends on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import expit
from sklearn.model_selection import StratifiedKFold

from foundation.errors import InsufficientDataError, LeadscoreError
from foundation.params import LightGBMParams, TrainParams
from models.metrics import roc_auc
from models.propensity import (
    TRAIN_THREADS,
    LeadModel,
    _labels,
    _lightgbm_names,
    binary_log_loss,
    configured_calibrator,
    encode_frame,
    learn_categories,
    lightgbm_params,
    monotone_directions,
)

EXTRA_HINT = "pip install 'optuna>=4.0,<6'"
# The `LightGBMParams` fields the search sets; the others (rounds, patience) keep their values.
SEARCHED = (
    "learning_rate",
    "num_leaves",
    "min_child_samples",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
)
# Searched only when the table has categorical columns: LightGBM's own categorical encoding
# (smoothing of each level's statistics, the rows a level needs), so a high-cardinality column
# gets the regularisation the inner folds ask for instead of the library's one-size default.
SEARCHED_CATEGORICAL = ("cat_smooth", "min_data_per_group")


class TuneParams(BaseModel):
    """How hard to search and where. Ranges are (low, high); the *_log ones are searched on a log
    scale because their effect is multiplicative (halving the learning rate matters as much at 0.02
    as at 0.2)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trials: int = Field(30, ge=1)
    # Wall-clock budget per study (one per outer fold plus the final one); None: trials only.
    timeout_seconds: float | None = Field(None, gt=0)
    inner_folds: int = Field(3, ge=2)
    # Tighter than the final fit's patience: the search compares many candidates, and 50 rounds
    # without improvement already separates them; it halves the cost of a trial.
    early_stopping_rounds: int = Field(50, gt=0)
    n_estimators: int = Field(3000, gt=0)
    learning_rate_log: tuple[float, float] = (0.01, 0.2)
    num_leaves_log: tuple[int, int] = (4, 128)
    min_child_samples_log: tuple[int, int] = (5, 300)
    subsample: tuple[float, float] = (0.5, 1.0)
    colsample_bytree: tuple[float, float] = (0.3, 1.0)
    reg_lambda_log: tuple[float, float] = (1e-3, 30.0)
    cat_smooth_log: tuple[float, float] = (1.0, 100.0)
    min_data_per_group_log: tuple[int, int] = (5, 200)

    @model_validator(mode="after")
    def _ranges_ordered(self) -> TuneParams:
        for name in (
            "learning_rate_log",
            "num_leaves_log",
            "min_child_samples_log",
            "subsample",
            "colsample_bytree",
            "reg_lambda_log",
            "cat_smooth_log",
            "min_data_per_group_log",
        ):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name}: need 0 < low <= high, got ({low}, {high})")
        return self


@dataclass(frozen=True)
class Trial:
    """One candidate: its parameters and what the inner folds said about them."""

    number: int
    params: dict[str, Any]
    log_loss: float
    auc: float
    best_iteration: int
    seconds: float


@dataclass(frozen=True)
class SearchResult:
    best: LightGBMParams  # the configured parameters with the best trial's values filled in
    best_trial: int
    best_iteration: int  # rounds for the refit on all rows: mean over the inner folds
    trials: tuple[Trial, ...]
    oof_raw: np.ndarray  # per row, the best trial's out-of-fold log-odds (NaN: never held out)
    rows_seen: np.ndarray  # index labels of every row the objective used


def require_optuna() -> Any:
    """Import optuna, or say how to get it (it is a core dependency; a trimmed install may lack
    it)."""
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise LeadscoreError(f"--tune needs optuna, which is not installed: {EXTRA_HINT}") from exc
    return optuna


def inner_folds(
    y: np.ndarray, order: np.ndarray | None, k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, held) row positions: stratified k-fold, or forward-chaining when `order` (positions
    sorted by time) is given, so the inner search respects time like the outer evaluation."""
    if order is None:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y))
    blocks = np.array_split(order, k + 1)
    return [(np.concatenate(blocks[:i]), blocks[i]) for i in range(1, k + 1)]


def searched(categorical: Sequence[str]) -> tuple[str, ...]:
    """The `LightGBMParams` fields a search over a table with these categoricals sets."""
    return SEARCHED + (SEARCHED_CATEGORICAL if categorical else ())


def suggest(trial: Any, space: TuneParams, categorical: bool = False) -> dict[str, Any]:
    """One candidate from Optuna's sampler, named as in `LightGBMParams`."""
    values = {
        "learning_rate": trial.suggest_float("learning_rate", *space.learning_rate_log, log=True),
        "num_leaves": trial.suggest_int("num_leaves", *space.num_leaves_log, log=True),
        "min_child_samples": trial.suggest_int(
            "min_child_samples", *space.min_child_samples_log, log=True
        ),
        "subsample": trial.suggest_float("subsample", *space.subsample),
        "colsample_bytree": trial.suggest_float("colsample_bytree", *space.colsample_bytree),
        "reg_lambda": trial.suggest_float("reg_lambda", *space.reg_lambda_log, log=True),
    }
    if categorical:
        values["cat_smooth"] = trial.suggest_float("cat_smooth", *space.cat_smooth_log, log=True)
        values["min_data_per_group"] = trial.suggest_int(
            "min_data_per_group", *space.min_data_per_group_log, log=True
        )
    return values


@dataclass(frozen=True)
class _Encoded:
    fit: tuple[np.ndarray, np.ndarray]
    held: tuple[np.ndarray, np.ndarray]
    held_pos: np.ndarray


def _encode_inner(
    frame: pd.DataFrame,
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    feature_names: tuple[str, ...],
    categorical: Sequence[str],
) -> list[_Encoded]:
    """Encode each inner split once (categories learned from its fit rows only), reused by every
    trial: encoding is pure pandas and would otherwise cost as much as a small booster."""
    out = []
    for fit_pos, held_pos in splits:
        fit = frame.iloc[fit_pos]
        categories = learn_categories(fit, categorical)
        out.append(
            _Encoded(
                fit=(encode_frame(fit, feature_names, categories), y[fit_pos]),
                held=(encode_frame(frame.iloc[held_pos], feature_names, categories), y[held_pos]),
                held_pos=held_pos,
            )
        )
    return out


def _train(
    config: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    names: list[str],
    cat_idx: list[int],
    rounds: int,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    patience: int = 0,
) -> lgb.Booster:
    d_fit = lgb.Dataset(X, y, feature_name=names, categorical_feature=cat_idx, free_raw_data=True)
    if valid is None:
        return lgb.train(config, d_fit, num_boost_round=rounds)
    d_valid = lgb.Dataset(valid[0], valid[1], reference=d_fit)
    return lgb.train(
        config,
        d_fit,
        num_boost_round=rounds,
        valid_sets=[d_valid],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(patience, verbose=False)],
    )


def _config(
    params: LightGBMParams, train: TrainParams, directions: list[int], threads: int
) -> dict[str, Any]:
    config = lightgbm_params(params, train.seed, threads)
    # Datasets are rebuilt per trial with a different min_data_in_leaf; LightGBM's pre-filter
    # would otherwise drop features based on the first trial's value.
    config["feature_pre_filter"] = False
    if any(directions):
        config["monotone_constraints"] = directions
        config["monotone_constraints_method"] = "intermediate"
    return config


def search(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    label: str,
    train: TrainParams,
    space: TuneParams,
    *,
    time_column: str | None = None,
    on_trial: Callable[[Trial], None] | None = None,
    num_threads: int = TRAIN_THREADS,
) -> SearchResult:
    """Search LightGBM's parameters by inner cross-validation over `frame` (and only `frame`)."""
    optuna = require_optuna()
    feature_names = tuple(numeric) + tuple(categorical)
    y = _labels(frame, label, "tuning data")
    if int(np.bincount(y, minlength=2).min()) < space.inner_folds:
        raise InsufficientDataError(
            f"tuning needs at least {space.inner_folds} rows of each class for "
            f"{space.inner_folds} inner folds; use fewer folds or no --tune"
        )
    order = None
    if time_column is not None:
        order = np.argsort(frame[time_column].to_numpy(), kind="stable")
    splits = inner_folds(y, order, space.inner_folds, train.seed)
    encoded = _encode_inner(frame, y, splits, feature_names, categorical)
    names = _lightgbm_names(feature_names)
    cat_idx = list(range(len(numeric), len(feature_names)))
    directions = monotone_directions(feature_names, categorical, train.monotone)
    seen = np.unique(np.concatenate([np.concatenate([f, h]) for f, h in splits]))
    held_all = np.concatenate([e.held_pos for e in encoded])

    trials: list[Trial] = []
    oof_by_trial: dict[int, np.ndarray] = {}
    iterations_by_trial: dict[int, list[int]] = {}

    def objective(trial: Any) -> float:
        started = time.perf_counter()
        values = suggest(trial, space, categorical=bool(categorical))
        candidate = train.lightgbm.model_copy(update=values)
        config = _config(candidate, train, directions, num_threads)
        oof = np.full(len(frame), np.nan)
        iterations = []
        for enc in encoded:
            booster = _train(
                config,
                *enc.fit,
                names,
                cat_idx,
                space.n_estimators,
                enc.held,
                space.early_stopping_rounds,
            )
            best = booster.best_iteration or booster.current_iteration()
            iterations.append(int(best))
            oof[enc.held_pos] = booster.predict(
                enc.held[0], raw_score=True, num_iteration=best, num_threads=num_threads
            )
        loss = binary_log_loss(y[held_all], expit(oof[held_all]))
        record = Trial(
            number=trial.number,
            params=values,
            log_loss=loss,
            auc=roc_auc(y[held_all], oof[held_all]),
            best_iteration=round(float(np.mean(iterations))),
            seconds=time.perf_counter() - started,
        )
        trials.append(record)
        oof_by_trial[trial.number] = oof
        iterations_by_trial[trial.number] = iterations
        if on_trial is not None:
            on_trial(record)
        return loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=train.seed)
    )
    configured = train.lightgbm
    study.enqueue_trial(
        {k: getattr(configured, k) for k in searched(categorical)}, skip_if_exists=True
    )
    study.optimize(objective, n_trials=space.trials, timeout=space.timeout_seconds)
    best = min(trials, key=lambda t: (t.log_loss, t.number))
    return SearchResult(
        best=train.lightgbm.model_copy(update=best.params),
        best_trial=best.number,
        best_iteration=max(1, best.best_iteration),
        trials=tuple(trials),
        oof_raw=oof_by_trial[best.number],
        rows_seen=frame.index.to_numpy()[seen],
    )


def fit_tuned(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    label: str,
    train: TrainParams,
    result: SearchResult,
    *,
    num_threads: int = TRAIN_THREADS,
) -> tuple[LeadModel, dict[str, Any]]:
    """One booster on all of `frame` with the best parameters, calibrated on the search's
    out-of-fold scores (cross-fitted: every row calibrates, none by a booster that saw it)."""
    feature_names = tuple(numeric) + tuple(categorical)
    y = _labels(frame, label, "training data")
    categories = learn_categories(frame, categorical)
    X = encode_frame(frame, feature_names, categories)
    directions = monotone_directions(feature_names, categorical, train.monotone)
    config = _config(result.best, train, directions, num_threads)
    names = _lightgbm_names(feature_names)
    cat_idx = list(range(len(numeric), len(feature_names)))
    booster = _train(config, X, y, names, cat_idx, result.best_iteration)

    held = ~np.isnan(result.oof_raw)
    raw, y_held = result.oof_raw[held], y[held]
    calibrator, cv_losses = configured_calibrator(raw, y_held, train)
    model = LeadModel(
        booster=booster,
        feature_names=feature_names,
        categorical=tuple(categorical),
        categories=categories,
        calibrator=calibrator,
    )
    info = {
        "best_iteration": result.best_iteration,
        "calibration": calibrator.method,
        "calibration_rows": int(held.sum()),
        "valid_logloss_uncalibrated": binary_log_loss(y_held, expit(raw)),
        "valid_logloss_calibrated": binary_log_loss(y_held, calibrator(raw)),
        **{f"valid_logloss_cv_{m}": v for m, v in cv_losses.items()},
        "train_rows": len(frame),
        "tune_trials": len(result.trials),
        "tune_best_trial": result.best_trial,
        **{f"tuned_{k}": getattr(result.best, k) for k in searched(categorical)},
    }
    return model, info
