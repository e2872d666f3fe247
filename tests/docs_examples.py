"""The docs' fenced examples, read and run: what tests/test_docs.py checks, and how a writer
records real output into a page (`python -m tests.docs_examples --record README.md docs/*.md`).

A page's fenced blocks say what they are by their language tag:

- `console`: commands a reader types, each line starting with `$ ` (a line ending in a
  backslash continues on the next), followed by the output they print. The docs test runs every
  command in a copy of the project after `dvc repro` on the default data, one shell per block
  (a block's commands share its environment and its background processes, which end with it),
  the page's blocks in order in one copy, and fails on any difference from the output shown.
  Volatile parts are masked on both sides before comparing, and nothing else: MLflow run ids,
  durations, and the port of a server a block starts (a page says 8000, the test takes a free
  one). A command that exits non-zero fails the test even when its output matches, unless the
  page shows that on purpose: `# exit N` as the last line of its output (an error message a
  reader should recognise).
- `bash` directly under `<!-- ci: NAME -->`: the README's Quick start commands, which `.ci/run`
  itself runs (`python -m tests.docs_examples --ci NAME` prints them), so the two cannot drift.
- `yaml`, `json`: parsed; under `<!-- same-as: FILE -->` equal to that project file's content.
- `python`: run (in a fresh interpreter, in the project copy); it must exit 0.
- `text`: not run (figures, a crontab line, an error message quoted in prose); it may not hide a
  command (no line starting with `$ `).
Any other tag, or none, is an error: the test says which block.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs")
KINDS = {"console", "bash", "yaml", "json", "python", "text"}
FENCE = re.compile(r"^```(\S*)\s*$")
DIRECTIVE = re.compile(r"^<!--\s*(ci|same-as):\s*(\S+)\s*-->\s*$")
EXIT_LINE = re.compile(r"^# exit (\d+)$")
DEFAULT_PORT = "8000"
COMMAND_TIMEOUT_S = 600

# Masks, applied to expected and actual output alike: what differs between two honest runs.
MASKS = [
    (re.compile(r"(?m)^(\s*)took \d.*$"), r"\1took <timings>"),  # a command's own stopwatch
    (re.compile(r"\b[0-9a-f]{32}\b"), "<run-id>"),  # MLflow run ids
    (re.compile(r"(?m)^(.*━.*leads) \d+:\d{2}:\d{2}$"), r"\1 <duration>"),  # a progress bar
    (re.compile(r"\b\d+(?:\.\d+)?(?: ?)(?:s|ms|µs|us)\b"), "<duration>"),
    (re.compile(r"\b\d+:\d{2}(?::\d{2})?(?:\.\d+)?\b(?= elapsed)"), "<duration>"),
]
# A float printed at full precision (repr, 15-17 significant digits) can differ in its last digit
# from one CPU to another: numpy's exp and sums take other SIMD paths. Such numbers count as equal
# when they agree to FULL_PRECISION_RTOL; every shorter number must match exactly.
FULL_PRECISION = re.compile(r"-?\d+\.\d{12,}(?:e[-+]?\d+)?")
FULL_PRECISION_RTOL = 1e-12


@dataclass
class Command:
    line: int  # 1-based line of the `$ ` in the page
    text: str
    expected: list[str] = field(default_factory=list)
    exit_code: int = 0


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    kind: str
    text: str
    directive: tuple[str, str] | None = None
    commands: list[Command] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages(root: Path = ROOT) -> list[Path]:
    found = [root / "README.md"]
    found += sorted((root / "docs").rglob("*.md"))
    return [p for p in found if p.exists()]


def parse_console(block: Block) -> list[Command]:
    commands: list[Command] = []
    lines = block.text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            start = i
            text = line[2:]
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text + "\n" + lines[i]
            commands.append(Command(line=block.line + 1 + start, text=text))
        elif commands:
            commands[-1].expected.append(line)
        elif line.strip():
            raise ValueError(f"{block.where}: console output before any `$ ` command: {line!r}")
        i += 1
    for command in commands:
        while command.expected and not command.expected[-1].strip():
            command.expected.pop()
        if command.expected and (match := EXIT_LINE.match(command.expected[-1])):
            command.exit_code = int(match.group(1))
            command.expected.pop()
    return commands


def parse_page(page: Path) -> list[Block]:
    lines = page.read_text().split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, kind = i, match.group(1)
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{start + 1}: a fence that is never closed")
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        directive = DIRECTIVE.match(previous.strip())
        block = Block(
            page=page,
            line=start + 1,
            kind=kind,
            text="\n".join(lines[start + 1 : end]),
            directive=(directive.group(1), directive.group(2)) if directive else None,
        )
        if kind == "console":
            block.commands = parse_console(block)
        blocks.append(block)
        i = end + 1
    return blocks


def mask(text: str, port: str | None = None) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    if port is not None:
        text = text.replace(f":{port}", f":{DEFAULT_PORT}").replace(
            f"--port {port}", f"--port {DEFAULT_PORT}"
        )
    return text


def free_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def command_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The reader's shell: the project's interpreter first on PATH, no LEADSCORE_* or MLflow
    settings of the developer's own, plain output at a fixed width. The commands import this
    checkout's code: a venv shared by several checkouts (worktrees, a second clone) has its
    editable install pointing at only one of them."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEADSCORE_", "MLFLOW_", "_MLFLOW_")) and k != "PYTHONPATH"
    }
    env["PYTHONPATH"] = str(ROOT)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


@dataclass
class Ran:
    command: Command
    output: list[str]
    exit_code: int


MARK = "<<<leadscore-docs-{n}>>>"


def run_console(block: Block, cwd: Path, env: dict[str, str]) -> tuple[list[Ran], str | None]:
    """Run a block's commands in one bash; returns what each printed and its exit code, and the
    port that stood in for 8000 (None when the block names no server port)."""
    port = (
        free_port()
        if f":{DEFAULT_PORT}" in block.text or f"port {DEFAULT_PORT}" in block.text
        else None
    )
    script = []
    for n, command in enumerate(block.commands):
        text = command.text
        if port is not None:
            text = text.replace(f":{DEFAULT_PORT}", f":{port}").replace(
                f"--port {DEFAULT_PORT}", f"--port {port}"
            )
        script.append(f"printf '%s\\n' '{MARK.format(n=n)}'")
        script.append(f"{text}\nprintf '\\n%s %d\\n' '{MARK.format(n=n)}-exit' $?")
    process = subprocess.Popen(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=COMMAND_TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):  # a block's server ends with the block
            os.killpg(process.pid, signal.SIGTERM)
    ran: list[Ran] = []
    for n, command in enumerate(block.commands):
        start = out.find(MARK.format(n=n) + "\n")
        end_marker = f"\n{MARK.format(n=n)}-exit "
        end = out.find(end_marker, start)
        if start < 0 or end < 0:
            ran.append(Ran(command, [f"(the block stopped before this command)\n{out}"], -1))
            continue
        body = out[start + len(MARK.format(n=n)) + 1 : end]
        code = int(out[end + len(end_marker) :].split("\n", 1)[0])
        lines = body.split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        ran.append(Ran(command, lines, code))
    return ran, port


def same_but_last_digits(shown: str, got: str) -> bool:
    """Equal text, with full-precision floats equal to FULL_PRECISION_RTOL (see there)."""
    if FULL_PRECISION.sub("<float>", shown) != FULL_PRECISION.sub("<float>", got):
        return False
    pairs = zip(FULL_PRECISION.findall(shown), FULL_PRECISION.findall(got), strict=True)
    return all(math.isclose(float(a), float(b), rel_tol=FULL_PRECISION_RTOL) for a, b in pairs)


def differences(ran: list[Ran], port: str | None) -> list[str]:
    problems = []
    for r in ran:
        shown = mask("\n".join(r.command.expected))
        got = mask("\n".join(line.rstrip() for line in r.output), port)
        shown = "\n".join(line.rstrip() for line in shown.split("\n"))
        if r.exit_code != r.command.exit_code:
            problems.append(
                f"line {r.command.line}: `{r.command.text}` exited {r.exit_code}, the page shows "
                f"exit {r.command.exit_code}; it printed:\n{got}"
            )
        elif not same_but_last_digits(shown, got):
            import difflib

            diff = "\n".join(
                difflib.unified_diff(
                    shown.split("\n"), got.split("\n"), "page", "actual", lineterm="", n=1
                )
            )
            problems.append(f"line {r.command.line}: `{r.command.text}` printed otherwise:\n{diff}")
    return problems


def record(page: Path, cwd: Path, env: dict[str, str]) -> None:
    """Rewrite the page's console outputs with what the commands print now (for a writer; the
    docs test never writes)."""
    lines = page.read_text().split("\n")
    replacements: list[tuple[int, int, list[str]]] = []
    for block in parse_page(page):
        if block.kind != "console":
            continue
        ran, port = run_console(block, cwd, env)
        body: list[str] = []
        for r in ran:
            body.append("$ " + r.command.text)
            output = [line.rstrip() for line in mask_port("\n".join(r.output), port).split("\n")]
            if any(line.strip() for line in output):
                body += output
            if r.exit_code:
                body.append(f"# exit {r.exit_code}")
        replacements.append((block.line, block.line + len(block.text.split("\n")), body))
    for start, end, body in reversed(replacements):
        lines[start:end] = body
    page.write_text("\n".join(lines))


def mask_port(text: str, port: str | None) -> str:
    if port is None:
        return text
    return text.replace(f":{port}", f":{DEFAULT_PORT}").replace(
        f"--port {port}", f"--port {DEFAULT_PORT}"
    )


def ci_commands(name: str, root: Path = ROOT) -> str:
    """The bash block under `<!-- ci: NAME -->` in the README: what .ci/run executes."""
    found = [
        b
        for b in parse_page(root / "README.md")
        if b.kind == "bash" and b.directive == ("ci", name)
    ]
    if len(found) != 1:
        raise SystemExit(
            f"README.md: expected one bash block under <!-- ci: {name} -->, found {len(found)}"
        )
    return found[0].text


def build_default_project(dest: Path) -> dict[str, str]:
    """A copy of the project with `dvc repro` run on the default data: where examples run."""
    from tests.conftest import copy_project

    copy_project(dest, {})
    env = command_env()
    done = subprocess.run(["dvc", "repro"], cwd=dest, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dvc repro failed\n{done.stdout}\n{done.stderr}")
    return env


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--ci":
        print(ci_commands(argv[1]))
        return 0
    if argv and argv[0] == "--record":
        import shutil

        with tempfile.TemporaryDirectory(prefix="leadscore-docs-") as tmp:
            built = Path(tmp) / "built"
            env = build_default_project(built)
            for name in argv[1:]:
                page = Path(name).resolve()
                copy = Path(tmp) / page.stem
                shutil.copytree(built, copy, symlinks=True)
                record(page, copy, env)
                print(f"recorded {name}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
