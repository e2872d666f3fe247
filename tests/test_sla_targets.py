"""Target arithmetic pinned with exact numbers, including rounding up to whole leads."""

from __future__ import annotations

import math

import pytest

from sla.errors import SLAError
from sla.measure import DealValue, Rate
from sla.targets import CellInput, Funnel, split_targets, targets_from_figures


def test_cli_example_figures() -> None:
    t = targets_from_figures(100_000, 20_000, 0.05)
    assert (t.customers_needed, t.leads_needed, t.lead_value_eur) == (5, 100, 1000.0)


def test_leads_round_up_from_the_exact_customers_not_the_rounded_ones() -> None:
    t = targets_from_figures(100_000, 30_000, 0.05)
    assert t.customers_needed == 4  # 3.33 customers -> 4 whole customers
    assert t.leads_needed == 67  # 66.67 leads (not 4 / 0.05 = 80)
    assert t.lead_value_eur == 1500.0


def test_float_error_does_not_add_a_lead() -> None:
    assert math.ceil(21 / 0.35) == 61  # what naive float arithmetic would ask for
    t = targets_from_figures(420_000, 20_000, 0.35)
    assert (t.customers_needed, t.leads_needed) == (21, 60)


def test_funnel_chain_gives_sqls_and_mqls() -> None:
    t = targets_from_figures(100_000, 30_000, 0.05, Funnel(mql_to_sql=0.4, sql_to_customer=0.25))
    assert t.sqls_needed == 14  # 3.33 / 0.25 = 13.33
    assert t.mqls_needed == 34  # 13.33 / 0.4 = 33.33
    assert t.lead_to_mql == pytest.approx(0.5)  # 33.33 MQLs of 66.67 leads


@pytest.mark.parametrize(
    ("goal", "deal", "rate", "message"),
    [
        (100_000, 20_000, 0.0, "rate must be above 0"),
        (100_000, 20_000, None, "rate is missing"),
        (100_000, 20_000, 1.5, "in \\(0, 1\\]"),
        (100_000, 0, 0.05, "average deal value must be above 0"),
        (0, 20_000, 0.05, "revenue goal must be above 0"),
    ],
)
def test_bad_figures_are_clear_errors(goal, deal, rate, message) -> None:
    with pytest.raises(SLAError, match=message):
        targets_from_figures(goal, deal, rate)


def test_zero_funnel_rate_is_an_error_not_a_division() -> None:
    with pytest.raises(SLAError, match=r"funnel\.mql_to_sql must be above 0"):
        targets_from_figures(100_000, 20_000, 0.05, Funnel(mql_to_sql=0.0, sql_to_customer=0.2))


def _cell(channel: str, persona: str, leads: int, rate: float, deal: float) -> CellInput:
    return CellInput(channel, persona, leads, Rate(rate, 0, "given"), DealValue(deal, 0, "given"))


def test_split_by_recent_mix() -> None:
    # 60% of recent leads worth 0.05 x 20,000 = 1,000 EUR each, 40% worth 0.02 x 5,000 = 100 EUR:
    # one lead is worth 640 EUR, so 64,000 EUR needs exactly 100 leads, split 60 / 40.
    cells = [
        _cell("events", "enterprise_it", 60, 0.05, 20_000),
        _cell("social", "smb_founder", 40, 0.02, 5_000),
    ]
    t = split_targets(64_000, cells, Funnel(mql_to_sql=0.5, sql_to_customer=0.25))
    assert t.leads_needed == 100
    assert t.lead_value_eur == 640.0
    assert t.conversion_rate == pytest.approx(0.038)
    assert t.customers_needed == 4  # 3 + 0.8
    assert t.sqls_needed == 16  # 3.8 / 0.25 = 15.2
    assert t.mqls_needed == 31  # 15.2 / 0.5 = 30.4
    by_persona = {c.persona: c for c in t.cells}
    ent, smb = by_persona["enterprise_it"], by_persona["smb_founder"]
    assert (ent.leads_needed, ent.customers_needed, ent.sqls_needed, ent.mqls_needed) == (
        60,
        3,
        12,
        24,
    )
    assert (smb.leads_needed, smb.customers_needed, smb.sqls_needed, smb.mqls_needed) == (
        40,
        1,
        4,
        7,
    )
    assert (ent.lead_value_eur, smb.lead_value_eur) == (1000.0, 100.0)
    assert ent.revenue_eur + smb.revenue_eur == pytest.approx(64_000)
    assert t.avg_deal_value_eur == pytest.approx(64_000 / 3.8)


def test_split_of_a_single_cell_equals_the_simple_arithmetic() -> None:
    split = split_targets(100_000, [_cell("email", "x", 7, 0.05, 30_000)], Funnel())
    simple = targets_from_figures(100_000, 30_000, 0.05)
    assert (split.customers_needed, split.leads_needed, split.lead_value_eur) == (
        simple.customers_needed,
        simple.leads_needed,
        simple.lead_value_eur,
    )


def test_split_with_nothing_converting_is_an_error() -> None:
    cells = [_cell("events", "a", 10, 0.0, 1_000)]
    with pytest.raises(SLAError, match="rate 0"):
        split_targets(10_000, cells, Funnel())


def test_cell_counts_add_up_to_the_total() -> None:
    # Three equal cells each need a third of a customer: rounding each up would ask for 3.
    cells = [_cell("email", p, 10, 0.01, 10_000) for p in ("a", "b", "c")]
    t = split_targets(3_000, cells, Funnel(mql_to_sql=0.3, sql_to_customer=0.2))
    assert (t.customers_needed, t.sqls_needed, t.mqls_needed, t.leads_needed) == (1, 2, 5, 30)
    assert [c.customers_needed for c in t.cells] == [1, 0, 0]  # 0.1 each; ties: first listed
    assert [c.sqls_needed for c in t.cells] == [1, 1, 0]  # 0.5 each
    assert [c.mqls_needed for c in t.cells] == [2, 2, 1]  # 5/3 each
    assert [c.leads_needed for c in t.cells] == [10, 10, 10]


def test_apportion_by_largest_remainder() -> None:
    from fractions import Fraction

    from sla.targets import apportion

    assert apportion([Fraction(1), Fraction(2), Fraction(7)]) == [1, 2, 7]
    assert apportion([Fraction(12), Fraction(16, 5)]) == [12, 4]  # total 15.2 -> 16
    assert apportion([Fraction(1, 10), Fraction(6, 10), Fraction(3, 10)]) == [0, 1, 0]
    assert apportion([Fraction(1, 2), Fraction(1, 2), Fraction(1, 2)]) == [1, 1, 0]
    assert apportion([Fraction(0), Fraction(0)]) == [0, 0]


def test_targets_frozen_as_json_come_back_equal() -> None:
    """The store freezes Targets.to_dict(); Targets.from_dict reads it back unchanged."""
    import json

    from sla.targets import Targets

    frozen = targets_from_figures(60_000, 12_000, 0.02)
    assert Targets.from_dict(json.loads(json.dumps(frozen.to_dict()))) == frozen
