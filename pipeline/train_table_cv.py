"""The honest figures of `leadscore train-table`: folds (forward-chaining by time, else stratified),
the model and the logistic baseline fitted per fold with an inner hold-out, the scores on each
fold's test rows, and the calibration check against its noise floor.

No test row ever steers the model it is scored by (see pipeline/train_table.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from features.table_mapping import PreparedTable, TableMapping
from foundation.errors import InsufficientDataError
from models import metrics
from models.baselines import fit_logistic
from models.propensity import LeadModel, fit_propensity

if TYPE_CHECKING:
    from models.candidates import Candidates
    from models.tuning import SearchResult, Trial, TuneParams

# Called after every tuning trial with the study's scope ("fold-3", "final") and the trial.
TrialCallback = Callable[[str, "Trial"], None]

# Random draws behind `ece_noise_floor`: enough for a stable mean (its spread is ~0.005/sqrt(n)).
NOISE_FLOOR_DRAWS = 200
NOISE_FLOOR_CELLS = 2_000_000  # random numbers drawn at once (16 MB)
# A fold's ECE above this quantile of the noise draws is more than chance: the report says so.
NOISE_BAND_QUANTILE = 0.95
SCORE_KEYS = ("auc", "pr_auc", "log_loss", "brier", "ece", "lift_top_decile")


@dataclass(frozen=True)
class Fold:
    number: int
    train: np.ndarray  # row positions
    test: np.ndarray


def cv_folds(table: PreparedTable, folds: int, seed: int) -> Iterator[Fold]:
    """Stratified k-fold, or forward-chaining blocks by time when the mapping has `time`."""
    y = table.y
    if table.time is None:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for i, (tr, te) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
            yield Fold(i, tr, te)
        return
    order = np.argsort(table.frame[table.time].to_numpy(), kind="stable")
    blocks = np.array_split(order, folds + 1)
    for i in range(1, folds + 1):
        yield Fold(i, np.concatenate(blocks[:i]), blocks[i])


def inner_split(
    frame: pd.DataFrame, label: str, time: str | None, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows -> (fit, valid): valid is the latest `fraction` by time, else stratified."""
    if time is not None:
        ordered = frame.sort_values(time, kind="stable")
        cut = round(len(ordered) * (1.0 - fraction))
        return ordered.iloc[:cut], ordered.iloc[cut:]
    fit, valid = train_test_split(
        frame, test_size=fraction, stratify=frame[label], random_state=seed
    )
    return fit, valid


def fit_model(
    frame: pd.DataFrame, table: PreparedTable, mapping: TableMapping
) -> tuple[LeadModel, dict[str, Any]]:
    fit, valid = inner_split(
        frame,
        table.label,
        table.time,
        mapping.evaluation.inner_valid_fraction,
        mapping.train.seed,
    )
    spec = table.spec
    return fit_propensity(
        fit, valid, spec.model_numeric, spec.categorical, table.label, mapping.train
    )


