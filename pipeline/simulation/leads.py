"""Who the leads are: creation time, channel, kind, firmographics, email domain, persona fit.

All attributes are integer codes into a `Vocabulary` (strings are made only when writing), so a
million leads stay small. The persona fit is computed from the *true* firmographics before some
fields are blanked out: the hidden world knows a lead's company even when the CRM does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.persona import Personas
from foundation.errors import ConfigError
from foundation.params import SimulateParams
from pipeline.simulation import world
from pipeline.simulation.calendar import Calendar

SHIFT_STREAM = 0x5F1F7  # the shift's own random stream (see shifted_channels)


def _unique(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for group in groups for item in group))


@dataclass(frozen=True)
class Vocabulary:
    """String tables the integer codes point into; built once from the agreed personas."""

    channels: tuple[str, ...]
    kinds: tuple[str, ...]
    industries: tuple[str, ...]
    roles: tuple[str, ...]
    market_roles: int  # roles[:market_roles] are what the market at large draws from
    countries: tuple[str, ...]
    country_weights: np.ndarray
    domains: tuple[str, ...]
    domain_groups: dict[str, tuple[int, int]]  # name -> [first, last) code range in `domains`
    company_tld: np.ndarray  # per country: offset of its TLD block among corporate domains


def build_vocabulary(personas: Personas) -> Vocabulary:
    ps = personas.personas
    industries = _unique(*(p.industries for p in ps), world.EXTRA_INDUSTRIES)
    market_roles = _unique(*(p.job_roles for p in ps), world.EXTRA_ROLES)
    roles = _unique(market_roles, world.STUDENT_ROLES, world.COMPETITOR_ROLES)
    countries = _unique(*(p.countries for p in ps), world.EXTRA_COUNTRIES)
    weights = np.array(
        [world.COUNTRY_WEIGHTS.get(c, world.OTHER_COUNTRY_WEIGHT) for c in countries]
    )
    tlds = _unique(tuple(world.COUNTRY_TLD.values()), ("com",))
    corporate = tuple(
        f"{a}{b}.{tld}" for tld in tlds for a in world.COMPANY_WORDS for b in world.COMPANY_SUFFIXES
    )
    groups: dict[str, tuple[int, int]] = {}
    domains: list[str] = []
    for name, items in (
        ("free", world.FREE_MAIL),
        ("disposable", world.DISPOSABLE_MAIL),
        ("university", world.UNIVERSITY_MAIL),
        ("competitor", world.COMPETITOR_MAIL),
        ("corporate", corporate),
    ):
        groups[name] = (len(domains), len(domains) + len(items))
        domains.extend(items)
    per_tld = len(world.COMPANY_WORDS) * len(world.COMPANY_SUFFIXES)
    company_tld = np.array(
        [tlds.index(world.COUNTRY_TLD.get(c, "com")) * per_tld for c in countries], dtype=np.int64
    )
    return Vocabulary(
        channels=tuple(c.name for c in world.CHANNELS),
        kinds=tuple(k.name for k in world.KINDS),
        industries=industries,
        roles=roles,
        market_roles=len(market_roles),
        countries=countries,
        country_weights=weights / weights.sum(),
        domains=tuple(domains),
        domain_groups=groups,
        company_tld=company_tld,
    )


@dataclass(frozen=True)
class Leads:
    """One chunk of leads. Codes are -1 where the CRM has no value."""

    first_index: int  # global index of the first lead (lead_id numbering)
    created_s: np.ndarray  # int64 seconds since calendar start
    channel: np.ndarray  # int8
    kind: np.ndarray  # int8 index into world.KINDS (0 = buyer)
    dark: np.ndarray  # bool: no web activity at all
    company_size: np.ndarray  # int64 employees, -1 missing
    industry: np.ndarray  # int16
    role: np.ndarray  # int16
    country: np.ndarray  # int16
    email_domain: np.ndarray  # int32
    fit: np.ndarray  # float32 in [0, 1]: best share of persona criteria met (true firmographics)
    persona: np.ndarray  # int8 best-fitting persona, -1 below FUNNEL.persona_min_fit
    propensity: np.ndarray  # float32 web activity multiplier (0 for dark leads)
    email_responsiveness: np.ndarray  # float32
    work_second: np.ndarray  # int32 second of the day this person usually acts at

    @property
    def n(self) -> int:
        return len(self.created_s)

    @property
    def created_day(self) -> np.ndarray:
        return (self.created_s // world.SECONDS_PER_DAY).astype(np.int32)

    @property
    def is_buyer(self) -> np.ndarray:
        return self.kind == 0


def draw_created_seconds(rng: np.random.Generator, n: int, calendar: Calendar) -> np.ndarray:
    """Creation times for all leads, sorted (lead ids grow with time, as in a CRM)."""
    days = rng.choice(calendar.n_days, size=n, p=calendar.arrivals)
    return np.sort(days.astype(np.int64) * world.SECONDS_PER_DAY + office_seconds(rng, n))


def office_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    mean, sd = world.OFFICE_HOURS
    hours = rng.normal(mean, sd, size=n)
    return np.clip(hours * 3600, 1, world.SECONDS_PER_DAY - 1).astype(np.int64)


def _pick(rng: np.random.Generator, options: np.ndarray, n: int) -> np.ndarray:
    return options[rng.integers(0, len(options), size=n)]


def draw_firmographics(
    rng: np.random.Generator, kind: np.ndarray, personas: Personas, vocab: Vocabulary
) -> dict[str, np.ndarray]:
    """True company size, industry, role and country; persona-targeted buyers mostly match."""
    n = len(kind)
    median, sigma = world.MARKET_SIZE
    size = np.clip(rng.lognormal(np.log(median), sigma, n), 1, world.MAX_COMPANY_SIZE)
    industry = rng.integers(0, len(vocab.industries), n)
    role = rng.integers(0, vocab.market_roles, n)
    country = rng.choice(len(vocab.countries), size=n, p=vocab.country_weights)

    ps = personas.personas
    deal = np.array([p.avg_deal_value_eur for p in ps])
    weights = deal**-0.5  # bigger deals come from rarer leads
    targeted = (kind == 0) & (rng.random(n) < world.PERSONA_TARGET_SHARE)
    target = rng.choice(len(ps), size=n, p=weights / weights.sum())
    for k, p in enumerate(ps):
        rows = np.flatnonzero(targeted & (target == k))
        match = rng.random((4, len(rows))) < world.PERSONA_ATTRIBUTE_MATCH
        lo = max(p.company_size.min or 1, 1)
        hi = p.company_size.max or world.PERSONA_MAX_SIZE
        sizes = np.exp(rng.uniform(np.log(lo), np.log(hi + 1), len(rows)))
        size[rows[match[0]]] = sizes[match[0]]
        for j, (codes, values, table) in enumerate(
            (
                (industry, p.industries, vocab.industries),
                (role, p.job_roles, vocab.roles),
                (country, p.countries, vocab.countries),
            ),
            start=1,
        ):
            if values:
                options = np.array([table.index(v) for v in values])
                codes[rows[match[j]]] = _pick(rng, options, int(match[j].sum()))

    students = np.flatnonzero(kind == world.KINDS.index(world.NON_BUYERS[0]))
    industry[students[rng.random(len(students)) < 0.7]] = vocab.industries.index("education")
    student_roles = np.array([vocab.roles.index(r) for r in world.STUDENT_ROLES])
    role[students] = _pick(rng, student_roles, len(students))
    competitors = np.flatnonzero(kind == world.KINDS.index(world.NON_BUYERS[1]))
    software = vocab.industries.index("software") if "software" in vocab.industries else 0
    industry[competitors] = software
    role[competitors] = _pick(
        rng, np.array([vocab.roles.index(r) for r in world.COMPETITOR_ROLES]), len(competitors)
    )
    size[competitors] = np.exp(rng.uniform(np.log(20), np.log(500), len(competitors)))
    return {
        "company_size": size.astype(np.int64),
        "industry": industry.astype(np.int16),
        "role": role.astype(np.int16),
        "country": country.astype(np.int16),
    }


def persona_fit(
    firmographics: dict[str, np.ndarray], personas: Personas, vocab: Vocabulary
) -> tuple[np.ndarray, np.ndarray]:
    """(fit, best persona): the best share of a persona's criteria a lead meets."""
    n = len(firmographics["company_size"])
    scores = np.zeros((len(personas.personas), n), dtype=np.float32)
    size = firmographics["company_size"]
    for k, p in enumerate(personas.personas):
        met = np.zeros(n, dtype=np.float32)
        criteria = 0
        if p.company_size.min is not None or p.company_size.max is not None:
            criteria += 1
            lo = p.company_size.min or 0
            hi = p.company_size.max if p.company_size.max is not None else np.iinfo(np.int64).max
            met += (size >= lo) & (size <= hi)
        for field, values, table in (
            ("industry", p.industries, vocab.industries),
            ("role", p.job_roles, vocab.roles),
            ("country", p.countries, vocab.countries),
        ):
            if values:
                criteria += 1
                allowed = np.isin(np.arange(len(table)), [table.index(v) for v in values])
                met += allowed[firmographics[field]]
        scores[k] = met / max(criteria, 1)
    best = scores.argmax(axis=0)
    fit = scores.max(axis=0)
    persona = np.where(fit >= world.FUNNEL.persona_min_fit, best, -1).astype(np.int8)
    return fit, persona


