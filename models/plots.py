"""The review plots (PNG) a person opens in the MLflow UI: one figure per question."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGSIZE = (6.0, 5.0)
DPI = 110


def _pyplot() -> Any:
    """pyplot on the file-only backend, chosen when a plot is drawn, not when this module is
    imported (an import must not change matplotlib's global state for its importer)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)
    return path


def curve_plot(
    curves: Mapping[str, pd.DataFrame],
    x: str,
    y: str,
    title: str,
    path: Path,
    diagonal: bool = False,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Several models' curves on one axes, so the reviewer compares them at a glance."""
    fig, ax = _pyplot().subplots(figsize=FIGSIZE)
    for name, frame in curves.items():
        label = labels.get(name, name) if labels else name
        ax.plot(frame[x], frame[y], label=label)
    if diagonal:
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    ax.set_title(title)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def reliability_plot(bins: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """Mean predicted vs observed rate per bin: on the diagonal means the probability is honest."""
    fig, ax = _pyplot().subplots(figsize=FIGSIZE)
    top = 0.0
    for name, frame in bins.items():
        ax.plot(frame["mean_predicted"], frame["observed_rate"], marker="o", label=name)
        top = max(top, float(frame["mean_predicted"].max()), float(frame["observed_rate"].max()))
    ax.plot([0, top], [0, top], linestyle="--", color="grey", linewidth=1, label="perfect")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration (reliability)")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def bar_plot(frame: pd.DataFrame, label: str, value: str, title: str, path: Path) -> Path:
    """Horizontal bars, largest on top (feature importance, SHAP summary)."""
    frame = frame.iloc[::-1]
    fig, ax = _pyplot().subplots(figsize=(7.0, max(3.0, 0.28 * len(frame) + 1)))
    ax.barh(frame[label], frame[value])
    ax.set_title(title)
    ax.set_xlabel(value.replace("_", " "))
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)
