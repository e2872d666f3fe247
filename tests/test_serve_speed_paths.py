"""The fast paths give the answers of the slow ones: compiled trees, reasons, warm-up.

Speed itself is measured by benchmarks/serve_bench.py, never asserted here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from models.explain import describe
from models.registry import load_lead_model
from scoring.compiled_trees import compile_trees
from scoring.scorer import Scorer
from serve.app import create_app
from serve.state import build_serving
from tests.serve_fixtures import (
    ADMIN_HEADERS,
    HEADERS,
    feature_rows,
    settings_for,
    small_scorer,
    train_small_model,
)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_model(tmp_path_factory.mktemp("speed") / "model.joblib", n_leads=800)


@pytest.fixture(scope="module")
def plain_scorer(model_path: Path) -> Scorer:
    """Scores with the booster: what the reasons tests need, with or without lleaves."""
    return small_scorer(model_path)


@pytest.fixture(scope="module")
def scorer(model_path: Path) -> Scorer:
    """Scores with the trees compiled by lleaves (the `compiled` extra)."""
    pytest.importorskip("lleaves", reason="the `compiled` extra is not installed")
    loaded = load_lead_model(str(model_path))
    compiled = compile_trees(
        loaded.model.booster, len(loaded.model.feature_names), model_path.parent / "trees"
    )
    return small_scorer(model_path, compiled=compiled)


def hard_rows(scorer: Scorer, n: int = 3000, seed: int = 3) -> np.ndarray:
    """Encoded rows with NaNs, unseen and negative category codes, values off every threshold."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 30, size=(n, len(scorer.feature_names)))
    X[rng.uniform(size=X.shape) < 0.25] = np.nan
    for j, name in enumerate(scorer.feature_names):
        if name in scorer.categorical:
            k = len(scorer.model.categories[name])
            X[:, j] = rng.integers(-2, k + 3, size=n).astype(float)
            X[rng.uniform(size=n) < 0.2, j] = np.nan
    return X


def test_compiled_trees_score_within_1e_12_of_booster_predict(scorer: Scorer) -> None:
    assert scorer._compiled is not None
    X = np.vstack([hard_rows(scorer), *(scorer.encode_row(r) for r in feature_rows(200))])
    expected = scorer.model.booster.predict(X, raw_score=True, num_threads=1)
    np.testing.assert_allclose(scorer._compiled.raw_score(X), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        scorer.predict(X), scorer.model.predict_proba(X, num_threads=1), rtol=0, atol=1e-12
    )


def test_compiled_trees_are_cached_per_model_and_loaded_again(
    scorer: Scorer, model_path: Path
) -> None:
    cached = list((model_path.parent / "trees").glob("*.o"))
    assert len(cached) == 1
    again = compile_trees(
        scorer.model.booster, len(scorer.feature_names), model_path.parent / "trees"
    )
    assert again is not None
    X = hard_rows(scorer, 500, seed=9)
    np.testing.assert_array_equal(again.raw_score(X), scorer._compiled.raw_score(X))
    assert list((model_path.parent / "trees").glob("*.o")) == cached


def test_without_the_compiler_batches_fall_back_to_the_booster(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "lleaves", None)  # `import lleaves` now fails
    loaded = load_lead_model(str(model_path))
    assert compile_trees(loaded.model.booster, len(loaded.model.feature_names), tmp_path) is None
    serving = build_serving(settings_for(model_path, compiled_trees_dir=tmp_path))
    assert serving.scorer._compiled is None
    rows = feature_rows(50)
    X = np.vstack([serving.scorer.encode_row(r) for r in rows])
    np.testing.assert_array_equal(
        serving.scorer.predict(X), loaded.model.predict_proba(X, num_threads=1)
    )


