"""Batch raw scores from the model's trees compiled to machine code (lleaves), cached on disk.

Why: `Booster.predict` walks 146 trees node by node through generic code; one thread tops out
near 67,000 rows/s here, which caps a 1000-lead batch before JSON and rules are even counted.
lleaves (LLVM via llvmlite) turns each tree into straight-line compare-and-branch code; the same
raw scores (a test pins them within 1e-12 of `Booster.predict`) come several times faster.

Compiling takes seconds, so it happens once per model version: the object file is cached under
a name derived from the model's text and the compiler's version, beside the model file (or in
`compiled_trees_dir`), and a restart or reload of the same model only loads it. Anything missing
or failing (no `compiled` extra installed, an unwritable folder, a model the compiler refuses)
returns None: the scorer keeps using the booster, and the reason is logged once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("leadscore.serve")

# Rows below which the booster is used anyway: one row has LightGBM's single-row fast path.
MIN_ROWS = 2


class CompiledTrees:
    """Raw scores (log-odds) of float64 rows in training column order, on one thread."""

    def __init__(self, model: Any, n_features: int) -> None:
        self._model = model
        self.n_features = n_features

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        return self._model.predict(np.ascontiguousarray(X, dtype=np.float64), n_jobs=1)


def cache_key(model_text: str) -> str:
    """Same model, compiler and CPU -> same name; anything else compiles afresh."""
    from importlib.metadata import version

    import llvmlite
    import llvmlite.binding as llvm

    # The object file is built for this CPU's instruction set: another CPU compiles its own.
    llvm.initialize_native_target()
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:
        features = ""
    parts = (
        model_text,
        version("lleaves"),
        llvmlite.__version__,
        platform.machine(),
        platform.system(),
        llvm.get_host_cpu_name(),
        features,
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def cache_dir_for(model_uri: str, configured: Path | None) -> Path:
    """Where compiled trees are kept: the configured folder, else beside a local model file,
    else (a registry model, downloaded to a temporary folder each time) the user cache."""
    if configured is not None:
        return Path(configured)
    if not model_uri.startswith("models:/"):
        path = Path(model_uri)
        return (path if path.is_dir() else path.parent) / "compiled-trees"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "leadscore" / "compiled-trees"


def compile_trees(booster: Any, n_features: int, cache_dir: Path) -> CompiledTrees | None:
    """The booster's trees compiled (or loaded from the cache), or None with the reason logged."""
    try:
        import lleaves
    except ImportError:
        log.info("compiled trees off: lleaves is not installed (pip install 'leadscore[compiled]')")
        return None
    try:
        text = booster.model_to_string()
        key = cache_key(text)
        cache_dir.mkdir(parents=True, exist_ok=True)
        cached = cache_dir / f"{key}.o"
        # lleaves reads the model from a file; a private temporary one, removed right after.
        with tempfile.TemporaryDirectory(prefix="leadscore-trees-") as tmp:
            model_file = Path(tmp) / "model.txt"
            model_file.write_text(text)
            model = lleaves.Model(model_file=str(model_file))
            if cached.exists():
                model.compile(cache=str(cached), raw_score=True)
            else:
                # Compile into a temporary name and rename: a concurrent worker never loads a
                # half-written object file.
                partial = cache_dir / f"{key}.{os.getpid()}.tmp.o"
                model.compile(cache=str(partial), raw_score=True)
                os.replace(partial, cached)
        compiled = CompiledTrees(model, n_features)
        if model.num_feature() != n_features:
            raise ValueError(f"compiled {model.num_feature()} features, model {n_features}")
        compiled.raw_score(np.zeros((MIN_ROWS, n_features)))
    except Exception as exc:  # any failure: serve with the booster, say why once
        log.warning("compiled trees off, scoring with the booster: %s: %s", type(exc).__name__, exc)
        return None
    return compiled
