"""The house flows one way: foundation -> features / models / sla -> serve -> pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each package and the packages it must never import (the floors above it).
FORBIDDEN: dict[str, set[str]] = {
    "foundation": {"features", "models", "sla", "serve", "pipeline"},
    "features": {"serve", "pipeline"},
    "models": {"serve", "pipeline"},
    "sla": {"serve", "pipeline"},
    "serve": {"pipeline"},
    # Dask runs the functions the pandas path runs; the CLI (pipeline) drives it, not the reverse.
    "engine": {"pipeline"},
    # The store of record and the webhook sender sit on foundation only (delivery reads the store).
    "store": {
        "features",
        "models",
        "sla",
        "serve",
        "pipeline",
        "daily",
        "engine",
        "delivery",
        "sales",
    },
    "delivery": {"features", "models", "sla", "serve", "pipeline", "daily", "engine"},
    # The daily hand-off logic: pure functions over foundation, features, models, sla (and the
    # store's records); serve reads it, pipeline drives it.
    "daily": {"serve", "pipeline", "engine", "delivery"},
    # The sales desk (owners, actions, cadence): pure functions over sla and the store's
    # actions; serve and the dashboard read it, pipeline drives its daily step.
    "sales": {"features", "models", "serve", "pipeline", "daily", "engine", "delivery"},
}


def _imported_top_packages(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module.split(".")[0], node.lineno))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_floors_never_import_higher_ones(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name, line in sorted(_imported_top_packages(path))
        if name in FORBIDDEN[package]
    ]
    assert not offenders, "upward imports:\n" + "\n".join(offenders)
