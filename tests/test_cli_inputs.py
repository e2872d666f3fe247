"""An input that does not exist stops a command before it reads or writes anything: exit 2 and
one line naming the file, for every command. (A missing `--params` once fell back to the
defaults, so `validate --params <typo>` overwrote the project's own data.)"""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli import app

MISSING = "no-such-params.yaml"


def commands_with_params() -> list[tuple[str, ...]]:
    """Every command that takes --params, found by walking the CLI: a new one is covered too."""
    found: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        if hasattr(command, "list_commands"):  # a group (typer's own Group type)
            context = click.Context(command)
            for name in command.list_commands(context):  # type: ignore[attr-defined]
                sub = command.get_command(context, name)  # type: ignore[attr-defined]
                assert sub is not None
                walk(sub, (*path, name))
        elif any("--params" in p.opts for p in command.params):
            found.append(path)

    walk(typer.main.get_command(app), ())
    return found


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


REQUIRED_ARGUMENTS = {("score",): ["leads.csv", "--out", "scores.csv"]}


@pytest.mark.parametrize("command", commands_with_params(), ids=" ".join)
def test_a_missing_params_file_is_an_error_naming_it(
    command: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leads.csv").write_text("lead_id,created_at\nL1,2026-01-01\n")
    before = files_under(tmp_path)
    args = [*command, *REQUIRED_ARGUMENTS.get(command, []), "--params", MISSING]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"--params {MISSING}: no such file" in result.output
    assert files_under(tmp_path) == before


def test_the_commands_that_take_params_are_all_found() -> None:
    found = {" ".join(c) for c in commands_with_params()}
    assert {"validate", "features", "train", "daily", "deliver", "score", "sla report"} <= found


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["score", "leads.csv", "--out", "s.csv", "--sla", "typo.yaml"], "--sla typo.yaml"),
        (["score", "leads.csv", "--out", "s.csv", "--personas", "p.yaml"], "--personas p.yaml"),
        (["score", "nowhere.csv", "--out", "s.csv"], "nowhere.csv"),
        (["validate", "--params", "params.yaml", "--raw", "no-folder"], "no-folder"),
        (["sla", "report", "--params", "params.yaml", "--sla", "typo.yaml"], "typo.yaml"),
        (["train-table", "nowhere.csv", "--mapping", "params.yaml"], "nowhere.csv"),
        (["train-table", "leads.csv", "--mapping", "m.yaml"], "m.yaml"),
    ],
)
def test_other_missing_inputs_are_errors_naming_them(
    args: list[str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leads.csv").write_text("lead_id,created_at\nL1,2026-01-01\n")
    (tmp_path / "params.yaml").write_text("paths:\n  interim: interim\n")
    before = files_under(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert files_under(tmp_path) == before
