"""Service settings from the environment (prefix `LEADSCORE_`), read once when the app is built.

Nothing here runs at import time: `Settings()` is called by `create_app` (or by `leadscore serve`),
so tests can build apps with their own settings side by side.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from foundation.errors import ConfigError
from scoring.inputs import EVENTS_CEILING, STAGES_CEILING
from scoring.settings import ScoringSettings

SESSION_SECRET_MIN_CHARS = 24


class Settings(ScoringSettings):
    """Everything the service needs to know, each field settable as `LEADSCORE_<NAME>`.

    API keys come from `LEADSCORE_API_KEYS` (comma-separated) and/or `LEADSCORE_API_KEYS_FILE`
    (one key per line, `#` comments allowed), so a secret manager can mount a file instead of
    putting keys into the process environment. With no key configured every /v1 route answers
    401: the service fails closed rather than open.
    """

    model_config = SettingsConfigDict(
        env_prefix="LEADSCORE_", extra="ignore", frozen=True, protected_namespaces=()
    )

    api_keys: SecretStr = Field(SecretStr(""), description="Comma-separated API keys.")
    api_keys_file: Path | None = Field(None, description="File with one API key per line.")
    max_batch: int = Field(1000, ge=1, description="Most leads in one batch request (else 413).")
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted (else 413)."
    )
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Seconds a request body may take to arrive, from the request's start "
        "(else 408 and the connection is closed): a slow or stalled client cannot hold a slot.",
    )
    auth_failures_per_window: int = Field(
        20,
        ge=1,
        description="Failed authentications (unknown API key, refused sign-in) one client "
        "address, or one presented key, may make per window before it gets 429.",
    )
    auth_failure_window_s: float = Field(
        60.0, gt=0, description="The sliding window of auth_failures_per_window, in seconds."
    )
    max_events_per_lead: int = Field(
        5000, ge=1, le=EVENTS_CEILING, description="Most events sent for one lead (else 422)."
    )
    max_stages_per_lead: int = Field(
        100, ge=1, le=STAGES_CEILING, description="Most funnel rows sent for one lead (else 422)."
    )
    db_url: str | None = Field(
        None,
        description="The store of record `leadscore daily` writes (any SQLAlchemy URL); unset: "
        "leadscore.db in the working folder if it exists, else /v1/leads and /v1/handoff "
        "answer 503.",
    )
    crm_config: Path | None = Field(
        None,
        description="crm.yaml: the CRMs whose requests POST /crm/hubspot, /crm/salesforce and "
        "/crm/bottlecrm take (docs/crm.md); read at start, with the secrets it names. Unset: "
        "those answer 404.",
    )
    top_reasons: int = Field(3, ge=1, le=20, description="Reasons for and against, each.")
    batch_threads: int = Field(
        1, ge=0, description="LightGBM threads per batch (0: all cores); one suits 1 worker/core."
    )
    inline_batch_max: int = Field(
        1000,
        ge=0,
        description="Columnar batches without reasons of up to this many leads are scored on "
        "the event loop (~8 ms for 1000: a thread hand-off cost ~20% of the throughput); larger "
        "ones go to a thread, so they never hold up /healthz. 0: always a thread.",
    )
    reasons_threads: int = Field(
        0,
        ge=0,
        description="Without the compiled TreeSHAP (models/linear_treeshap.py), single leads "
        "with reasons computed at once (LightGBM's SHAP, in threads); 0: one per core. More only "
        "make the threads compete: measured 894/s with 2 threads, 793/s with 16.",
    )
    compiled_trees: bool = Field(
        True, description="Score batches with the trees compiled by lleaves when installed."
    )
    compiled_trees_dir: Path | None = Field(
        None,
        description="Cache of compiled trees (default: beside a model file, else "
        "~/.cache/leadscore/compiled-trees).",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    # uvicorn's own bounds on clients (docs/operator.md "Slow clients and connection limits").
    limit_concurrency: int | None = Field(
        None,
        ge=1,
        description="Most connections (and tasks) per worker at once; past it uvicorn answers "
        "503 at once. Unset: no limit (put one, or a proxy's, in front of a public service).",
    )
    timeout_keep_alive_s: int = Field(
        30, ge=1, description="An idle keep-alive connection is closed after this many seconds."
    )
    backlog: int = Field(2048, ge=1, description="Connections the kernel queues before accept.")
    log_level: str = "info"
    # The dashboard (dashboard/): browser sessions and where its pages read from.
    session_secret: SecretStr = Field(
        SecretStr(""),
        description="Signs dashboard session cookies; unset: random per process (sessions end "
        "on restart and do not cross workers).",
    )
    session_max_age_s: int = Field(8 * 3600, ge=60, description="Dashboard session lifetime.")
    session_cookie_secure: bool = Field(
        False, description="Mark the session cookie Secure (set it when served over HTTPS)."
    )
    dashboard_cache_s: float = Field(
        30.0, ge=0, description="How long a dashboard page reuses what it read (0: never)."
    )
    mlflow_ui_url: str = Field(
        "", description="Base URL of the MLflow UI; the Model page links each run there."
    )

    @field_validator("session_secret")
    @classmethod
    def _long_enough_secret(cls, value: SecretStr) -> SecretStr:
        # A short secret can be guessed offline from one cookie, and then any session forged:
        # 24 characters is what `secrets.token_urlsafe(18)` gives (144 random bits).
        secret = value.get_secret_value()
        if secret and len(secret) < SESSION_SECRET_MIN_CHARS:
            raise ValueError(
                f"is {len(secret)} characters; use at least {SESSION_SECRET_MIN_CHARS} random "
                "ones (python -c 'import secrets; print(secrets.token_urlsafe(32))'), or leave "
                "it unset for a random one per process"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"critical", "error", "warning", "info", "debug", "trace"}:
            raise ValueError(f"unknown log level {value!r}")
        return value

    def api_key_list(self) -> tuple[str, ...]:
        """All configured keys, env first, then the file; blanks and comments dropped."""
        keys = [k.strip() for k in self.api_keys.get_secret_value().split(",")]
        if self.api_keys_file is not None:
            try:
                text = Path(self.api_keys_file).read_text()
            except OSError as exc:
                raise ConfigError(
                    f"{self.api_keys_file}: cannot read the API keys file ({exc.strerror}); "
                    "set LEADSCORE_API_KEYS_FILE to a readable file"
                ) from exc
            keys += [line.split("#", 1)[0].strip() for line in text.splitlines()]
        return tuple(dict.fromkeys(k for k in keys if k))
