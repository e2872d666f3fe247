"""Real objects for the service tests: a small LeadModel trained on the pipeline's own features
of simulated-looking leads (no mocks), settings pointing at it, and request bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd
from pydantic import SecretStr

from features.build import build_features, feature_spec
from features.persona import load_personas
from features.vocabularies import CONTENT_TOPICS, EVENT_TYPES
from foundation.params import FeatureParams, LightGBMParams, TrainParams
from models.propensity import fit_propensity
from serve.settings import Settings

if TYPE_CHECKING:
    from scoring.scorer import Scorer

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "test-key-0123456789"  # no role prefix: a scorer key
HEADERS = {"X-API-Key": API_KEY}
ADMIN_KEY = "admin-key-0123456789"
ADMIN_HEADERS = {"X-API-Key": ADMIN_KEY}
VIEWER_KEY = "viewer-key-0123456789"
T = pd.Timestamp("2025-06-01", tz="UTC")
AS_OF = "2025-06-01T00:00:00Z"

CHANNELS = ["organic_search", "paid_search", "email", "events", "referral", None]
INDUSTRIES = ["software", "manufacturing", "retail", "healthcare", "media", None]
ROLES = ["cto", "head_of_operations", "founder", "cmo", "student", None]
COUNTRIES = ["DE", "GB", "FR", "US", "PL", None]
DOMAINS = ["acme.com", "gmail.com", "logi.pl", "shop.de", None]
SIZES = [None, 8, 40, 300, 2500, 8000]


def synthetic_crm(seed: int, n_leads: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leads and events in the data contract's shape, with engaged leads more active."""
    rng = np.random.default_rng(seed)

    def pick(values: list[Any]) -> list[Any]:
        return [values[i] for i in rng.integers(0, len(values), n_leads)]

    created = T - pd.to_timedelta(rng.integers(86400, 300 * 86400, n_leads), unit="s")
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{seed}-{i}" for i in range(n_leads)],
            "created_at": created,
            "channel": pick(CHANNELS),
            "company_size": pd.array(pick(SIZES), dtype="Int64"),
            "industry": pick(INDUSTRIES),
            "job_role": pick(ROLES),
            "country": pick(COUNTRIES),
            "email_domain": pick(DOMAINS),
        }
    )
    activity = rng.gamma(1.0, 8.0, n_leads)
    per_lead = rng.poisson(activity)
    owner = np.repeat(np.arange(n_leads), per_lead)
    n_events = len(owner)
    events = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy()[owner],
            "ts": T - pd.to_timedelta(rng.integers(0, 120 * 86400, n_events), unit="s"),
            "event_type": [EVENT_TYPES[i] for i in rng.integers(0, len(EVENT_TYPES), n_events)],
            "content_topic": [
                CONTENT_TOPICS[i] for i in rng.integers(0, len(CONTENT_TOPICS), n_events)
            ],
        }
    )
    return leads, events


def train_small_model(path: Path, seed: int = 0, n_leads: int = 1500) -> Path:
    """Fit a real calibrated LeadModel on build_features output and save it as model.joblib."""
    params = FeatureParams()
    personas = load_personas(ROOT / "personas.yaml")
    leads, events = synthetic_crm(seed, n_leads)
    table = build_features(leads, events, None, T, personas, params)
    rng = np.random.default_rng(seed + 1)
    logit = -2.5 + 3.0 * table["engagement_score"] + 1.5 * table["fit_score"]
    table["label"] = (rng.uniform(size=len(table)) < 1 / (1 + np.exp(-logit))).astype(int)
    spec = feature_spec(params)
    cut = int(len(table) * 0.7)
    train_params = TrainParams(lightgbm=LightGBMParams(n_estimators=60, early_stopping_rounds=20))
    model, _ = fit_propensity(
        table.iloc[:cut],
        table.iloc[cut:],
        spec.numeric,
        spec.categorical,
        "label",
        train_params,
        num_threads=1,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return path


def small_scorer(model_path: Path, compiled: Any = None) -> Scorer:
    """A Scorer over a small model under the repository's personas and agreement, threshold 30."""
    from models.registry import load_lead_model
    from scoring.context import build_context
    from scoring.scorer import Scorer
    from sla.agreement import load_agreement

    context = build_context(
        FeatureParams(),
        load_personas(ROOT / "personas.yaml"),
        load_agreement(ROOT / "sla.yaml"),
        threshold_override=30.0,
    )
    return Scorer(load_lead_model(str(model_path)), context, compiled=compiled)


def settings_for(model_path: Path | str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "model_uri": str(model_path),
        "api_keys": SecretStr(f"other-key,{API_KEY},admin:{ADMIN_KEY},viewer:{VIEWER_KEY}"),
        "params_path": ROOT / "params.yaml",
        "personas_path": ROOT / "personas.yaml",
        "sla_path": ROOT / "sla.yaml",
        "mql_threshold": 40.0,
        "threshold_path": ROOT / "does-not-exist" / "threshold.json",
        # One module-scoped app takes every test's wrong keys from one address: the throttle
        # (tests/test_auth_throttle.py) would otherwise answer 429 to the tests that follow.
        "auth_failures_per_window": 100_000,
    }
    values.update(overrides)
    return Settings(**values)


def lead_body(i: int = 0, n_events: int = 10, **extra: Any) -> dict[str, Any]:
    """One lead as profile + events (as the CRM sends it)."""
    leads, events = synthetic_crm(100 + i, 1)
    lead = leads.iloc[0]
    own = events.head(n_events)
    body = {
        "lead": {
            "lead_id": lead["lead_id"],
            "created_at": lead["created_at"].isoformat(),
            "channel": lead["channel"],
            "company_size": None if pd.isna(lead["company_size"]) else int(lead["company_size"]),
            "industry": lead["industry"],
            "job_role": lead["job_role"],
            "country": lead["country"],
            "email_domain": lead["email_domain"],
        },
        "events": [
            {"ts": ts.isoformat(), "event_type": et, "content_topic": tp}
            for ts, et, tp in zip(own["ts"], own["event_type"], own["content_topic"], strict=True)
        ],
        "as_of": AS_OF,
    }
    body.update(extra)
    return body


def feature_rows(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Ready feature rows (JSON-able) from build_features, for the feature-row input."""
    leads, events = synthetic_crm(seed, n)
    table = build_features(
        leads, events, None, T, load_personas(ROOT / "personas.yaml"), FeatureParams()
    )
    rows = table.drop(columns=["lead_id"]).astype(object).to_dict("records")
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in rows
    ]


def now_utc() -> datetime:
    return datetime.now(UTC)
