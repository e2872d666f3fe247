"""Behaviour of the model the pipeline trains (not of LightGBM): what a marketer expects of a
score, checked on controlled leads scored through the same feature code as production."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from features.build import build_features
from features.persona import load_personas
from foundation.params import load_params
from tests.conftest import Project

pytestmark = pytest.mark.slow

Scorer = Callable[[pd.DataFrame, pd.DataFrame], np.ndarray]

AS_OF = pd.Timestamp("2026-06-01", tz="UTC")
# One burst of mid-funnel activity over ten days: visits, pricing, a download, e-mail.
BURST = (
    ("site_visit", 0),
    ("page_view", 0),
    ("site_visit", 2),
    ("pricing_view", 2),
    ("content_download", 5),
    ("email_open", 6),
    ("email_click", 6),
    ("site_visit", 9),
)
BURST_DAYS = 10
AGES_DAYS = (0, 5, 20, 45, 90, 150, 250)  # how long before the snapshot the burst ended


def fitting_lead(lead_id: str = "L-1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [lead_id],
            "created_at": [AS_OF - pd.Timedelta(days=400)],
            "channel": ["organic_search"],
            "company_size": pd.array([2500], dtype="Int64"),
            "industry": ["software"],
            "job_role": ["cto"],
            "country": ["DE"],
            "email_domain": ["acme-industries.de"],
        }
    )


def burst_ending(days_before: int, lead_id: str = "L-1") -> pd.DataFrame:
    start = AS_OF - pd.Timedelta(days=days_before + BURST_DAYS)
    rows = [(lead_id, start + pd.Timedelta(days=d), event, None) for event, d in BURST]
    return pd.DataFrame(rows, columns=["lead_id", "ts", "event_type", "content_topic"])


@pytest.fixture(scope="module")
def scorer(trained_project: Project) -> Scorer:
    params = load_params(trained_project.root / "params.yaml")
    personas = load_personas(trained_project.root / "personas.yaml")
    model = joblib.load(trained_project.root / "artifacts/train/model.joblib")

    def score(leads: pd.DataFrame, events: pd.DataFrame) -> np.ndarray:
        features = build_features(leads, events, None, AS_OF, personas, params.features)
        return model.predict_proba(features)

    return score


def test_more_recent_engagement_never_lowers_the_score(scorer: Scorer) -> None:
    scores = [scorer(fitting_lead(), burst_ending(age))[0] for age in AGES_DAYS]
    # AGES_DAYS runs from most recent to oldest: the score may only fall along it.
    assert all(newer >= older for newer, older in itertools.pairwise(scores)), scores
    assert scores[0] > scores[-1]


def test_lead_id_does_not_change_the_score(scorer: Scorer) -> None:
    a = scorer(fitting_lead("L-1"), burst_ending(5, "L-1"))
    b = scorer(fitting_lead("zz-9999-other"), burst_ending(5, "zz-9999-other"))
    np.testing.assert_array_equal(a, b)


def test_scoring_uses_the_feature_params_the_model_was_trained_with(
    trained_project: Project, tmp_path: Path
) -> None:
    """Editing params.yaml or personas.yaml after training must not skew a served model."""
    from scoring.context import feature_inputs

    model = joblib.load(trained_project.root / "artifacts/train/model.joblib")
    assert model.metadata["source"] == "pipeline"
    edited = tmp_path / "params.yaml"
    edited.write_text(yaml.safe_dump({"features": {"windows_days": [3, 14]}}))
    feature_params, personas = feature_inputs(model, edited, tmp_path / "no-personas.yaml")
    assert feature_params == load_params(trained_project.root / "params.yaml").features
    assert personas == load_personas(trained_project.root / "data/interim/personas.yaml")
