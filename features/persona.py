"""Persona fit: how well a lead's firmographics match the personas both teams agreed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from foundation.errors import ConfigError
from foundation.io import read_yaml


class SizeRange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> SizeRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Persona(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    description: str = ""
    company_size: SizeRange = SizeRange()
    industries: tuple[str, ...] = ()
    job_roles: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    avg_deal_value_eur: float = Field(gt=0)


class Personas(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    personas: tuple[Persona, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Personas:
        names = [p.name for p in self.personas]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate persona names: {dupes}")
        return self

    def by_name(self) -> dict[str, Persona]:
        return {p.name: p for p in self.personas}


def load_personas(path: Path) -> Personas:
    from foundation.params import format_validation_error

    try:
        return Personas.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc


# ---- Fit and firmographics as features -------------------------------------------------------

NO_PERSONA = "none"
FIT_CRITERIA: tuple[str, ...] = ("size", "industry", "role", "country")
FIT_COLUMNS: tuple[str, ...] = (*(f"fit_{c}" for c in FIT_CRITERIA), "fit_score")
FIRMOGRAPHIC_NUMERIC: tuple[str, ...] = ("log_company_size",)
# Model inputs as text; missing is None. `persona` is filled by `persona_fit`.
CATEGORICAL: tuple[str, ...] = (
    "channel",
    "persona",
    "size_band",
    "industry",
    "job_role",
    "country",
    "email_kind",
)
# (lowest head count, band): EU SME bands (micro, small, medium), then the large-company bands
# sales prices by. Employees at or above a band's lower bound and below the next one's.
SIZE_BANDS: tuple[tuple[int, str], ...] = (
    (0, "1-9"),
    (10, "10-49"),
    (50, "50-249"),
    (250, "250-999"),
    (1000, "1000-4999"),
    (5000, "5000+"),
)
# Consumer mailbox providers: an address there says nothing about the employer, and B2B teams
# treat it as a weaker lead. Compared in lower case, after the last "@".
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "outlook.com",
        "outlook.de",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "web.de",
        "t-online.de",
        "freenet.de",
        "posteo.de",
        "mail.com",
        "protonmail.com",
        "proton.me",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "wanadoo.fr",
        "libero.it",
        "virgilio.it",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "onet.pl",
        "seznam.cz",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "zoho.com",
    }
)
EMAIL_BUSINESS, EMAIL_FREE, EMAIL_MISSING = "business", "free", "missing"


def _column(leads: pd.DataFrame, name: str) -> pd.Series:
    """A leads column, or all-missing when the export lacks it (optional in the contract)."""
    if name in leads.columns:
        return leads[name].reset_index(drop=True)
    return pd.Series([None] * len(leads), dtype=object)


def as_category_text(values: pd.Series) -> pd.Series:
    """Text as object dtype with None for missing: the feature contract's categorical form."""
    return values.astype(object).where(values.notna(), None)


def normalise_label(values: pd.Series) -> pd.Series:
    """`Financial Services ` -> `financial_services`, the spelling personas.yaml uses; empty ->
    missing. Applied to both sides of every comparison so spelling never decides a fit."""
    text = values.astype("str").str.strip().str.lower().str.replace(r"[^a-z0-9]+", "_", regex=True)
    text = text.str.strip("_")
    return as_category_text(text.where(values.notna() & (text != ""), None))


def normalise_country(values: pd.Series) -> pd.Series:
    text = values.astype("str").str.strip().str.upper()
    return as_category_text(text.where(values.notna() & (text != ""), None))


def _norm_labels(labels: tuple[str, ...]) -> list[str]:
    return normalise_label(pd.Series(list(labels), dtype=object)).dropna().tolist()


def company_size(leads: pd.DataFrame) -> np.ndarray:
    """Employees as float64, NaN when unknown or not a number."""
    size = pd.to_numeric(_column(leads, "company_size"), errors="coerce")
    return size.astype("float64").to_numpy()


def size_band(employees: np.ndarray) -> pd.Series:
    """Head count as one of SIZE_BANDS (None when unknown): bands generalise where raw sizes
    are sparse, and are what sales speaks in."""
    bounds = np.array([lo for lo, _ in SIZE_BANDS], dtype=np.float64)
    names = np.array([name for _, name in SIZE_BANDS], dtype=object)
    position = np.searchsorted(bounds, np.nan_to_num(employees, nan=-1.0), side="right") - 1
    known = ~np.isnan(employees) & (position >= 0)
    return pd.Series(np.where(known, names[np.maximum(position, 0)], None), dtype=object)


