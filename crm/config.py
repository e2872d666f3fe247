"""crm.yaml: one section per CRM, in words a CRM admin uses (docs/crm.md).

Each section says where the CRM is, the NAMES of the environment variables holding its secrets
(a secret never sits in a file under version control), which fields carry what, and which
leadscore funnel stage each CRM status means. Loaded once, typed; a typo or a status mapped to a
stage leadscore does not know is a ConfigError naming the key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from foundation.errors import ConfigError
from foundation.io import read_yaml
from foundation.params import format_validation_error
from sla.measure import FUNNEL_RANK

DEFAULT_CRM_CONFIG = Path("crm.yaml")
CONFIG_ENV = "LEADSCORE_CRM_CONFIG"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HUBSPOT_MAX_BATCH = 100  # HubSpot's documented most records per batch request
# The funnel's stages (sla/measure.py's FUNNEL_RANK) plus the sales touch and the exit, as the
# stages table has them; tests/test_crm_config.py checks the two lists agree.
Stage = Literal[
    "visitor", "prospect", "mql", "sql", "opportunity", "customer", "contacted", "disqualified"
]
STAGES: tuple[str, ...] = get_args(Stage)
FUNNEL_STAGES = tuple(FUNNEL_RANK)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(
            f"{value!r} is not an environment variable name: give the variable's NAME "
            "(e.g. HUBSPOT_TOKEN), never the secret itself"
        )
    return value


class ScoreProperties(_Section):
    """The CRM properties leadscore writes (create them in the CRM first: docs/crm.md)."""

    score: str = "leadscore_score"
    tier: str = "leadscore_tier"
    reasons: str = "leadscore_reasons"
    model_version: str = "leadscore_model_version"
    scored_at: str = "leadscore_scored_at"


class HubSpotConfig(_Section):
    """HubSpot: inbound webhooks (v3 signatures), score write-back via the dated CRM API."""

    base_url: str = "https://api.hubapi.com"
    api_version: str = "2026-03"
    token_env: str = "HUBSPOT_TOKEN"  # private app access token: write-back and `crm check`
    client_secret_env: str = "HUBSPOT_CLIENT_SECRET"  # the app's client secret: v3 signatures
    # The URL HubSpot calls, exactly as configured in HubSpot (it signs that URL; behind a proxy
    # the service sees another one). Unset: the URL the request arrived at.
    webhook_url: str | None = None
    status_property: str = "hs_lead_status"
    id_property: str | None = None  # write back by this unique property (e.g. email), not id
    stages: dict[str, Stage] = Field(default_factory=dict)  # CRM status -> leadscore stage
    score_properties: ScoreProperties = ScoreProperties()
    batch_size: int = Field(HUBSPOT_MAX_BATCH, ge=1, le=HUBSPOT_MAX_BATCH)
    max_attempts: int = Field(5, ge=1)  # per batch request, 429 and 5xx included
    retry_after_cap_s: float = Field(60, ge=0)  # the longest Retry-After honoured in one run
    timeout_s: float = Field(10, gt=0)
    signature_tolerance_s: float = Field(300, gt=0)  # HubSpot: refuse older than 5 minutes
    # `leadscore daily` writes its scores back once its run is stored (its own step: a failure
    # is a line of the summary, never a failed run); false: `leadscore crm push` by hand.
    push_after_daily: bool = False

    check_env_names = field_validator("token_env", "client_secret_env")(_env_name)

    @field_validator("base_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with http:// or https://")
        return value.rstrip("/") if value else value


class SalesforceConfig(_Section):
    """Salesforce: outbound messages (SOAP) from a flow or workflow rule."""

    # Outbound messages carry no signature: the organisation id is checked (and the endpoint
    # should sit behind TLS with Salesforce's client certificate or IP ranges: docs/crm.md).
    organization_id: str = Field(min_length=15, max_length=18)
    object: str = "Lead"
    status_field: str = "Status"
    email_field: str = "Email"
    lead_id_field: str | None = None  # a field holding leadscore's lead id
    stages: dict[str, Stage] = Field(default_factory=dict)
    instance_url: str | None = (
        None  # for `leadscore crm check` (e.g. https://acme.my.salesforce.com)
    )
    token_env: str = "SALESFORCE_TOKEN"  # an access token for `crm check`'s API call
    max_notifications: int = Field(100, ge=1, le=100)  # the WSDL's maxOccurs

    check_env_names = field_validator("token_env")(_env_name)


class BottleCrmFields(_Section):
    """Which BottleCRM lead field fills each field of leadscore's lead contract (null: none)."""

    channel: str | None = "source"
    industry: str | None = "industry"
    job_role: str | None = "job_title"
    country: str | None = "country"
    email: str | None = "email"  # its domain becomes email_domain


class BottleCrmConfig(_Section):
    """BottleCRM (django-crm): signed webhooks in, rating + a note written back over its REST
    API with a personal access token."""

    base_url: str  # e.g. https://crm.example.com (its API is under /api/)
    token_env: str = "BOTTLECRM_TOKEN"  # a personal access token (bcrm_pat_...): write-back
    webhook_secret_env: str = "BOTTLECRM_WEBHOOK_SECRET"  # the endpoint's whsec_... secret
    signature_tolerance_s: float = Field(300, gt=0)  # older (or as far ahead) is refused
    # BottleCRM's lead statuses (assigned, in process, converted, recycled, closed) -> stage.
    stages: dict[str, Stage] = Field(default_factory=dict)
    fields: BottleCrmFields = BottleCrmFields()
    # leadscore tier -> BottleCRM rating (HOT, WARM, COLD); a tier not listed leaves the
    # rating alone (the note still carries the score).
    ratings: dict[str, Literal["HOT", "WARM", "COLD"]] = Field(
        default_factory=lambda: {"A": "HOT", "B": "WARM", "C": "COLD", "D": "COLD"}
    )
    write_back: bool = True  # score each new lead and write rating + note back
    timeout_s: float = Field(10, gt=0)
    max_attempts: int = Field(3, ge=1)  # per write-back request, 5xx and broken connections

    check_env_names = field_validator("token_env", "webhook_secret_env")(_env_name)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with http:// or https://")
        return value.rstrip("/")


class CrmConfig(_Section):
    hubspot: HubSpotConfig | None = None
    salesforce: SalesforceConfig | None = None
    bottlecrm: BottleCrmConfig | None = None


def config_path(explicit: Path | None = None) -> Path:
    """--config, else $LEADSCORE_CRM_CONFIG, else crm.yaml in the working folder."""
    return explicit or Path(os.environ.get(CONFIG_ENV) or DEFAULT_CRM_CONFIG)


def parse_crm_config(raw: object, source: str = "crm.yaml") -> CrmConfig:
    """Validate an already-read mapping; errors name the dotted key in `source`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of CRM sections, got {type(raw).__name__}")
    try:
        return CrmConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from exc


def load_crm_config(path: Path | None = None) -> CrmConfig:
    """Read crm.yaml (see config_path); a missing file is a ConfigError naming it."""
    where = config_path(path)
    if not where.exists():
        raise ConfigError(
            f"{where}: CRM configuration not found (copy the example in docs/crm.md, or set "
            f"{CONFIG_ENV})"
        )
    return parse_crm_config(read_yaml(where), str(where))


def secret_from_env(name: str, key: str) -> str:
    """The secret in $name; a ConfigError naming the variable and the crm.yaml key that names
    it when it is unset."""
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{name} is not set (crm.yaml {key} names it): set it in the environment")
    return value