def draw_email_domain(
    rng: np.random.Generator, kind: np.ndarray, country: np.ndarray, vocab: Vocabulary
) -> np.ndarray:
    """Corporate domains follow the country; free mail, universities, competitors, bots' junk."""
    n = len(kind)
    g = vocab.domain_groups
    per_tld = len(world.COMPANY_WORDS) * len(world.COMPANY_SUFFIXES)
    domain = g["corporate"][0] + vocab.company_tld[country] + rng.integers(0, per_tld, n)
    u = rng.random(n)
    for code, k in enumerate(world.KINDS):
        rows = kind == code
        free = rows & (u < world.FREE_MAIL_SHARE[k.name])
        domain[free] = rng.integers(*g["free"], int(free.sum()))
        other = rows & ~free
        if k.name == "student":
            domain[other] = rng.integers(*g["university"], int(other.sum()))
        elif k.name == "competitor":
            domain[other] = rng.integers(*g["competitor"], int(other.sum()))
        elif k.name == "bot":
            junk = other & (rng.random(n) < world.BOT_DISPOSABLE_SHARE)
            domain[junk] = rng.integers(*g["disposable"], int(junk.sum()))
    domain[rng.random(n) < world.NO_EMAIL_DOMAIN_SHARE] = -1
    return domain.astype(np.int32)


