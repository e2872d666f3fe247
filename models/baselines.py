"""The two baselines the model has to beat, honestly.

- Points: what marketing-automation tools do today (points per event type, decayed with time).
  It ranks leads but is not a probability; compare it on ranking metrics (AUC, PR AUC, lift). For
  log loss and ECE it can be mapped to a probability with `points_calibrator` (isotonic fit on the
  training rows): a monotone map keeps the ranking, so AUC and lift are unchanged by it.
- Logistic regression on the same features: shows what the trees add over a linear score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from foundation.params import LogisticParams, PointsParams
from models.propensity import Calibrator, category_strings, fit_calibrator, numeric_values

DECAYED_PREFIX = "decayed_"
MISSING_CATEGORY = "__missing__"


def points_score(features: pd.DataFrame, points: PointsParams) -> np.ndarray:
    """sum over event types of points[event] * decayed_<event>, plus per_feature[name] * name
    (e.g. 20 points for reached_mql); absent columns and NaN count 0."""
    score = np.zeros(len(features), dtype=np.float64)
    weights = {f"{DECAYED_PREFIX}{event}": value for event, value in points.per_event.items()}
    weights.update(points.per_feature)
    for column, value in weights.items():
        if column in features.columns:
            score += value * np.nan_to_num(numeric_values(features[column], column), nan=0.0)
    return score


def points_calibrator(train_scores: np.ndarray, train_labels: np.ndarray) -> Calibrator:
    """Isotonic map from points to probability, fitted on training rows (for log loss / ECE)."""
    return fit_calibrator(np.asarray(train_scores), np.asarray(train_labels), "isotonic")


def _numeric_block(df: pd.DataFrame) -> np.ndarray:
    return np.column_stack([numeric_values(df[c], c) for c in df.columns])


def _categorical_block(df: pd.DataFrame) -> np.ndarray:
    # Same category strings as the LightGBM encoder, so both models see the same categories.
    cols = [category_strings(df[c]).fillna(MISSING_CATEGORY).to_numpy() for c in df.columns]
    return np.column_stack(cols).astype(object)


def logistic_pipeline(
    numeric: Sequence[str], categorical: Sequence[str], params: LogisticParams
) -> Pipeline:
    """Unfitted: median-impute (+ missing flags) and scale numerics, one-hot categoricals."""
    transformers = []
    if numeric:
        transformers.append(
            (
                "numeric",
                make_pipeline(
                    FunctionTransformer(_numeric_block),
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    StandardScaler(),
                ),
                list(numeric),
            )
        )
    if categorical:
        transformers.append(
            (
                "categorical",
                make_pipeline(
                    FunctionTransformer(_categorical_block),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                list(categorical),
            )
        )
    return Pipeline(
        [
            ("features", ColumnTransformer(transformers, remainder="drop")),
            ("logistic", LogisticRegression(C=params.C, max_iter=params.max_iter)),
        ]
    )


def fit_logistic(
    train: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    label: str,
    params: LogisticParams,
) -> Pipeline:
    """Fitted logistic-regression baseline; `predict_proba(df)[:, 1]` is P(positive)."""
    y = train[label].astype("int64").to_numpy()
    return logistic_pipeline(numeric, categorical, params).fit(train, y)
