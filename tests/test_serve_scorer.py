"""The scorer's fast paths equal the reference ones: columnar encoding = LeadModel.encode,
numpy SLA rules = sla.qualify.qualify lead by lead, one lead = the same lead in a batch, and
`leadscore score` writes what the service answers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import app as cli
from scoring.decide import _ABSENT as ABSENT
from scoring.decide import qualify_arrays, unsubscribed_of
from scoring.scorer import Scorer
from serve.schemas import LeadInput
from sla.agreement import load_agreement
from sla.qualify import compile_rules, qualify
from tests.serve_fixtures import (
    ROOT,
    T,
    feature_rows,
    lead_body,
    small_scorer,
    synthetic_crm,
    train_small_model,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_model(tmp_path_factory.mktemp("scorer") / "model.joblib", n_leads=800)


@pytest.fixture(scope="module")
def scorer(model_path: Path) -> Scorer:
    return small_scorer(model_path)


def test_columnar_encoding_equals_the_model_encoding(scorer: Scorer) -> None:
    rows = feature_rows(40)
    rows[3]["channel"] = "never_seen_channel"
    rows[5]["persona"] = None
    rows[7]["fit_score"] = None
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    X, bad = scorer.encode_columns(columns, len(rows))
    assert not bad
    expected = scorer.model.encode(pd.DataFrame(rows))
    np.testing.assert_array_equal(X, expected)
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(X[i], scorer.encode_row(row)[0])


def test_numpy_rules_equal_qualify_lead_by_lead() -> None:
    agreement = load_agreement(ROOT / "sla.yaml")
    rules = compile_rules(agreement, threshold=35.0)
    rng = np.random.default_rng(3)
    n = 400
    fit = rng.choice([np.nan, 0.0, 0.1, 0.25, 0.5, 0.75, 1.0], n)
    engagement = rng.choice([np.nan, 0.0, 0.05, 0.2, 0.5, 0.9], n)
    n_unsub = rng.choice([np.nan, 0.0, 1.0, 2.0], n)
    subscribed = rng.choice([np.nan, 0.0, 1.0], n)
    email = rng.choice(["business", "free", "missing", None], n).tolist()
    role = rng.choice(["cto", "student", None, "founder"], n).tolist()
    scores = rng.integers(0, 101, n)
    inputs = {
        "fit_score": fit,
        "engagement_score": engagement,
        "n_unsubscribe": n_unsub,
        "newsletter_subscribed": subscribed,
        "email_kind": email,
        "job_role": role,
    }
    inputs["unsubscribed"] = [
        unsubscribed_of(ABSENT, {"n_unsubscribe": u, "newsletter_subscribed": s})
        for u, s in zip(n_unsub, subscribed, strict=True)
    ]
    fast = qualify_arrays(inputs, scores, rules)
    for i in range(n):
        lead = {
            "score": int(scores[i]),
            "fit_score": float(fit[i]),
            "engagement_score": float(engagement[i]),
            "n_unsubscribe": float(n_unsub[i]),
            "newsletter_subscribed": float(subscribed[i]),
            "email_kind": email[i],
            "job_role": role[i],
        }  # no explicit flag: qualify derives `unsubscribed` from the features
        d = qualify(lead, rules)
        got = tuple(
            fast[k][i] for k in ("decision", "rule", "tier", "fit_grade", "engagement_grade")
        )
        assert got == (d.decision, d.rule, d.tier, d.fit_grade, d.engagement_grade), (i, lead)


def test_one_lead_scores_as_it_does_in_a_batch(scorer: Scorer) -> None:
    items = [LeadInput.model_validate(lead_body(i, n_events=15)) for i in range(8)]
    singles = [scorer.score_one(item, explain=True, now=NOW) for item in items]
    values = [scorer.features_of(item, NOW) for item in items]
    batch = scorer.score_rows(
        [v for v, _ in values],
        [NOW] * len(items),
        [s["lead_id"] for s in singles],
        explain=True,
        encoded=[x for _, x in values],
    )
    for single, many in zip(singles, batch, strict=True):
        assert single == many


def test_leadscore_score_on_leads_and_events_matches_the_scorer(
    scorer: Scorer, model_path: Path, tmp_path: Path
) -> None:
    leads, events = synthetic_crm(11, 30)
    leads.to_parquet(tmp_path / "leads.parquet")
    events.to_csv(tmp_path / "events.csv", index=False)
    out = tmp_path / "scores.csv"
    args = [
        "score", str(tmp_path / "leads.parquet"), "--events", str(tmp_path / "events.csv"),
        "--as-of", T.isoformat(), "--out", str(out), "--model", str(model_path),
        "--params", str(ROOT / "params.yaml"), "--personas", str(ROOT / "personas.yaml"),
        "--sla", str(ROOT / "sla.yaml"), "--threshold", "30", "--explain",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "scored 30 leads (leads)" in result.output
    written = pd.read_csv(out)
    assert list(written.columns[:3]) == ["lead_id", "probability", "score"]
    assert written["reasons_for"].str.startswith("[").all()
    for i, lead in enumerate(leads.to_dict("records")):
        own = events[events["lead_id"] == lead["lead_id"]]
        body = {
            "lead": {
                k: (None if pd.isna(v) else v.isoformat() if k == "created_at" else v)
                for k, v in lead.items()
            }
            | {
                "company_size": None if pd.isna(lead["company_size"]) else int(lead["company_size"])
            },
            "events": [
                {"ts": ts.isoformat(), "event_type": et, "content_topic": tp}
                for ts, et, tp in zip(
                    own["ts"], own["event_type"], own["content_topic"], strict=True
                )
            ],
            "as_of": T.isoformat(),
        }
        one = scorer.score_one(LeadInput.model_validate(body), explain=False)
        assert written.loc[i, "lead_id"] == lead["lead_id"]
        assert written.loc[i, "probability"] == pytest.approx(one["probability"], rel=1e-15)
        assert written.loc[i, "decision"] == one["decision"]


def test_leadscore_score_takes_feature_rows_and_says_what_is_missing(
    model_path: Path, tmp_path: Path
) -> None:
    rows = pd.DataFrame(feature_rows(12))
    rows.insert(0, "lead_id", [f"R{i}" for i in range(12)])
    rows.to_parquet(tmp_path / "rows.parquet")
    out = tmp_path / "scores.parquet"
    base = ["--model", str(model_path), "--sla", str(ROOT / "sla.yaml"), "--threshold", "30"]
    done = CliRunner().invoke(
        cli, ["score", str(tmp_path / "rows.parquet"), "--out", str(out), *base]
    )
    assert done.exit_code == 0, done.output
    assert pd.read_parquet(out)["lead_id"].tolist() == rows["lead_id"].tolist()

    rows[["lead_id", "fit_score"]].to_csv(tmp_path / "thin.csv", index=False)
    done = CliRunner().invoke(cli, ["score", str(tmp_path / "thin.csv"), "--out", str(out), *base])
    assert done.exit_code == 2
    assert "neither feature rows" in done.output


def test_single_row_fast_path_equals_predict_proba(scorer: Scorer) -> None:
    from scoring.fast_booster import single_row_predictor

    fast = single_row_predictor(scorer.model.booster, len(scorer.feature_names))
    assert fast is not None, "LightGBM's single-row fast path is missing: single leads got slower"
    rows = feature_rows(60, seed=5)
    X = scorer.model.encode(pd.DataFrame(rows))
    X[::7, 3] = np.nan  # missing values take LightGBM's missing branch in both paths
    expected = scorer.model.predict_proba(X, num_threads=1)
    for i in range(len(X)):
        assert scorer.predict(X[i : i + 1])[0] == expected[i]
        assert fast.raw_score(X[i]) == scorer.model.raw_score(X[i : i + 1], num_threads=1)[0]


def test_fast_row_encoding_equals_the_model_encode_row(scorer: Scorer) -> None:
    rows = feature_rows(30, seed=9)
    usable = [None, "", "1.5", "nan", True, False, 3, "  2 ", 1e308, -0.0]
    unusable = ["seven", [1], {"a": 1}]
    for i, row in enumerate(rows):
        odd = usable + unusable if i % 3 == 0 else usable
        for j, name in enumerate(scorer.feature_names):
            if (i + j) % 5 == 0:
                row[name] = odd[(i * 7 + j) % len(odd)]
        row["channel"] = ["never_seen", None, 3.0, True, "email"][i % 5]
    encoded = 0
    for row in rows:
        try:
            expected = scorer.model.encode_row(row)
        except Exception as exc:
            with pytest.raises(type(exc)):
                scorer.encode_row(row)
            continue
        np.testing.assert_array_equal(scorer.encode_row(row), expected)
        encoded += 1
    assert encoded >= len(rows) // 2


def test_leadscore_score_takes_a_flat_table_model_and_export(tmp_path: Path) -> None:
    import joblib

    from features.table_mapping import TableSpec
    from foundation.params import LightGBMParams, TrainParams
    from models.propensity import LeadModel, fit_propensity

    rng = np.random.default_rng(4)
    n = 600
    table = pd.DataFrame(
        {
            "Lead Id": [f"X{i}" for i in range(n)],
            "Visits": rng.poisson(3, n).astype(float),
            "Source": rng.choice(["Google", "Referral", "Olark"], n),
            "Opted Out": rng.choice(["Yes", "No"], n),
        }
    )
    table["label"] = (rng.uniform(size=n) < 0.1 + 0.05 * table["Visits"]).astype(int)
    typed = table.assign(**{"Opted Out": (table["Opted Out"] == "Yes").astype(float)})
    params = TrainParams(lightgbm=LightGBMParams(n_estimators=30, early_stopping_rounds=10))
    fitted, _ = fit_propensity(
        typed[:400], typed[400:], ["Visits", "Opted Out"], ["Source"], "label", params
    )
    spec = TableSpec(
        numeric=("Visits",), boolean=("Opted Out",), categorical=("Source",), id="Lead Id"
    )
    model = LeadModel(
        booster=fitted.booster,
        feature_names=fitted.feature_names,
        categorical=fitted.categorical,
        categories=fitted.categories,
        calibrator=fitted.calibrator,
        metadata={"source": "table", "model_name": "crm-export", "table_spec": spec.as_dict()},
    )
    joblib.dump(model, tmp_path / "model.joblib")
    table.drop(columns=["label"]).head(50).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "scores.csv"
    args = [
        "score",
        str(tmp_path / "new.csv"),
        "--out",
        str(out),
        "--model",
        str(tmp_path / "model.joblib"),
    ]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert "(table) with crm-export" in done.output
    scores = pd.read_csv(out)
    assert scores["lead_id"].tolist() == table["Lead Id"].head(50).tolist()
    assert scores["probability"].between(0, 1).all() and scores["decision"].isna().all()