def blank_out(
    rng: np.random.Generator, firmographics: dict[str, np.ndarray], kind: np.ndarray, share: float
) -> dict[str, np.ndarray]:
    """The CRM's view: each field missing with `share` (bots far more often)."""
    scale = np.array([world.MISSING_BY_KIND[k.name] for k in world.KINDS])[kind]
    out = {}
    for field, values in firmographics.items():
        missing = rng.random(len(kind)) < np.minimum(share * scale, 0.95)
        out[field] = np.where(missing, -1, values).astype(values.dtype)
    return out


def shifted_channels(
    channel: np.ndarray, created_s: np.ndarray, first_index: int, params: SimulateParams
) -> np.ndarray:
    """Channels of the leads created from `shift.start` on, redrawn with the shift's weights.

    The redraw uses its own random stream (seed and chunk), so every other draw of the world is
    the same as without the shift: a drift check then sees the shift and nothing else.
    """
    shift = params.shift
    assert shift is not None
    names = [c.name for c in world.CHANNELS]
    unknown = sorted(set(shift.channel_weights) - set(names))
    if unknown:
        raise ConfigError(
            f"simulate.shift.channel_weights: unknown channel(s) {unknown}; known: {names}"
        )
    weights = np.array([c.share * shift.channel_weights.get(c.name, 1.0) for c in world.CHANNELS])
    if weights.sum() <= 0:
        raise ConfigError("simulate.shift.channel_weights: at least one weight must be > 0")
    after = created_s >= (shift.start - params.start).days * world.SECONDS_PER_DAY
    rng = np.random.default_rng([params.seed, first_index, SHIFT_STREAM])
    out = channel.copy()
    out[after] = rng.choice(len(names), size=int(after.sum()), p=weights / weights.sum())
    return out


def draw_leads(
    rng: np.random.Generator,
    created_s: np.ndarray,
    first_index: int,
    params: SimulateParams,
    personas: Personas,
    vocab: Vocabulary,
) -> Leads:
    n = len(created_s)
    shares = np.array([c.share for c in world.CHANNELS])
    channel = rng.choice(len(world.CHANNELS), size=n, p=shares / shares.sum())
    if params.shift is not None:
        channel = shifted_channels(channel, created_s, first_index, params)
    noise = np.array([c.noise for c in world.CHANNELS])[channel]
    non_buyer = rng.random(n) < np.minimum(params.non_buyer_share * noise, 0.9)
    kind_shares = np.array([k.share for k in world.NON_BUYERS])
    kind = np.where(
        non_buyer, 1 + rng.choice(len(world.NON_BUYERS), size=n, p=kind_shares), 0
    ).astype(np.int8)
    dark = (kind == 0) & (rng.random(n) < np.array([c.dark for c in world.CHANNELS])[channel])

    true_firmographics = draw_firmographics(rng, kind, personas, vocab)
    fit, persona = persona_fit(true_firmographics, personas, vocab)
    observed = blank_out(rng, true_firmographics, kind, params.missing_firmographics_share)
    domain = draw_email_domain(rng, kind, true_firmographics["country"], vocab)

    sigma = world.PROPENSITY_SIGMA
    propensity = rng.lognormal(-(sigma**2) / 2, sigma, n) * ~dark
    sigma_e = world.EMAIL_RESPONSIVENESS_SIGMA
    bots = kind == world.KINDS.index(world.NON_BUYERS[2])
    work_second = np.where(
        bots, rng.integers(0, world.SECONDS_PER_DAY, n), office_seconds(rng, n)
    ).astype(np.int32)
    return Leads(
        first_index=first_index,
        created_s=created_s,
        channel=channel.astype(np.int8),
        kind=kind,
        dark=dark,
        company_size=observed["company_size"],
        industry=observed["industry"],
        role=observed["role"],
        country=observed["country"],
        email_domain=domain,
        fit=fit,
        persona=persona,
        propensity=propensity.astype(np.float32),
        email_responsiveness=rng.lognormal(-(sigma_e**2) / 2, sigma_e, n).astype(np.float32),
        work_second=work_second,
    )
