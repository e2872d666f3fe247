"""params.yaml is loaded once into a typed model: typos and bad values are errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.errors import ConfigError
from foundation.params import load_params

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_params_file_is_valid() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.features.target_stage in {"sql", "customer"}


def test_a_typo_in_params_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lightgbm:\n    num_leafs: 31\n")
    with pytest.raises(ConfigError, match=r"train\.lightgbm\.num_leafs: unknown key"):
        load_params(path)


def test_an_out_of_range_value_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("features:\n  half_life_days: -3\n")
    with pytest.raises(ConfigError, match=r"features\.half_life_days"):
        load_params(path)
