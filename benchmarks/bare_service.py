"""The baseline of benchmarks/serve_bench.py: the least a service over the same booster does.

    BARE_MODEL=artifacts/train/model.joblib uvicorn benchmarks.bare_service:create_app --factory

FastAPI + orjson, a feature row (or columns) -> float64 numpy in training order ->
`Booster.predict` (raw score, one thread). No calibration, rules, reasons, validation or API
keys: what is left when a service does nothing but predict. leadscore's figures are printed as
ratios to this service's, measured in the same run on the same machine, so figures from noisy
machines stay comparable. Not part of the product.
"""

from __future__ import annotations

import math
import os
from typing import Any

import joblib
import numpy as np
import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response


class BareModel:
    """The booster and its column order / category codes, nothing else."""

    def __init__(self, path: str) -> None:
        model = joblib.load(path)
        self.booster = model.booster
        self.names = tuple(model.feature_names)
        self.codes = {
            c: {v: float(i) for i, v in enumerate(model.categories[c])} for c in model.categorical
        }

    def row(self, features: dict[str, Any]) -> np.ndarray:
        nan = math.nan
        x = np.empty((1, len(self.names)), dtype=np.float64)
        for j, name in enumerate(self.names):
            v = features.get(name)
            codes = self.codes.get(name)
            if codes is not None:
                x[0, j] = codes.get(v, nan) if isinstance(v, str) else nan
            else:
                x[0, j] = nan if v is None else float(v)
        return x

    def columns(self, columns: dict[str, list[Any]], n: int) -> np.ndarray:
        nan = math.nan
        X = np.full((n, len(self.names)), nan, dtype=np.float64)
        for j, name in enumerate(self.names):
            col = columns.get(name)
            if col is None:
                continue
            codes = self.codes.get(name)
            if codes is not None:
                X[:, j] = [codes.get(v, nan) if isinstance(v, str) else nan for v in col]
            else:
                X[:, j] = np.asarray(col, dtype=np.float64)
        return X

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(X, raw_score=True, num_threads=1)


def create_app() -> FastAPI:
    """The bare app over the model at $BARE_MODEL (loaded before the first request)."""
    path = os.environ["BARE_MODEL"]
    app = FastAPI()
    app.state.model = BareModel(path)

    def json(data: Any) -> Response:
        return Response(orjson.dumps(data), media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> Response:
        return json({"ready": True})

    @app.post("/v1/score")
    async def score(request: Request) -> Response:
        body = orjson.loads(await request.body())
        model: BareModel = app.state.model
        raw = model.predict(model.row(body["features"]))
        return json({"lead_id": body.get("lead_id"), "raw_score": float(raw[0])})

    @app.post("/v1/score/batch")
    async def batch(request: Request) -> Response:
        body = orjson.loads(await request.body())
        model: BareModel = app.state.model
        columns = body["columns"]
        n = len(next(iter(columns.values())))
        raw = model.predict(model.columns(columns, n))
        return json({"lead_id": body.get("lead_ids"), "raw_score": raw.tolist()})

    @app.post("/v1/admin/reload")
    async def reload() -> Response:
        app.state.model = BareModel(path)
        return json({"reloaded": True})

    return app
