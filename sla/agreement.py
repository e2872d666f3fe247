"""sla.yaml as one typed, validated object: the agreement marketing and sales signed.

Every figure is either given (a number both teams agreed) or `measured` from the CRM history; a
typo, a rate of zero or a gap in the score bands is an error naming the key, because a silently
wrong agreement is worse than none: each team would read a different one.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_serializer,
)

from foundation.errors import ConfigError
from foundation.io import read_yaml
from foundation.params import format_validation_error
from sla.sales_desk import SalesDesk

DEFAULT_SLA = Path("sla.yaml")
MEASURED = "measured"
AUTO = "auto"
SCORE_MIN, SCORE_MAX = 0.0, 100.0
FIT_MIN, FIT_MAX = 0.0, 1.0
ENGAGEMENT_MIN, ENGAGEMENT_MAX = 0.0, 1.0  # features.behaviour: engagement_score in [0, 1)
# Categorical feature columns (docs/CONTRACTS.md feature_spec) an exclusion may name: keeping the
# list closed turns a typo ("emial_kind") into an error instead of a rule that never fires.
# An address a mail server accepts as a recipient: local part, @, a dotted domain (no spaces).
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
EXCLUDABLE_COLUMNS = ("email_kind", "job_role", "industry", "country", "channel", "persona")


def _rate_or_measured(value: Any) -> float | str:
    """A rate in (0, 1] or the word `measured`: one clear message instead of two union branches."""
    if value == MEASURED:
        return MEASURED
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a rate in (0, 1] or '{MEASURED}', got {value!r}")
    if not 0 < value <= 1 or math.isnan(value):
        raise ValueError(
            f"rate must be in (0, 1], got {value!r} (a zero rate makes targets infinite)"
        )
    return float(value)


def _threshold_or_auto(value: Any) -> float | str:
    if value == AUTO:
        return AUTO
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a score in [0, 100] or '{AUTO}', got {value!r}")
    if not SCORE_MIN <= value <= SCORE_MAX:
        raise ValueError(f"score threshold must be in [0, 100], got {value!r}")
    return float(value)


def _deal_values(value: Any) -> str | dict[str, float]:
    if value == MEASURED:
        return value
    if not isinstance(value, dict) or not value:
        raise ValueError(
            f"expected '{MEASURED}' or a mapping persona: EUR (e.g. {{other: 4000}}), got {value!r}"
        )
    out: dict[str, float] = {}
    for persona, eur in value.items():
        if isinstance(eur, bool) or not isinstance(eur, int | float) or not eur > 0:
            raise ValueError(f"{persona}: deal value must be a positive number of EUR, got {eur!r}")
        out[str(persona)] = float(eur)
    return out


RateOrMeasured = Annotated[float | str, PlainValidator(_rate_or_measured)]
Rate = Annotated[float, Field(gt=0, le=1)]
ThresholdOrAuto = Annotated[float | str, PlainValidator(_threshold_or_auto)]
DealValues = Annotated[str | dict[str, float], PlainValidator(_deal_values)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class History(_Section):
    """How `measured` figures are read from the CRM history."""

    months: int = Field(6, ge=1)
    maturity_days: int = Field(90, ge=0)
    min_leads_per_cell: int = Field(50, ge=1)
    min_won_deals: int = Field(5, ge=1)


class GivenRates(_Section):
    """Agreed lead -> customer rates, looked up cell first, then channel, then overall."""

    overall: Rate
    channels: dict[str, Rate] = Field(default_factory=dict)
    cells: dict[str, dict[str, Rate]] = Field(default_factory=dict)


class Funnel(_Section):
    """The chain MQL -> SQL -> customer that turns a customer target into MQL and SQL targets."""

    mql_to_sql: RateOrMeasured
    sql_to_customer: RateOrMeasured


class MqlRule(_Section):
    score_threshold: ThresholdOrAuto
    min_fit_score: float = Field(0.0, ge=FIT_MIN, le=FIT_MAX)
    exclude_unsubscribed: bool = True
    exclude: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("exclude")
    @classmethod
    def _known_columns(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = sorted(set(value) - set(EXCLUDABLE_COLUMNS))
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}; allowed: {list(EXCLUDABLE_COLUMNS)}")
        return value


class SalesCapacity(_Section):
    reps: int = Field(ge=1)
    leads_per_rep_per_month: int = Field(ge=1)

    @property
    def mqls_per_month(self) -> int:
        return self.reps * self.leads_per_rep_per_month


class Bands(_Section):
    """Named bands best first, each [min, max): e.g. tiers A 75-100, B 50-75, ...

    Kept as parallel tuples so that a lookup is one bisect, cheap enough for the service.
    """

    names: tuple[str, ...]
    mins: tuple[float, ...]
    maxs: tuple[float | None, ...]

    def ranges(self) -> dict[str, tuple[float, float | None]]:
        return {n: (lo, hi) for n, lo, hi in zip(self.names, self.mins, self.maxs, strict=True)}

    @model_serializer
    def _as_written(self) -> dict[str, list[float | None]]:
        # Dump in the sla.yaml shape, so `GET /v1/sla` and the report show what both teams signed.
        return {name: [lo, hi] for name, (lo, hi) in self.ranges().items()}


def _bands(value: Any, low: float, high: float | None, what: str) -> Bands:
    """Parse {name: [min, max]} best first; check order, no gaps or overlaps, full coverage."""
    if isinstance(value, Bands):
        return value
    if not isinstance(value, dict) or not value:
        raise ValueError(f"expected a mapping {what}: [min, max], best first")
    names, mins, maxs = [], [], []
    for name, bounds in value.items():
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise ValueError(f"{name}: expected [min, max], got {bounds!r}")
        lo, hi = bounds
        if isinstance(lo, bool) or not isinstance(lo, int | float):
            raise ValueError(f"{name}: min must be a number, got {lo!r}")
        if hi is not None and (isinstance(hi, bool) or not isinstance(hi, int | float)):
            raise ValueError(f"{name}: max must be a number or null, got {hi!r}")
        if hi is not None and not lo < hi:
            raise ValueError(f"{name}: min {lo} must be below max {hi}")
        names.append(str(name))
        mins.append(float(lo))
        maxs.append(None if hi is None else float(hi))
    for i in range(1, len(names)):
        if maxs[i] != mins[i - 1]:
            raise ValueError(
                f"{names[i]} ends at {maxs[i]} but {names[i - 1]} starts at {mins[i - 1]}: "
                "bands must be listed best first and touch (no gap, no overlap)"
            )
    if mins[-1] != low:
        raise ValueError(f"lowest band {names[-1]} must start at {low}, got {mins[-1]}")
    if high is not None and maxs[0] != high:
        raise ValueError(f"top band {names[0]} must end at {high}, got {maxs[0]}")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate band names in {names}")
    return Bands(names=tuple(names), mins=tuple(mins), maxs=tuple(maxs))


class Forecast(_Section):
    """The monthly SQL forecast behind the `auto` threshold and its backtest (sla/forecast.py)."""

    interval_level: float = Field(0.9, gt=0, lt=1)  # equal-tailed interval of the SQL count
    run_rate_months: int = Field(3, ge=1)  # leads arriving per month: mean of the last N months
    conversion_months: int = Field(6, ge=1)  # their same-month SQL rate: pooled over N months
    backtest_months: int = Field(6, ge=1)  # complete months re-forecast in the SLA report


class Recap(_Section):
    """Who receives the daily recap by e-mail (SMTP settings come from the environment)."""

    recipients: tuple[str, ...] = ()

    @field_validator("recipients", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        for n, address in enumerate(value or ()):
            if not isinstance(address, str) or not EMAIL.fullmatch(address.strip()):
                raise ValueError(f"recipient {n + 1} {address!r} is not an e-mail address")
        return tuple(a.strip() for a in value or ())


class Agreement(_Section):
    """The whole agreement: targets, the MQL rule, grades, follow-up time and sales capacity."""

    revenue_goal_eur: float = Field(gt=0)
    history: History = History()
    avg_deal_value_eur: DealValues
    conversion_rate: Literal["measured"] | GivenRates
    funnel: Funnel
    mql_rule: MqlRule
    tiers: Bands
    fit_grades: Bands
    engagement_grades: Bands
    follow_up_hours: float = Field(gt=0)
    follow_up_compliance: float = Field(0.9, gt=0, le=1)
    sales_capacity: SalesCapacity
    forecast: Forecast = Forecast()
    recap: Recap = Recap()
    sales_desk: SalesDesk = SalesDesk()  # owners, contact cadence, reassignment (sla/sales_desk.py)

    @field_validator("tiers", mode="before")
    @classmethod
    def _tiers(cls, value: Any) -> Bands:
        return _bands(value, SCORE_MIN, SCORE_MAX, "tier")

    @field_validator("fit_grades", mode="before")
    @classmethod
    def _fit(cls, value: Any) -> Bands:
        return _bands(value, FIT_MIN, FIT_MAX, "grade")

    @field_validator("engagement_grades", mode="before")
    @classmethod
    def _engagement(cls, value: Any) -> Bands:
        return _bands(value, ENGAGEMENT_MIN, ENGAGEMENT_MAX, "grade")

    def needs_history(self) -> bool:
        """True when any figure is `measured`, so the CRM history must be read."""
        return MEASURED in (
            self.avg_deal_value_eur,
            self.conversion_rate,
            self.funnel.mql_to_sql,
            self.funnel.sql_to_customer,
        )


def parse_agreement(raw: Any, source: str = "sla.yaml") -> Agreement:
    """Validate an already-read mapping; errors name the dotted key in `source`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(raw).__name__}")
    try:
        return Agreement.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from exc


def agreement_version(path: Path = DEFAULT_SLA) -> str:
    """The agreement's version: the first 12 hex digits of sla.yaml's SHA-256. Frozen month
    targets carry it, so a page can say which signed text they came from."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def load_agreement(path: Path = DEFAULT_SLA) -> Agreement:
    """Read and validate sla.yaml; a missing file or a bad key is a ConfigError naming it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: agreement file not found (copy the example sla.yaml)")
    return parse_agreement(read_yaml(path), str(path))