def email_kind(domains: pd.Series) -> pd.Series:
    """business / free / missing, from the email domain (or a full address)."""
    text = domains.astype("str").str.strip().str.lower().str.replace(r"^.*@", "", regex=True)
    missing = domains.isna().to_numpy() | (text == "").to_numpy()
    free = text.isin(FREE_MAIL_DOMAINS).to_numpy()
    kind = np.where(missing, EMAIL_MISSING, np.where(free, EMAIL_FREE, EMAIL_BUSINESS))
    return pd.Series(kind, dtype=object)


def _criteria(persona: Persona, firmo: pd.DataFrame, employees: np.ndarray) -> np.ndarray:
    """(n, 4) booleans, one column per FIT_CRITERIA: the lead meets it. A criterion the persona
    leaves open is met by everyone; an unknown lead value never meets a stated criterion."""
    n = len(firmo)
    size = persona.company_size
    if size.min is None and size.max is None:
        size_ok = np.ones(n, dtype=bool)
    else:
        with np.errstate(invalid="ignore"):
            size_ok = ~np.isnan(employees)
            if size.min is not None:
                size_ok &= employees >= size.min
            if size.max is not None:
                size_ok &= employees <= size.max

    def listed(column: str, allowed: list[str]) -> np.ndarray:
        return firmo[column].isin(allowed).to_numpy() if allowed else np.ones(n, dtype=bool)

    countries = [c.strip().upper() for c in persona.countries]
    return np.column_stack(
        [
            size_ok,
            listed("industry", _norm_labels(persona.industries)),
            listed("job_role", _norm_labels(persona.job_roles)),
            listed("country", countries),
        ]
    )


def _stated(persona: Persona) -> np.ndarray:
    size = persona.company_size
    return np.array(
        [
            size.min is not None or size.max is not None,
            bool(persona.industries),
            bool(persona.job_roles),
            bool(persona.countries),
        ]
    )


def firmographics(leads: pd.DataFrame) -> pd.DataFrame:
    """Normalised firmographic inputs (categoricals as object + None), one row per lead."""
    employees = company_size(leads)
    channel = _column(leads, "channel")
    return pd.DataFrame(
        {
            "channel": as_category_text(
                channel.astype("str").str.strip().str.lower().where(channel.notna(), None)
            ),
            "size_band": size_band(employees),
            "industry": normalise_label(_column(leads, "industry")),
            "job_role": normalise_label(_column(leads, "job_role")),
            "country": normalise_country(_column(leads, "country")),
            "email_kind": email_kind(_column(leads, "email_domain")),
            "log_company_size": np.log1p(np.where(employees >= 0, employees, np.nan)),
        }
    )


def persona_fit(
    firmo: pd.DataFrame, employees: np.ndarray, personas: Personas, min_fit: float
) -> pd.DataFrame:
    """Best-fitting persona and its criteria, one row per lead.

    fit_score = share of the persona's stated criteria the lead meets (1 when it states none).
    The best persona has the highest fit_score; ties go to the one listed first in
    personas.yaml. fit_size/.../fit_country (0/1) and fit_score describe that persona even when
    `persona` is "none" (its fit is below `min_fit`), so marketing can see how close a lead came.
    """
    fits, matches = [], []
    for persona in personas.personas:
        met, stated = _criteria(persona, firmo, employees), _stated(persona)
        counted = met & stated
        fits.append(counted.sum(axis=1) / stated.sum() if stated.any() else np.ones(len(firmo)))
        matches.append(met)
    fit = np.column_stack(fits)  # (n, personas)
    best = fit.argmax(axis=1)  # first maximum: personas.yaml order breaks ties
    rows = np.arange(len(firmo))
    best_fit = fit[rows, best] if len(firmo) else np.zeros(0)
    criteria = np.stack(matches, axis=1)[rows, best] if len(firmo) else np.zeros((0, 4), bool)
    names = np.array([p.name for p in personas.personas], dtype=object)
    out = {f"fit_{c}": criteria[:, j].astype(np.float64) for j, c in enumerate(FIT_CRITERIA)}
    out["fit_score"] = best_fit.astype(np.float64)
    frame = pd.DataFrame(out)
    chosen = names[best] if len(firmo) else np.array([], dtype=object)
    frame["persona"] = pd.Series(np.where(best_fit >= min_fit, chosen, NO_PERSONA), dtype=object)
    return frame
