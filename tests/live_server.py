"""A real `leadscore serve` process for the tests that need what only a real server shows.

One place for starting it on a free loopback port, waiting until /readyz says 200 (or failing
with its log), and always stopping it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_process(
    command: Sequence[str],
    ready_url: str,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    start_timeout_s: float,
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` started with its output in `log`, ready once `ready_url` answers 200 (or a
    failure with its log: it exited, or it was not ready in time); always stopped."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            list(command), cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"{command[0]} exited {proc.returncode}\n{log.read_text()}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError(f"not ready within {start_timeout_s} s\n{log.read_text()}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def running_serve(
    args: Sequence[str],
    port: int,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    start_timeout_s: float,
) -> Iterator[str]:
    """`leadscore serve --port PORT *args`, ready to serve; yields its base URL."""
    base = f"http://127.0.0.1:{port}"
    command = ["leadscore", "serve", "--port", str(port), *args]
    env = {**env, "PYTHONUNBUFFERED": "1"}
    with running_process(command, f"{base}/readyz", cwd, env, log, start_timeout_s):
        yield base


@contextmanager
def running_dashboard(
    cwd: Path, env: Mapping[str, str], log: Path, start_timeout_s: float
) -> Iterator[str]:
    """A real uvicorn on port 0 (the OS picks a free one; the log says which) serving the app
    without its model (the dashboard does not need it); yields its base URL."""
    import re

    code = (
        "import uvicorn; from serve.app import create_app; "
        "uvicorn.run(create_app(load_model=False), host='127.0.0.1', port=0)"
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=cwd,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + start_timeout_s
        base = None
        while time.monotonic() < deadline and base is None:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}\n{log.read_text()}")
            found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log.read_text())
            base = found.group(1) if found else None
            time.sleep(0.2)
        if base is None:
            raise AssertionError(f"server not up in {start_timeout_s} s\n{log.read_text()}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