def reasons_as_before(scorer: Scorer, x: np.ndarray, row: dict) -> dict[str, list]:
    """The reasons as computed before the fast path: `Booster.predict(pred_contrib=True)` and
    every feature described, then the top k kept (models/explain.py as it was)."""
    contrib = scorer.model.contributions(x, num_threads=1)[0][: len(scorer.feature_names)]
    seen = [
        scorer._category_key(row.get(n)) if n in scorer.categorical else float(x[0, j])
        for j, n in enumerate(scorer.feature_names)
    ]

    def make(i: int) -> dict:
        value = seen[i]
        value = None if isinstance(value, float) and not np.isfinite(value) else value
        return {
            "feature": scorer.feature_names[i],
            "text": describe(scorer.feature_names[i], seen[i]),
            "value": value,
            "contribution": float(contrib[i]),
        }

    order = np.argsort(-np.abs(contrib), kind="stable")
    k = scorer.top_reasons
    return {
        "reasons_for": [make(i) for i in order if contrib[i] > 0][:k],
        "reasons_against": [make(i) for i in order if contrib[i] < 0][:k],
    }


def without_contributions(why: dict[str, list]) -> tuple[dict[str, list], list[float]]:
    """The reasons with their contributions set aside (compared to 1e-9, not bit for bit: the
    linear-time SHAP sums the same terms in another order)."""
    numbers = [r["contribution"] for side in why.values() for r in side]
    words = {side: [{**r, "contribution": None} for r in rs] for side, rs in why.items()}
    return words, numbers


def test_single_lead_reasons_are_the_reasons_of_before(plain_scorer: Scorer) -> None:
    scorer = plain_scorer
    rows = feature_rows(300, seed=11)
    for row in rows:
        x = scorer.encode_row(row)
        words, numbers = without_contributions(scorer.reasons(x, [row])[0])
        words_before, numbers_before = without_contributions(reasons_as_before(scorer, x, row))
        assert words == words_before
        np.testing.assert_allclose(numbers, numbers_before, rtol=0, atol=1e-9)


def test_without_the_treeshap_extension_reasons_come_from_pred_contrib_in_a_thread(
    model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine that could not build models/_linear_treeshap.c still answers with the same
    reasons: the scorer says they are not cheap, so the route computes them in a thread."""
    fast = small_scorer(model_path)
    monkeypatch.setitem(sys.modules, "models._linear_treeshap", None)  # the import now fails
    settings = settings_for(model_path)
    with TestClient(create_app(settings)) as client:
        serving = client.app.state.service.current()  # type: ignore[attr-defined]
        assert not serving.scorer.reasons_are_cheap
        row = feature_rows(1, seed=4)[0]
        answer = client.post("/v1/score", json={"features": row, "explain": True}, headers=HEADERS)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    expected = fast.reasons(fast.encode_row(row), [row])[0]
    for side in ("reasons_for", "reasons_against"):
        assert [r["feature"] for r in got[side]] == [r["feature"] for r in expected[side]]
        np.testing.assert_allclose(
            [r["contribution"] for r in got[side]],
            [r["contribution"] for r in expected[side]],
            rtol=0,
            atol=1e-9,
        )


def test_start_up_and_reload_serve_a_warmed_scorer_with_the_heap_frozen(model_path: Path) -> None:
    """The service freezes what survives loading a model (serve/warmup.py), at start-up and
    again after a reload, before the new model answers; the scorer it serves scores as the model."""
    import gc

    gc.unfreeze()  # whatever an earlier test froze: start from a heap with nothing frozen
    with TestClient(create_app(settings_for(model_path))) as client:
        assert client.get("/readyz").status_code == 200
        assert gc.get_freeze_count() > 0, "start-up did not freeze the loaded heap"
        serving = client.app.state.service.current()  # type: ignore[attr-defined]
        rows = feature_rows(5)
        X = np.vstack([serving.scorer.encode_row(r) for r in rows])
        np.testing.assert_allclose(
            serving.scorer.predict(X), serving.scorer.model.predict_proba(X), rtol=0, atol=1e-12
        )
        gc.unfreeze()
        reloaded = client.post("/v1/admin/reload", headers=ADMIN_HEADERS)
        assert reloaded.status_code == 200, reloaded.text
        assert gc.get_freeze_count() > 0, "a reload did not freeze the new model's heap"
