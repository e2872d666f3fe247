"""The agreement file: the example loads, and every mistake is an error naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from foundation.errors import ConfigError
from sla.agreement import load_agreement, parse_agreement

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "sla.yaml"


@pytest.fixture()
def raw() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_example_agreement_loads() -> None:
    agreement = load_agreement(EXAMPLE)
    assert agreement.tiers.names == ("A", "B", "C", "D")
    assert agreement.engagement_grades.maxs[0] == 1.0
    assert agreement.sales_capacity.mqls_per_month == (
        agreement.sales_capacity.reps * agreement.sales_capacity.leads_per_rep_per_month
    )


def test_dump_round_trips_in_the_file_shape(raw: dict) -> None:
    agreement = parse_agreement(raw)
    dumped = agreement.model_dump(mode="json")
    assert dumped["tiers"] == {
        "A": [25.0, 100.0],
        "B": [10.0, 25.0],
        "C": [3.0, 10.0],
        "D": [0.0, 3.0],
    }
    assert parse_agreement(dumped) == agreement


def _error(raw: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_agreement(raw, "sla.yaml")
    return str(exc.value)


def test_typo_names_the_key(raw: dict) -> None:
    raw["follow_up_hour"] = raw.pop("follow_up_hours")
    message = _error(raw)
    assert "follow_up_hour: unknown key (typo?)" in message
    assert "follow_up_hours: Field required" in message


def test_zero_rate_names_the_key(raw: dict) -> None:
    raw["funnel"]["mql_to_sql"] = 0
    message = _error(raw)
    assert "funnel.mql_to_sql" in message and "(0, 1]" in message


def test_missing_rate_names_the_key(raw: dict) -> None:
    del raw["funnel"]["sql_to_customer"]
    assert "funnel.sql_to_customer: Field required" in _error(raw)


def test_threshold_must_be_a_score_or_auto(raw: dict) -> None:
    raw["mql_rule"]["score_threshold"] = 120
    assert "mql_rule.score_threshold" in _error(raw)
    raw["mql_rule"]["score_threshold"] = "automatic"
    assert "'auto'" in _error(raw)


def test_tiers_with_a_gap_are_refused(raw: dict) -> None:
    raw["tiers"]["B"] = [12, 25]
    message = _error(raw)
    assert "tiers" in message and "no gap, no overlap" in message


def test_tiers_must_cover_0_to_100(raw: dict) -> None:
    raw["tiers"]["D"] = [1, 3]
    assert "must start at 0.0" in _error(raw)
    raw["tiers"]["D"] = [0, 3]
    raw["tiers"]["A"] = [25, 99]
    assert "must end at 100.0" in _error(raw)


def test_tiers_listed_worst_first_are_refused(raw: dict) -> None:
    raw["tiers"] = dict(reversed(list(raw["tiers"].items())))
    assert "best first" in _error(raw)


def test_exclusion_on_unknown_column_is_refused(raw: dict) -> None:
    raw["mql_rule"]["exclude"]["emial_kind"] = ["free"]
    assert "mql_rule.exclude" in _error(raw)


def test_deal_values_given_must_be_positive(raw: dict) -> None:
    raw["avg_deal_value_eur"] = {"enterprise_it": 0}
    assert "avg_deal_value_eur" in _error(raw)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_agreement(tmp_path / "sla.yaml")