def ece_noise_draws(
    p: np.ndarray, n_bins: int, seed: int, draws: int = NOISE_FLOOR_DRAWS
) -> np.ndarray:
    """The ECE of a perfectly calibrated model with these predictions, once per draw of labels
    from p itself: their mean is the noise floor, their upper quantile the band a fold's ECE
    may reach by chance alone.

    Vectorised over the draws: the quantile bins depend on p alone (the same `_bin_index` as
    `metrics.expected_calibration_error`), so only the per-bin label sums change per draw."""
    rng = np.random.default_rng(seed)
    p = np.asarray(p, dtype=float)
    bins = metrics._bin_index(p, n_bins, "quantile")
    counts = np.bincount(bins, minlength=n_bins).astype(float)
    used = counts > 0
    predicted = np.bincount(bins, weights=p, minlength=n_bins)[used] / counts[used]
    weights = counts[used] / counts.sum()
    errors = []
    # A few draws at a time: a (draws x rows) label matrix for a million-row table would not fit.
    step = max(1, NOISE_FLOOR_CELLS // max(len(p), 1))
    for start in range(0, draws, step):
        labels = rng.random((min(step, draws - start), len(p))) < p
        sums = np.stack([np.bincount(bins, weights=row, minlength=n_bins) for row in labels])
        errors.append(np.abs(sums[:, used] / counts[used] - predicted) @ weights)
    return np.concatenate(errors)


def ece_noise_floor(p: np.ndarray, n_bins: int, seed: int, draws: int = NOISE_FLOOR_DRAWS) -> float:
    """The ECE a perfectly calibrated model with these predictions would show on average: labels
    drawn from p itself. On a 1,800-row fold it is near 0.02, so a fold's ECE is read against it."""
    return float(np.mean(ece_noise_draws(p, n_bins, seed, draws)))


def calibration_check(y: np.ndarray, p: np.ndarray, n_bins: int, seed: int) -> dict[str, Any]:
    """Does this fold's ECE stay within what chance alone gives a calibrated model (the 95th
    percentile of `ece_noise_draws`)? When it does not, say which way: a gap between the mean
    prediction and the fold's positive rate (the base rate moved, e.g. a later period converts
    differently) or, with the means in line, a calibration curve that bends within the fold."""
    ece = metrics.expected_calibration_error(y, p, n_bins=n_bins)
    noise = ece_noise_draws(p, n_bins, seed)
    band = float(np.quantile(noise, NOISE_BAND_QUANTILE))
    predicted, observed = float(np.mean(p)), float(np.mean(y))
    out: dict[str, Any] = {
        "ece": ece,
        "ece_noise_floor": float(np.mean(noise)),
        "ece_noise_band": band,
        "within_noise": bool(ece <= band),
        "mean_predicted": predicted,
        "positive_rate": observed,
        "why": None,
    }
    if ece > band:
        if abs(predicted - observed) > band:
            out["why"] = (
                f"base rate: predicted {predicted:.1%} on average, {observed:.1%} converted "
                "(the fold's rate differs from its training rows')"
            )
        else:
            out["why"] = (
                "shape: the mean prediction matches the fold's rate, but the calibration curve "
                "bends within the fold (the calibrator was fitted on the training rows' "
                "out-of-fold scores)"
            )
    return out


def scores(y: np.ndarray, p: np.ndarray, n_bins: int) -> dict[str, float]:
    figures = metrics.summary(y, p, n_bins=n_bins)
    return {k: figures[k] for k in SCORE_KEYS}


def cross_validate(
    table: PreparedTable,
    mapping: TableMapping,
    n_bins: int = metrics.DEFAULT_N_BINS,
    *,
    tune: TuneParams | None = None,
    on_trial: TrialCallback | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, SearchResult]]:
    """Per-fold scores of the model and the logistic baseline, out-of-fold predictions, and (with
    `tune`) each fold's search, keyed `fold-<n>`: the search sees that fold's training rows only.

    With `tune`, every fold fits the candidates (`models.candidates`) on its training rows, each
    is scored on the fold's test rows (`<candidate>_auc`, ...), and `model_*` is the candidate
    that fold's inner folds chose (`chosen`): the outer figures of the whole procedure."""
    spec, frame, y = table.spec, table.frame, table.y
    rows, oof = [], []
    searches: dict[str, SearchResult] = {}
    for fold in cv_folds(table, mapping.evaluation.folds, mapping.train.seed):
        train, test = frame.iloc[fold.train], frame.iloc[fold.test]
        if y[fold.test].min() == y[fold.test].max():
            raise InsufficientDataError(
                f"fold {fold.number} has a single class in its test rows; use fewer folds"
            )
        extra: dict[str, Any] = {}
        predictions: dict[str, np.ndarray] = {}
        if tune is None:
            model, info = fit_model(train, table, mapping)
        else:
            scope = f"fold-{fold.number}"
            found = fit_candidates_on(train, table, mapping, tune, scope, on_trial)
            searches[scope] = found.search
            model, info = found.model, found.lightgbm_info
            extra["chosen"] = found.chosen
            for name, candidate in found.models.items():
                predictions[name] = candidate.predict_proba(test)
                extra |= {
                    f"{name}_{k}": v
                    for k, v in scores(y[fold.test], predictions[name], n_bins).items()
                }
                extra[f"{name}_ece_noise_floor"] = ece_noise_floor(
                    predictions[name], n_bins, mapping.train.seed
                )
                extra[f"{name}_inner_auc"] = found.inner[name].auc
                extra[f"{name}_inner_log_loss"] = found.inner[name].log_loss
        baseline = fit_logistic(
            train, spec.model_numeric, spec.categorical, table.label, mapping.train.logistic
        )
        p_model = model.predict_proba(test)
        p_base = baseline.predict_proba(test)[:, 1]
        check = calibration_check(y[fold.test], p_model, n_bins, mapping.train.seed)
        rows.append(
            {
                "fold": fold.number,
                "train_rows": len(train),
                "test_rows": len(test),
                "best_iteration": info.get("best_iteration"),
                "calibration": model.calibrator.method,
                **{f"model_{k}": v for k, v in scores(y[fold.test], p_model, n_bins).items()},
                **{f"baseline_{k}": v for k, v in scores(y[fold.test], p_base, n_bins).items()},
                "model_ece_noise_floor": check["ece_noise_floor"],
                "model_ece_noise_band": check["ece_noise_band"],
                "model_ece_within_noise": check["within_noise"],
                "model_ece_why": check["why"],
                **extra,
                **{k: v for k, v in info.items() if k.startswith("tuned_")},
            }
        )
        oof.append(
            pd.DataFrame(
                {"row": fold.test, "fold": fold.number, "label": y[fold.test]}
                | {"model": p_model, "baseline": p_base}
                | predictions
            )
        )
    return pd.DataFrame(rows), pd.concat(oof, ignore_index=True).sort_values("row"), searches


