"""The month forecast: P(the lead reaches the target within the snapshot's calendar month).

The model's probability covers `features.horizon_days` (60 by default); the agreement counts SQLs
per calendar month. Scaling by one ratio does not work: leads at the top of the ranking (already
handed over, contacted) convert sooner than the rest, so a global "month / 60 days" ratio (0.53
on the default data) under-forecasts the leads an MQL threshold selects by about a third (top
120 leads per month, six months pooled: realised / forecast 1.31). A second calibration of the
same booster score against the month label (`label_month` of the training table) keeps the
ranking and gets the selected leads' count right (1.01 on the same months).

Platt scaling (two numbers) rather than isotonic: the validation snapshot holds only about 40
month positives, too few for isotonic steps to be stable; both gave the same pooled figures.
Fitted on the validation rows (later than training, unseen by the booster), like the main
calibration. Stored in `LeadModel.metadata` as plain numbers, so old pickles and the MLflow
wrapper carry it without a schema change.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.propensity import Calibrator, LeadModel, fit_calibrator

MONTH_CALIBRATION = "month_calibration"  # metadata key


def fit_month_calibration(model: LeadModel, valid: pd.DataFrame, label: str) -> dict[str, Any]:
    """Fit the month calibrator on `valid` and store it in `model.metadata`; returns its info."""
    y = valid[label].to_numpy(dtype=np.int64)
    info: dict[str, Any] = {"rows": len(y), "positives": int(y.sum())}
    if y.sum() in (0, len(y)):
        info["method"] = None  # one class: nothing to calibrate on; forecasts fall back
        return info
    raw = model.raw_score(valid)
    calibrator = fit_calibrator(raw, y, "sigmoid")
    info.update(method="sigmoid", a=float(calibrator.a), b=float(calibrator.b))
    model.metadata[MONTH_CALIBRATION] = info
    return info


def month_probability(
    model: Any, features: pd.DataFrame, raw_score: np.ndarray | None = None
) -> np.ndarray | None:
    """Calibrated P(target within the calendar month of T) per row; None for a model trained
    before the month calibration existed (callers then say the forecast uses the model horizon).

    `raw_score`: the booster's scores of these rows, when the caller has them already; the
    booster then predicts once per batch instead of twice (the SLA report scores six months)."""
    info = (getattr(model, "metadata", None) or {}).get(MONTH_CALIBRATION)
    if not info or info.get("method") != "sigmoid" or not hasattr(model, "raw_score"):
        return None
    calibrator = Calibrator(method="sigmoid", a=info["a"], b=info["b"])
    return calibrator(model.raw_score(features) if raw_score is None else raw_score)
