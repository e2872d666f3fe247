"""The MLflow python_model that serves calibrated probabilities.

A LightGBM model logged with the lightgbm or sklearn flavour answers `pyfunc.predict` with class
labels, and pandas `category` columns break the signature. This wrapper takes plain feature
columns (numbers and strings), maps categories to the training codes inside LeadModel, and
returns the calibrated probability.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

MODEL_ARTIFACT = "lead_model"
MODEL_FILE = "model.joblib"


class LeadPropensityModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        import joblib

        self.model = joblib.load(context.artifacts[MODEL_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        probability = np.asarray(self.model.predict_proba(frame), dtype=float)
        return pd.DataFrame({"probability": probability})


def model_signature(numeric: tuple[str, ...], categorical: tuple[str, ...]) -> Any:
    """Explicit signature: numbers as optional doubles, categories as optional strings."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema(
        [ColSpec("double", name, required=False) for name in numeric]
        + [ColSpec("string", name, required=False) for name in categorical]
    )
    outputs = Schema([ColSpec("double", "probability")])
    return ModelSignature(inputs=inputs, outputs=outputs)
