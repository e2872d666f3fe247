"""The fast columnar reader (simdjson straight to float64 columns) answers exactly as orjson's
path does, and leaves to orjson every body it could read differently."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest

from scoring.scorer import Scorer
from serve.batch import score_batch, standard_json
from serve.column_json import read_columnar
from serve.errors import InputError
from tests.serve_fixtures import feature_rows, small_scorer, train_small_model

pytest.importorskip("simdjson", reason="the `serve` extra is not installed")

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> Scorer:
    path = train_small_model(tmp_path_factory.mktemp("column-json") / "model.joblib", n_leads=600)
    return small_scorer(path)


def awkward_columns(scorer: Scorer) -> dict[str, list[Any]]:
    """Real feature rows, then the cells clients send: ints, nulls, numeric strings, booleans,
    a word in a number column, an impossible value, an unknown column, ids."""
    rows = feature_rows(60)
    columns = {name: [r.get(name) for r in rows] for name in rows[0]}
    numeric = sorted(scorer.numeric_names & set(columns))
    first, second, third, fourth, fifth = numeric[:5]
    columns[first] = [int(v) if v is not None else 0 for v in columns[first]]  # ints only
    columns[second][3] = None
    columns[third][5] = "7"
    columns[fourth][8] = True
    columns[fifth][11] = "not a number"
    columns["fit_score"][13] = -1.0  # impossible: the lead fails, the others are scored
    columns["surprise"] = list(range(60))
    return columns


def answer(scorer: Scorer, data: Any) -> dict[str, Any] | list[dict[str, Any]]:
    try:
        return score_batch(scorer, data, 1000, 500, NOW)
    except InputError as exc:
        return exc.items


@pytest.mark.parametrize("explain", [False, True])
def test_fast_columnar_body_scores_like_orjson(scorer: Scorer, explain: bool) -> None:
    columns = awkward_columns(scorer)
    body = orjson.dumps(
        {"columns": columns, "lead_ids": [f"L-{i}" for i in range(60)], "explain": explain}
    )
    fast = read_columnar(body, scorer.numeric_names)
    assert fast is not None
    arrays = {n for n, c in fast["columns"].items() if isinstance(c, np.ndarray)}
    assert len(arrays) > len(scorer.numeric_names) // 2, "the fast path was not taken"
    assert not arrays & {"surprise", *scorer.categorical}
    expected = answer(scorer, standard_json(body))
    assert expected["failed"] == 2 and expected["scored"] == 58
    assert answer(scorer, fast) == expected


def test_fast_columnar_body_refuses_like_orjson(scorer: Scorer) -> None:
    """A cell that is no number, string, boolean or null fails the request the same way."""
    columns = awkward_columns(scorer)
    columns["fit_score"][2] = {"points": 1}
    body = orjson.dumps({"columns": columns})
    fast = read_columnar(body, scorer.numeric_names)
    assert fast is not None
    expected = answer(scorer, standard_json(body))
    assert isinstance(expected, list) and expected[0]["field"] == "body.columns.fit_score"
    assert answer(scorer, fast) == expected


@pytest.mark.parametrize(
    "body",
    [
        b'\xef\xbb\xbf{"columns": {"fit_score": [1]}}',  # orjson refuses a BOM
        b'{"columns": {"fit_score": [NaN]}}',
        b'{"columns": {"fit_score": [1e999]}}',
        b'{"columns": {"fit_score": [1]}} trailing',
        b'{"columns": {"fit_score": [1], "fit_score": [2]}}',  # orjson keeps the last
        b'{"columns": {"fit_score": [1]}, "columns": {"fit_score": [2]}}',
        b'{"columns": {"fit_score": [-99999999999999999999999]}}',  # beyond 64 bits
        b'{"columns": {"fit_score": ["\\ud800"]}}',
        b'{"columns": {"fit_score": [1, [2], 3]}}',  # simdjson's buffer would flatten it
        b'{"columns": 5}',
        b'{"columns": {"fit_score": [1]}, "leads": []}',  # the row form decides
        b"[1, 2]",
    ],
)
def test_fast_reader_leaves_to_orjson_what_it_could_read_otherwise(
    scorer: Scorer, body: bytes
) -> None:
    assert read_columnar(body, scorer.numeric_names) is None


def test_numbers_read_fast_equal_what_float_gives() -> None:
    """Integers (to 64 bits), subnormals, signed zero: the same float64 as Python's float()."""
    values = [0, -0.0, 5e-324, 2.2250738585072011e-308, 123456789012345678, 2**63 - 1, 1e23]
    body = orjson.dumps({"columns": {"x": values}})
    fast = read_columnar(body, frozenset({"x"}))
    assert fast is not None
    column = fast["columns"]["x"]
    assert isinstance(column, np.ndarray)
    expected = np.array([float(v) for v in values])
    assert column.tobytes() == expected.tobytes()


def test_fast_reader_is_off_without_its_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the `serve` extra every body goes through orjson (the service still answers)."""
    import serve.column_json as column_json

    monkeypatch.setattr(column_json, "simdjson", None)
    assert column_json.read_columnar(b'{"columns": {"x": [1]}}', frozenset({"x"})) is None


def test_only_small_columnar_batches_without_reasons_are_scored_on_the_event_loop() -> None:
    """Everything else goes to a thread, so a big batch or SHAP never holds up /healthz."""
    from serve.batch import cheap_enough_inline

    small = {"columns": {"fit_score": np.zeros(1000), "persona": [None] * 1000}}
    assert cheap_enough_inline(small, 1000)
    assert not cheap_enough_inline({**small, "explain": True}, 1000)
    assert not cheap_enough_inline({"columns": {"fit_score": [0.5] * 1001}}, 1000)
    assert not cheap_enough_inline(small, 0)
    assert not cheap_enough_inline({"leads": [{"features": {}}]}, 1000)
