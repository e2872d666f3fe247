"""`leadscore --help` answers at once: no command's help imports the heavy libraries.

Help runs on every typo and every tab of a scheduler's set-up; paying a second for pandas,
LightGBM or MLflow there is what made the CLI feel slow. Imports belong where the work starts.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "pandas",
    "numpy",
    "lightgbm",
    "sklearn",
    "mlflow",
    "pyarrow",
    "sqlalchemy",
    "dask",
    "distributed",
    "jinja2",
    "fastapi",
    "uvicorn",
)

PROBE = f"""
import json, sys
import typer
from typer.main import get_command
from pipeline.cli import app

root = get_command(app)
paths = []

def walk(command, path):
    paths.append(path)
    for name, sub in sorted(getattr(command, "commands", {{}}).items()):
        walk(sub, [*path, name])

walk(root, [])
loaded = {{}}
for path in paths:
    try:
        root.main([*path, "--help"], prog_name="leadscore", standalone_mode=False)
    except SystemExit:
        pass
    loaded[" ".join(path) or "(top)"] = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps(loaded))
"""


def test_help_of_every_command_imports_no_heavy_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(loaded) > 10, loaded  # the walk reached the subcommands
    offenders = {command: mods for command, mods in loaded.items() if mods}
    assert not offenders, f"--help imported heavy libraries: {offenders}"
