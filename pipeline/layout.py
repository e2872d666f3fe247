"""Where the pipeline stages leave what the next stages read: folders and file names under
params.paths.

Its own module so that a stage reading another stage's output names the path without importing
that stage: register reads run.json and metrics.json, and importing pipeline.evaluate for that
pulled in matplotlib, scikit-learn and LightGBM (about 2 s of its 5 s CPU).
"""

from __future__ import annotations

from pathlib import Path

from foundation.params import Params

MODEL_FILE = "model.joblib"
LOGISTIC_FILE = "logistic.joblib"
RUN_FILE = "run.json"
SPLIT_FILE = "split.json"
METRICS_FILE = "metrics.json"


def train_dir(params: Params) -> Path:
    return params.paths.artifacts / "train"


def evaluate_dir(params: Params) -> Path:
    return params.paths.artifacts / "evaluate"


def training_table_path(params: Params) -> Path:
    return params.paths.features / "training_table.parquet"
