"""`leadscore daily` as a user runs it, for the end-to-end tests of the daily hand-off."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import Project


def daily(
    project: Project, params: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run `leadscore daily` as a user would; return the finished process (any exit code)."""
    return subprocess.run(
        ["leadscore", "daily", "--params", str(params), *args],
        cwd=project.root,
        env={**project.env, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done
