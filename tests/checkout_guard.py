"""Tests leave the checkout as they found it.

Every test that runs a command works in its own temporary copy or folder: the project's own
`data/`, `artifacts/`, MLflow store and tracked files are the user's, and a suite run before or
after `dvc repro` must not change them (one test once wrote an empty leads table there). This
plugin lists every file of the checkout (pytest's rootdir: size and modification time) when the
session starts and again when it ends; any file created, changed or removed in between fails the
run, named.

Files that only pytest and the interpreter write are left out (caches, bytecode), and so is the
developer's virtual environment. Editing the project while the suite runs shows up here too:
the message names the files, so such a change is easy to tell from a test's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Written by the tools, never by a test: caches, bytecode, virtual environments, the install.
IGNORED_DIRS = {
    ".git",
    ".venv",
    ".ci-venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "build",
    ".dvc",
}
IGNORED_SUFFIXES = (".egg-info",)
SHOWN = 10

Listing = dict[str, tuple[int, int]]


def checkout_files(root: Path) -> Listing:
    listing: Listing = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in IGNORED_DIRS and not d.endswith(IGNORED_SUFFIXES)]
        for name in files:
            path = Path(folder) / name
            try:
                stat = path.stat()
            except OSError:  # removed while we walked
                continue
            listing[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return listing


def differences(before: Listing, after: Listing) -> list[str]:
    created = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    return (
        [f"created {p}" for p in created]
        + [f"removed {p}" for p in removed]
        + [f"changed {p}" for p in changed]
    )


_BEFORE = pytest.StashKey[Listing]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[_BEFORE] = checkout_files(session.config.rootpath)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.stash.get(_BEFORE, None)
    if before is None:
        return
    root = session.config.rootpath
    found = differences(before, checkout_files(root))
    if not found:
        return
    lines = [f"the tests changed the checkout {root} ({len(found)} files):"]
    lines += [f"  {line}" for line in found[:SHOWN]]
    if len(found) > SHOWN:
        lines.append(f"  ... and {len(found) - SHOWN} more")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "checkout changed", red=True)
        reporter.write_line("\n".join(lines))
    else:
        print("\n".join(lines))
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
