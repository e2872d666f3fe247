"""The two curves a calibrator can be fitted as, beside sklearn's isotonic steps: the Platt
sigmoid started at the identity, and the isotonic steps joined through their centres. Pure
numpy/scipy, apart from models/propensity.py's Calibrator, which stores what they return."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit


def strict_isotonic(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An isotonic fit's steps as a strictly increasing line through each step's centre.

    Why: isotonic regression is a staircase. On a validation set of a few hundred positives it
    has a few dozen steps, so every lead on one step gets the same probability however far
    apart the booster ranked them: measured on the road traffic fines, 26 to 53 distinct
    probabilities for 19,419 test rows, and a test AUC 0.004 to 0.019 below the booster's own
    (docs/your-own-data.md). Joining the steps' centres (the centred isotonic regression of
    Oron and Flournoy, 2017) keeps every step's level where the data put it, at its centre, and
    the booster's order everywhere between the first and the last centre; beyond them the
    calibration stays flat, as sklearn's clip does. `x`, `v`: sklearn's X_thresholds_ and
    y_thresholds_ (non-decreasing, each step given by its two ends).
    """
    levels, step = np.unique(v, return_inverse=True)
    centres = np.bincount(step, weights=x) / np.bincount(step)
    return centres, levels


def platt_fit(raw: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    """Maximum-likelihood a, b of expit(a*raw + b), started at the identity (a=1, b=0).

    Starting at the identity means the fitted map never has a worse in-sample log loss than the
    booster's own probabilities: calibration on the validation data can only keep or improve it.
    """

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] * raw + theta[1]
        # log(1 + e^z) - y*z, numerically stable
        # np.average without weights is np.mean: unweighted fits stay bit for bit as they were.
        loss = np.average(np.logaddexp(0.0, z) - y * z, weights=w)
        resid = expit(z) - y
        grad = [np.average(resid * raw, weights=w), np.average(resid, weights=w)]
        return float(loss), np.array(grad)

    result = minimize(loss_and_grad, x0=np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    start, _ = loss_and_grad(np.array([1.0, 0.0]))
    a, b = result.x if result.fun <= start else (1.0, 0.0)
    return float(a), float(b)
