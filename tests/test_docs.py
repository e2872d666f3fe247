"""The docs cannot go stale: every fenced example in README.md and docs/ is run and compared
(the rules per kind of block: tests/docs_examples.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.docs_examples import (
    KINDS,
    ROOT,
    Block,
    build_default_project,
    differences,
    pages,
    parse_page,
    run_console,
    same_but_last_digits,
)

PAGES = pages()
BLOCKS = [block for page in PAGES for block in parse_page(page)]


def blocks_of(kind: str) -> list[Block]:
    return [b for b in BLOCKS if b.kind == kind]


def ids(blocks: list[Block]) -> list[str]:
    return [b.where for b in blocks]


@pytest.mark.parametrize("block", BLOCKS, ids=ids(BLOCKS))
def test_every_block_says_what_it_is(block: Block) -> None:
    assert block.kind in KINDS, (
        f"{block.where}: fenced block tagged {block.kind!r}; use one of {sorted(KINDS)}"
    )
    if block.kind == "bash":
        assert block.directive is not None and block.directive[0] == "ci", (
            f"{block.where}: a bash block is run by .ci/run only under <!-- ci: NAME -->; show a "
            "command with its output as a console block instead"
        )
    if block.kind == "text":
        hidden = [line for line in block.text.split("\n") if line.startswith("$ ")]
        assert not hidden, f"{block.where}: a command in a text block is never run: {hidden}"


def test_the_readme_holds_the_two_ci_commands() -> None:
    ci = {b.directive[1]: b.text for b in blocks_of("bash") if b.directive}
    assert set(ci) == {"main", "test"}, ci
    assert "dvc repro" in ci["main"] and ci["test"].rstrip().endswith("pytest")
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert "tests.docs_examples --ci test" in ci_script
    assert "tests.docs_examples --ci main" in ci_script


def test_a_full_precision_float_may_differ_in_its_last_digits_only() -> None:
    """Another CPU prints 0.9809300876689149 where the page recorded 0.980930087668915 (numpy's
    exp on another SIMD path); anything a reader could see must still match exactly."""
    shown = '"value": 0.980930087668915,\n"contribution": 0.3018183823616394'
    assert same_but_last_digits(shown, shown.replace("0.980930087668915", "0.9809300876689149"))
    assert not same_but_last_digits(shown, shown.replace("0.980930087668915", "0.980930187668915"))
    assert not same_but_last_digits('"score": 87.1', '"score": 87.2')
    assert not same_but_last_digits("weighted count 0.98", "weighted count 0.99")
    assert not same_but_last_digits(shown, shown.replace('"value"', '"values"'))


@pytest.mark.parametrize("block", blocks_of("yaml"), ids=ids(blocks_of("yaml")))
def test_yaml_blocks_parse_and_match_the_files_they_quote(block: Block) -> None:
    value = yaml.safe_load(block.text)
    if block.directive and block.directive[0] == "same-as":
        assert value == yaml.safe_load((ROOT / block.directive[1]).read_text()), (
            f"{block.where} no longer matches {block.directive[1]}"
        )


@pytest.mark.parametrize("block", blocks_of("json"), ids=ids(blocks_of("json")))
def test_json_blocks_parse_and_match_the_files_they_quote(block: Block) -> None:
    value = json.loads(block.text)
    if block.directive and block.directive[0] == "same-as":
        assert value == json.loads((ROOT / block.directive[1]).read_text()), (
            f"{block.where} no longer matches {block.directive[1]}"
        )


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("docs-project")
    env = build_default_project(root)
    return root, env


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if any(b.kind in ("console", "python") for b in parse_page(p))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_example_of_the_page_prints_what_the_page_shows(
    page: Path, default_project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    built, env = default_project
    project = tmp_path / "project"
    shutil.copytree(built, project, symlinks=True)
    problems: list[str] = []
    for block in parse_page(page):
        if block.kind == "console":
            ran, port = run_console(block, project, env)
            problems += [f"{block.where} {p}" for p in differences(ran, port)]
        elif block.kind == "python":
            done = subprocess.run(
                [sys.executable, "-c", block.text],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0:
                problems.append(f"{block.where}: the example failed\n{done.stdout}{done.stderr}")
    assert not problems, "\n\n".join(problems)
