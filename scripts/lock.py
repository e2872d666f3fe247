"""The lock: every package the project and its extras install, pinned, from pyproject.toml.

    python scripts/lock.py update   # regenerate requirements.lock (needs `uv`: pip install uv),
                                    # keeping the pins that still fit
    python scripts/lock.py check    # fail if pyproject.toml changed since the lock was made

The README's Quick start commands (which .ci/run runs) install with `-c requirements.lock`, so a
fresh machine gets exactly the versions the tests passed on. The lock records a digest of the
dependency declarations it was compiled from; `check` recomputes it, so editing a dependency without
regenerating the lock fails CI with the command to run. Standard library only: `check` runs
before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
DIGEST_PREFIX = "# pyproject-dependencies-sha256: "
UPDATE_COMMAND = "python scripts/lock.py update"
# The oldest Python the project supports, and the platforms it runs on: one universal lock.
COMPILE = [
    "uv",
    "pip",
    "compile",
    "pyproject.toml",
    "--all-extras",
    "--universal",
    "--python-version",
    "3.11",
    "--no-header",  # the resolution goes to stdout; update() writes the lock with its digest
]


def dependency_digest(pyproject: Path = PYPROJECT) -> str:
    """Digest of what the lock is compiled from: requires-python, dependencies and extras."""
    project = tomllib.loads(pyproject.read_text())["project"]
    declared = {
        "requires-python": project.get("requires-python"),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {
            name: sorted(reqs)
            for name, reqs in sorted(project.get("optional-dependencies", {}).items())
        },
    }
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()


def recorded_digest(lock: Path = LOCK) -> str | None:
    if not lock.exists():
        return None
    for line in lock.read_text().splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line.removeprefix(DIGEST_PREFIX).strip()
    return None


def check(pyproject: Path = PYPROJECT, lock: Path = LOCK) -> str | None:
    """None when the lock matches pyproject.toml, else the message a developer needs."""
    recorded = recorded_digest(lock)
    if recorded is None:
        return f"{lock.name} is missing or has no digest line: run `{UPDATE_COMMAND}`"
    if recorded != dependency_digest(pyproject):
        return (
            f"{pyproject.name} declares other dependencies than {lock.name} was compiled from: "
            f"run `{UPDATE_COMMAND}` and commit {lock.name}"
        )
    return None


def update() -> None:
    """Resolve afresh, keeping every pin of the current lock that still fits (uv prefers the
    versions in its output file): adding a package does not move the ones the tests passed on."""
    with tempfile.TemporaryDirectory(prefix="leadscore-lock-") as tmp:
        resolved = Path(tmp) / "requirements.lock"
        if LOCK.exists():
            shutil.copyfile(LOCK, resolved)
        compiled = subprocess.run(
            [*COMPILE, "--output-file", str(resolved)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if compiled.returncode != 0:
            sys.exit(f"uv pip compile failed:\n{compiled.stderr}")
        body = resolved.read_text()
    header = (
        "# leadscore's lock: every package of the project and all its extras, pinned.\n"
        f"# Regenerate with `{UPDATE_COMMAND}` after editing dependencies in pyproject.toml;\n"
        '# install with `pip install -c requirements.lock -e ".[dev]"`.\n'
        f"{DIGEST_PREFIX}{dependency_digest()}\n"
    )
    LOCK.write_text(header + body)
    pins = sum(1 for line in body.splitlines() if "==" in line)
    print(f"wrote {LOCK.name}: {pins} pinned packages")


def main(argv: list[str]) -> int:
    if argv == ["update"]:
        update()
        return 0
    if argv == ["check"]:
        problem = check()
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        print(f"{LOCK.name} matches pyproject.toml")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
