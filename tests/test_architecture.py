"""The house flows one way: every arrow between the project's packages is listed here.

    foundation -> features / models / sla / store -> scoring -> daily / delivery / engine
    -> ingest / crm -> serve / dashboard -> pipeline

A package may import only the packages listed for it (and itself); anything else fails, and so
does a top-level package this file does not know (a new room states its arrows first).
docs/development.md ("The map of the house") says what lives on each floor.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each package and the project packages it may import. foundation is the ground floor.
ALLOWED: dict[str, set[str]] = {
    "foundation": set(),
    "features": {"foundation"},
    "models": {"foundation"},
    "sla": {"foundation"},
    # The store of record sits on foundation only: the outbox's state machine is delivery's.
    "store": {"foundation"},
    # The sales desk (owners, actions, cadence, the rep's words): pure functions over the
    # agreement and the store's actions; daily, serve, dashboard and pipeline read it.
    "sales": {"foundation", "sla", "store"},
    # One lead or a batch -> features -> probability -> decision -> reasons. No HTTP.
    "scoring": {"foundation", "features", "models", "sla"},
    # The daily loop's pure steps (and the store's records they read).
    "daily": {"foundation", "features", "models", "sla", "store", "scoring", "sales"},
    # The outbox and the webhook sender read and write the store only.
    "delivery": {"foundation", "store"},
    # CRMs in and out (HubSpot, Salesforce): parse, verify, map to stages for the store, write
    # scores back; the status -> stage names come from sla, Retry-After from delivery, the
    # rep's words for reasons from sales.
    "crm": {"foundation", "sla", "store", "delivery", "sales"},
    # Events as they happen: parsed, stored, re-scored with the scoring core, alerts through the
    # outbox (delivery) with the daily run's own hand-off record (daily).
    "ingest": {"foundation", "features", "models", "sla", "store", "scoring", "daily", "delivery"},
    # Dask runs the functions the pandas path runs; the CLI (pipeline) drives it.
    "engine": {"foundation", "features", "models", "sla", "store", "scoring", "daily"},
    # The HTTP API; serve/app.py mounts the dashboard (see MOUNTS).
    "serve": {
        "foundation",
        "features",
        "models",
        "sla",
        "store",
        "scoring",
        "daily",
        "ingest",
        "dashboard",
        "sales",
        "crm",
    },
    # The web pages; they sign in with the service's keys and read its settings (see SHARED).
    "dashboard": {"foundation", "features", "models", "sla", "store", "daily", "serve", "sales"},
    # The top floor: DVC stages and the command line.
    "pipeline": {
        "foundation",
        "features",
        "models",
        "sla",
        "store",
        "scoring",
        "daily",
        "delivery",
        "engine",
        "ingest",
        "serve",
        "sales",
        "crm",
    },
}

# serve and dashboard stand side by side; these two arrows between them are the only ones, so a
# change to a page never touches the API and the reverse.
MOUNTS = {"serve/app.py"}  # the one serve module that imports dashboard (install_dashboard)
SHARED = {"serve.security", "serve.settings", "serve.store_outage"}  # what dashboard may use

# Third-party web stacks the scoring core must not import (it runs in batch, daily and Dask too).
WEB_STACKS = {"fastapi", "starlette", "uvicorn", "httpx", "jinja2", "itsdangerous"}


def _imports(path: Path) -> list[tuple[str, int]]:
    """(dotted module, line) of every absolute import, TYPE_CHECKING and function-level ones too."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend((f"{node.module}.{alias.name}", node.lineno) for alias in node.names)
    return found


def _offenders(package: str, root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for module, line in _imports(path):
            top = module.split(".")[0]
            if top == package or top not in ALLOWED:
                continue
            where = f"{relative}:{line} imports {module}"
            if top not in ALLOWED[package]:
                out.append(where)
            elif (package, top) == ("serve", "dashboard") and relative not in MOUNTS:
                out.append(where + " (only serve/app.py mounts the dashboard)")
            elif (package, top) == ("dashboard", "serve") and not any(
                module == m or module.startswith(m + ".") for m in SHARED
            ):
                out.append(where + f" (the dashboard may use {', '.join(sorted(SHARED))})")
    return out


def _project_packages(root: Path = ROOT) -> set[str]:
    return {
        p.parent.name
        for p in root.glob("*/__init__.py")
        if p.parent.name not in {"tests", "benchmarks", "scripts", "examples"}
    }


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_the_floors_listed_for_them(package: str) -> None:
    offenders = _offenders(package)
    assert not offenders, "imports the house does not allow:\n" + "\n".join(offenders)


def test_every_package_states_its_arrows() -> None:
    unknown = _project_packages() - set(ALLOWED)
    assert not unknown, f"packages with no entry in ALLOWED: {sorted(unknown)}"


def test_the_scoring_core_imports_no_web_stack() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "scoring").rglob("*.py"))
        for module, line in _imports(path)
        if module.split(".")[0] in WEB_STACKS
    ]
    assert not offenders, "the scoring core imports a web stack:\n" + "\n".join(offenders)


def test_http_goes_through_the_one_client_stack() -> None:
    """httpx2 only (`import httpx2 as httpx`): plain httpx is not installed by the project's
    extras, so a stray `import httpx` passes on a developer's old venv and fails a fresh one
    (it did: CI's fresh venv, a test written against the shared venv)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for folder in (*sorted(_project_packages()), "tests", "benchmarks", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for module, line in _imports(path)
        if module.split(".")[0] == "httpx"
    ]
    assert not offenders, "use `import httpx2 as httpx`:\n" + "\n".join(offenders)


def test_a_new_upward_import_is_caught(tmp_path: Path) -> None:
    """The check itself: foundation importing anything of the project, or serve importing the
    dashboard outside the app, fails (a checker that passes everything would pass the house)."""
    (tmp_path / "foundation").mkdir()
    (tmp_path / "foundation" / "io.py").write_text("from store.records import Store\n")
    (tmp_path / "serve").mkdir()
    (tmp_path / "serve" / "routes_x.py").write_text("from dashboard.web import render\n")
    (tmp_path / "dashboard").mkdir()
    (tmp_path / "dashboard" / "x.py").write_text("from serve.routes_score import router\n")
    assert _offenders("foundation", tmp_path) == ["foundation/io.py:1 imports store.records.Store"]
    assert _offenders("serve", tmp_path) == [
        "serve/routes_x.py:1 imports dashboard.web.render (only serve/app.py mounts the dashboard)"
    ]
    assert len(_offenders("dashboard", tmp_path)) == 1