def fit_candidates_on(
    frame: pd.DataFrame,
    table: PreparedTable,
    mapping: TableMapping,
    tune: TuneParams,
    scope: str,
    on_trial: TrialCallback | None = None,
    *,
    fit_all: bool = True,
) -> Candidates:
    """The candidates searched, compared and chosen on `frame` alone (the caller decides which
    rows it holds: that is the nesting); `fit_all=False` refits only the chosen one."""
    from models.candidates import fit_candidates

    spec = table.spec
    return fit_candidates(
        frame,
        spec.model_numeric,
        spec.categorical,
        table.label,
        mapping.train,
        tune,
        mapping.candidates,
        time_column=table.time,
        on_trial=None if on_trial is None else (lambda trial: on_trial(scope, trial)),
        fit_all=fit_all,
    )


def candidates_summary(folds: pd.DataFrame, names: Sequence[str]) -> dict[str, Any]:
    """Each candidate's outer-fold figures (mean, std) and how many folds chose it."""
    chosen = folds["chosen"].tolist()
    out: dict[str, Any] = {}
    for name in names:
        figures = summarise(folds, name)
        figures["ece_noise_floor_mean"] = float(folds[f"{name}_ece_noise_floor"].mean())
        figures["inner_auc_mean"] = float(folds[f"{name}_inner_auc"].mean())
        figures["chosen_in_folds"] = chosen.count(name)
        out[name] = figures
    return out


def fold_calibration(folds: pd.DataFrame) -> dict[str, Any]:
    """Which folds' ECE is beyond chance for the reported model, and why (`calibration_check`)."""
    missed = folds.loc[~folds["model_ece_within_noise"].astype(bool)]
    return {
        "folds_within_noise": int(len(folds) - len(missed)),
        "folds": len(folds),
        "misses": [
            {
                "fold": int(row["fold"]),
                "ece": float(row["model_ece"]),
                "ece_noise_band": float(row["model_ece_noise_band"]),
                "why": row["model_ece_why"],
            }
            for _, row in missed.iterrows()
        ],
    }


def summarise(folds: pd.DataFrame, prefix: str) -> dict[str, float]:
    """Mean and standard deviation over folds (population std, as most CV reports give it)."""
    out: dict[str, float] = {}
    for key in SCORE_KEYS:
        values = folds[f"{prefix}_{key}"].to_numpy(dtype=float)
        out[f"{key}_mean"] = float(np.mean(values))
        out[f"{key}_std"] = float(np.std(values))
    return out
