"""SHAP contributions and reasons: the linear-time TreeSHAP against LightGBM's pred_contrib.

    python benchmarks/reasons_bench.py [--model artifacts/train/model.joblib] [--repeats 7]

One process, one thread, the thread's CPU clock (medians of `--repeats`), rows of the model's own
training table when it exists (else the serve benchmark's synthetic rows). Prints, per lead and
per batch of 1000: pred_contrib, models/linear_treeshap.py, and their ratio; then the scorer's
whole `reasons` for one lead (SHAP + top-k + words) with each, and the largest difference
between the two sets of contributions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.batch_steps_bench import cpu_ms, model_arguments  # noqa: E402


def sample_rows(scorer: object, n: int) -> np.ndarray:
    import pandas as pd

    table = ROOT / "data" / "features" / "training_table.parquet"
    if table.exists():
        frame = pd.read_parquet(table).sample(n, random_state=0, replace=True)
        return scorer.model.encode(frame)  # type: ignore[attr-defined]
    from benchmarks.serve_bench import request_bodies

    columns = request_bodies(n_rows=n)["batch_columns"]["columns"]
    return scorer.model.encode(pd.DataFrame(columns))  # type: ignore[attr-defined]


def main() -> None:
    args = model_arguments(__doc__.split("\n")[0])

    from serve.settings import Settings
    from serve.state import build_serving

    scorer = build_serving(Settings(model_uri=str(args.model))).scorer
    explainer = scorer.explaining._explainer
    if explainer is None:
        raise SystemExit("models._linear_treeshap is not built: `pip install -e .` builds it")
    booster = scorer.model.booster
    X = sample_rows(scorer, 1000)
    r = args.repeats

    def lightgbm(rows: np.ndarray) -> np.ndarray:
        return booster.predict(rows, pred_contrib=True, num_threads=1)

    print(f"model: {booster.num_trees()} trees, {X.shape[1]} features; one thread, CPU time")
    print(f"{'':24}{'pred_contrib':>14}{'linear':>12}{'x faster':>10}")
    for label, rows, inner, unit in (
        ("one lead (us)", X[:1], 200, 1e3),
        ("1000 leads (ms)", X, 1, 1.0),
    ):
        before = cpu_ms(lambda rows=rows: lightgbm(rows), r, inner) * unit
        after = cpu_ms(lambda rows=rows: explainer.contributions(rows), r, inner) * unit
        print(f"{label:24}{before:14.1f}{after:12.1f}{before / after:10.1f}")

    row = {name: None for name in scorer.feature_names}
    one = X[:1]
    fast = cpu_ms(lambda: scorer.reasons(one, [row]), r, 200) * 1e3
    scorer.explaining._explainer = None  # the same scorer on pred_contrib
    slow = cpu_ms(lambda: scorer.reasons(one, [row]), r, 200) * 1e3
    scorer.explaining._explainer = explainer
    print(f"{'reasons, one lead (us)':24}{slow:14.1f}{fast:12.1f}{slow / fast:10.1f}")
    diff = np.abs(explainer.contributions(X) - lightgbm(X)).max()
    print(f"largest |difference| over 1000 leads: {diff:.2e} (log-odds)")


if __name__ == "__main__":
    main()
