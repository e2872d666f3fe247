"""What the scoring core reads from the environment (prefix `LEADSCORE_`): the model and the
files its context comes from.

The service's Settings (serve/settings.py) extend these with its own (keys, limits, sessions);
`leadscore daily` and `leadscore score` read only these, so neither imports the HTTP layer.
Nothing here runs at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_URI = "models:/lead-propensity@champion"


class ScoringSettings(BaseSettings):
    """The model to load and the files a scorer's context is built from, each settable as
    `LEADSCORE_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="LEADSCORE_", extra="ignore", frozen=True, protected_namespaces=()
    )

    model_uri: str = Field(
        DEFAULT_MODEL_URI,
        description="`models:/name@alias` (MLflow registry) or a path to a model.joblib.",
    )
    params_path: Path = Field(Path("params.yaml"), description="Feature parameters (features:).")
    personas_path: Path = Field(Path("personas.yaml"), description="The agreed personas.")
    sla_path: Path = Field(Path("sla.yaml"), description="The agreement (thresholds, tiers).")
    mql_threshold: float | None = Field(
        None, ge=0, le=100, description="Override the agreement's MQL score threshold (0-100)."
    )
    threshold_path: Path = Field(
        Path("artifacts/sla/threshold.json"),
        description="Where `leadscore sla report` writes the resolved `auto` threshold.",
    )
