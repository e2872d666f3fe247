"""Every command explains itself: `leadscore --help` lists them all, each has its own --help."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

COMMANDS = (
    ("simulate",),
    ("validate",),
    ("features",),
    ("train",),
    ("evaluate",),
    ("register",),
    ("serve",),
    ("score",),
    ("train-table",),
    ("sla", "targets"),
    ("sla", "report"),
)


def test_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in {c[0] for c in COMMANDS}:
        assert command in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_each_command_has_its_own_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    # The first docstring line is the summary shown under Usage: not empty, not a stub.
    summary = result.output.split("Usage:", 1)[1].splitlines()[2].strip()
    assert len(summary) > 20, result.output
