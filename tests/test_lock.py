"""The lock and pyproject.toml agree, and a dependency edited without relocking fails loudly."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def lock_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_script", ROOT / "scripts" / "lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_lock_matches_pyproject() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/lock.py", "check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_a_dependency_changed_without_relocking_fails_naming_the_command(tmp_path: Path) -> None:
    lock = lock_module()
    pyproject = tmp_path / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text()
    pyproject.write_text(text.replace('"pyyaml>=6",', '"pyyaml>=6",\n    "left-pad>=1",', 1))
    assert pyproject.read_text() != text
    message = lock.check(pyproject, ROOT / "requirements.lock")
    assert message is not None
    assert "python scripts/lock.py update" in message


def test_every_declared_dependency_is_pinned_in_the_lock() -> None:
    lock_text = (ROOT / "requirements.lock").read_text()
    pinned = {
        re.sub(r"[-_.]+", "-", m.group(1)).lower()
        for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", lock_text, flags=re.M)
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for reqs in project["optional-dependencies"].values():
        declared += reqs
    names = {
        re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", r).group(0)).lower() for r in declared
    }
    names.discard("leadscore")  # the extras that name the project itself
    assert not names - pinned, f"declared but not pinned: {sorted(names - pinned)}"
