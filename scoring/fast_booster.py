"""One-row LightGBM prediction through the C API's "single row fast" entry point.

`Booster.predict` parses its parameters and builds a predictor on every call: about 50-90 us for
one row here, more than everything else in scoring a feature row. LightGBM's C API has a path
made for this case: `LGBM_BoosterPredictForMatSingleRowFastInit` prepares the predictor once
(one thread, raw score) and `LGBM_BoosterPredictForMatSingleRowFast` then costs about 10 us.

The config is not safe for concurrent use, so calls take a lock (uncontended on the event loop,
where single leads are scored). Anything unexpected at set-up (another LightGBM build without the
entry point) returns None and the scorer keeps using `Booster.predict`. A test pins that both give
bit-identical raw scores.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

C_API_PREDICT_RAW_SCORE = 1
C_API_DTYPE_FLOAT64 = 1


class SingleRowPredictor:
    """Raw score (log-odds) of one float64 row, in training column order."""

    def __init__(self, booster: Any, n_features: int) -> None:
        from lightgbm.basic import _LIB, _safe_call

        self._lib = _LIB
        self._booster = booster  # keeps the handle alive as long as the config
        self._config = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(C_API_PREDICT_RAW_SCORE),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # all iterations (the saved model is cut at the best one)
                ctypes.c_int(C_API_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self._config),
            )
        )
        self.n_features = n_features
        self._out = np.zeros(1, dtype=np.float64)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64()
        self._predict = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        self._lock = threading.Lock()

    def raw_score(self, row: np.ndarray) -> float:
        row = np.ascontiguousarray(row, dtype=np.float64).reshape(-1)
        if row.shape[0] != self.n_features:
            raise ValueError(f"row has {row.shape[0]} values, the model {self.n_features}")
        with self._lock:
            code = self._predict(
                self._config,
                row.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(self._out_len),
                self._out_ptr,
            )
            if code != 0:
                raise RuntimeError("LightGBM single-row prediction failed")
            return float(self._out[0])

    def __del__(self) -> None:
        config, lib = getattr(self, "_config", None), getattr(self, "_lib", None)
        if config is not None and config.value and lib is not None:
            lib.LGBM_FastConfigFree(config)
            self._config = ctypes.c_void_p()


def single_row_predictor(booster: Any, n_features: int) -> SingleRowPredictor | None:
    """The fast predictor, or None where this LightGBM build cannot make one."""
    try:
        predictor = SingleRowPredictor(booster, n_features)
        predictor.raw_score(np.zeros(n_features))
    except Exception:
        return None
    return predictor
