"""Features of one lead from its profile and events, without pandas: the service's hot path.

`features.build.build_features` is vectorised over many leads with pandas and pyarrow, which costs
milliseconds of fixed overhead for a single lead. Here the same features come from plain Python:

- behaviour: the lead's events are selected, encoded and deduplicated exactly as
  `features.behaviour.lead_events` does (at or before T, known types only, one event per lead,
  second and type; downloads keep the smallest topic code per second), packed into the same
  `LeadEvents` structure, and passed to the *same* `behaviour_features` function (numpy), so the
  behaviour arithmetic exists once;
- firmographics and persona fit: the string normalisation and the fit rules of
  `features.persona`, rewritten for one row (they are the pandas part).

`tests/test_serve_features_fast.py` pins that every feature equals the batch path's value for
randomised leads and events; a change in features/ that this module misses fails there.
"""

from __future__ import annotations

import logging
import math
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from features.behaviour import (
    CONTENT_DOWNLOAD,
    NANOS_PER_SECOND,
    SECONDS_PER_DAY,
    LeadEvents,
    behaviour_features,
)
from features.calendar import calendar_values
from features.funnel import funnel_state_one
from features.persona import (
    FIT_CRITERIA,
    FREE_MAIL_DOMAINS,
    NO_PERSONA,
    SIZE_BANDS,
    Personas,
)
from features.vocabularies import CONTENT_TOPICS, EVENT_TYPES
from foundation.params import FeatureParams
from scoring.behaviour_one import BehaviourOne

log = logging.getLogger("leadscore.serve")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_SECOND = timedelta(seconds=1)
ONE_MICROSECOND = timedelta(microseconds=1)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_KIND = {name: i for i, name in enumerate(EVENT_TYPES)}
_TOPIC = {name: i for i, name in enumerate(CONTENT_TOPICS)}
_NO_TOPIC = len(CONTENT_TOPICS)
_DOWNLOAD = _KIND[CONTENT_DOWNLOAD]
_BAND_MINS = [float(lo) for lo, _ in SIZE_BANDS]
_BAND_NAMES = [name for _, name in SIZE_BANDS]
_EMPTY = np.zeros(0, dtype=np.int64)


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _text(value: Any) -> str | None:
    """A profile value as text, None when missing (pandas `astype('str')` keeps NaN missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def normalise_label(value: Any) -> str | None:
    """`Financial Services ` -> `financial_services` (features.persona.normalise_label)."""
    text = _text(value)
    if text is None:
        return None
    text = _NON_ALNUM.sub("_", text.strip().lower()).strip("_")
    return text or None


def normalise_country(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    return text.strip().upper() or None


def employees_of(value: Any) -> float:
    """Employees as float, NaN when unknown or not a number (pd.to_numeric errors='coerce')."""
    if value is None or isinstance(value, bool):
        return math.nan if value is None else float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return math.nan


def size_band(employees: float) -> str | None:
    if math.isnan(employees):
        return None
    position = bisect_right(_BAND_MINS, employees) - 1
    return _BAND_NAMES[position] if position >= 0 else None


def email_kind(domain: Any) -> str:
    text = _text(domain)
    if text is None:
        return "missing"
    text = text.strip().lower().rsplit("@", 1)[-1]
    if text == "":
        return "missing"
    return "free" if text in FREE_MAIL_DOMAINS else "business"


def firmographics(lead: Any) -> dict[str, Any]:
    """Normalised firmographics of one lead (attributes as in the leads table)."""
    employees = employees_of(getattr(lead, "company_size", None))
    channel = _text(getattr(lead, "channel", None))
    return {
        "channel": None if channel is None else channel.strip().lower(),
        "size_band": size_band(employees),
        "industry": normalise_label(getattr(lead, "industry", None)),
        "job_role": normalise_label(getattr(lead, "job_role", None)),
        "country": normalise_country(getattr(lead, "country", None)),
        "email_kind": email_kind(getattr(lead, "email_domain", None)),
        "log_company_size": math.log1p(employees) if employees >= 0 else math.nan,
        "_employees": employees,
    }


class _PersonaRule:
    """One persona's criteria, normalised once like features.persona does per call."""

    def __init__(self, persona: Any) -> None:
        self.name = persona.name
        size = persona.company_size
        self.size_min, self.size_max = size.min, size.max
        self.industries = {x for x in map(normalise_label, persona.industries) if x is not None}
        self.roles = {x for x in map(normalise_label, persona.job_roles) if x is not None}
        self.countries = {c.strip().upper() for c in persona.countries}
        self.stated = (
            self.size_min is not None or self.size_max is not None,
            bool(persona.industries),
            bool(persona.job_roles),
            bool(persona.countries),
        )
        self.n_stated = sum(self.stated)

    def criteria(self, firmo: dict[str, Any]) -> tuple[bool, bool, bool, bool]:
        employees = firmo["_employees"]
        if self.size_min is None and self.size_max is None:
            size_ok = True
        else:
            size_ok = not math.isnan(employees)
            if self.size_min is not None:
                size_ok = size_ok and employees >= self.size_min
            if self.size_max is not None:
                size_ok = size_ok and employees <= self.size_max
        industry = not self.stated[1] or firmo["industry"] in self.industries
        role = not self.stated[2] or firmo["job_role"] in self.roles
        country = not self.stated[3] or firmo["country"] in self.countries
        return size_ok, industry, role, country

    def fit(self, met: tuple[bool, ...]) -> float:
        if not self.n_stated:
            return 1.0
        return sum(m and s for m, s in zip(met, self.stated, strict=True)) / self.n_stated


@dataclass(frozen=True)
class Selected:
    """One lead's kept events (see `FastFeatures.selected`)."""

    ts: tuple[int, ...]
    kinds: tuple[int, ...]
    download_topics: tuple[int, ...]
    as_of_seconds: int
    as_of_fraction: float
    origin: int


def twin_features(twin: BehaviourOne, sel: Selected) -> dict[str, float]:
    """The Python twin on one lead's kept events."""
    return twin.features(
        sel.ts, sel.kinds, sel.download_topics, sel.as_of_seconds, sel.as_of_fraction, sel.origin
    )


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def probe_leads() -> list[tuple[list[tuple[datetime, str, str | None]], datetime]]:
    """Deterministic leads that exercise every behaviour rule: windows and their edges,
    duplicates, sessions, downloads per topic, newsletter, ratios, events after T."""
    rng = np.random.default_rng(20260301)
    as_of = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    types = [*EVENT_TYPES, "unknown_type"]
    topics: list[str | None] = [*CONTENT_TOPICS, None, "unknown_topic"]
    leads: list[tuple[list[tuple[datetime, str, str | None]], datetime]] = [([], as_of)]
    for size in (1, 5, 60, 200):
        seconds = rng.integers(-3600, 200 * 86400, size)
        events = [
            (
                as_of - timedelta(seconds=int(s)),
                types[int(rng.integers(0, len(types)))],
                topics[int(rng.integers(0, len(topics)))],
            )
            for s in seconds
        ]
        events += events[: size // 3]  # exact duplicates
        edges = [7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400, 90 * 86400, 180 * 86400]
        events += [(as_of - timedelta(seconds=e), "site_visit", None) for e in edges]
        leads.append((events, as_of))
    return leads


class FastFeatures:
    """Single-lead features for one FeatureParams and personas (built once per model load)."""

    def __init__(self, params: FeatureParams, personas: Personas) -> None:
        from features.build import feature_spec

        self.params = params
        self.funnel = params.funnel_state
        self.spec = feature_spec(params)
        self.rules = [_PersonaRule(p) for p in personas.personas]
        self.min_fit = params.persona_min_fit
        self.twin = self._checked_twin()

    def persona_fit(self, firmo: dict[str, Any]) -> dict[str, Any]:
        """Best persona (first of the highest fit), its criteria, fit_score, and the persona name
        or `none` below the minimum fit (features.persona.persona_fit)."""
        best_fit, best_met, best_name = -1.0, (False,) * 4, NO_PERSONA
        for rule in self.rules:
            met = rule.criteria(firmo)
            fit = rule.fit(met)
            if fit > best_fit:
                best_fit, best_met, best_name = fit, met, rule.name
        out: dict[str, Any] = {
            f"fit_{c}": float(m) for c, m in zip(FIT_CRITERIA, best_met, strict=True)
        }
        out["fit_score"] = float(best_fit)
        out["persona"] = best_name if best_fit >= self.min_fit else NO_PERSONA
        return out

    def selected(
        self, events: Sequence[tuple[datetime, str, str | None]], as_of: datetime
    ) -> Selected:
        """The lead's events as features.behaviour.lead_events keeps them: at or before T,
        known types, one per (second, type) sorted; downloads keep the smallest topic code per
        second; times as whole seconds since the first event, T split into seconds + fraction."""
        as_of = _utc(as_of)
        pairs: set[tuple[int, int]] = set()
        downloads: set[tuple[int, int]] = set()
        for ts, event_type, topic in events:
            kind = _KIND.get(event_type)
            when = _utc(ts)
            if kind is None or when > as_of:  # leakage guard: nothing after T
                continue
            second = (when - EPOCH) // ONE_SECOND
            pairs.add((second, kind))
            if kind == _DOWNLOAD:
                downloads.add(
                    (second, _TOPIC.get(topic, _NO_TOPIC) if topic is not None else _NO_TOPIC)
                )
        if not pairs:  # as the batch path: nothing to anchor times on
            return Selected((), (), (), 0, 0.0, 0)
        ordered = sorted(pairs)
        origin = ordered[0][0]
        as_of_ns = ((as_of - EPOCH) // ONE_MICROSECOND) * 1000
        whole, nanos = divmod(as_of_ns, NANOS_PER_SECOND)
        first_topic: dict[int, int] = {}
        for second, topic in sorted(downloads):
            first_topic.setdefault(second, topic)
        return Selected(
            ts=tuple(sec - origin for sec, _ in ordered),
            kinds=tuple(k for _, k in ordered),
            download_topics=tuple(first_topic.values()),
            as_of_seconds=whole - origin,
            as_of_fraction=nanos / NANOS_PER_SECOND,
            origin=origin,
        )

    def lead_events(
        self, events: Sequence[tuple[datetime, str, str | None]], as_of: datetime
    ) -> LeadEvents:
        """One lead's events as features.behaviour.LeadEvents (n_leads=1), same rules."""
        sel = self.selected(events, as_of)
        n, m = len(sel.ts), len(sel.download_topics)
        return LeadEvents(
            n_leads=1,
            as_of_seconds=sel.as_of_seconds,
            as_of_fraction=sel.as_of_fraction,
            origin=sel.origin,
            lead=np.zeros(n, dtype=np.int64),
            ts=np.asarray(sel.ts, dtype=np.int64).reshape(n),
            kind=np.asarray(sel.kinds, dtype=np.int64).reshape(n),
            download_lead=np.zeros(m, dtype=np.int64),
            download_topic=np.asarray(sel.download_topics, dtype=np.int64).reshape(m),
        )

    def behaviour(
        self, events: Sequence[tuple[datetime, str, str | None]], as_of: datetime
    ) -> dict[str, float]:
        """Behaviour features: the Python twin when it proved identical, else numpy."""
        if self.twin is not None:
            sel = self.selected(events, as_of)
            return twin_features(self.twin, sel)
        behaviour = behaviour_features(self.lead_events(events, as_of), self.params)
        return {name: float(values[0]) for name, values in behaviour.items()}

    def families(
        self, events: Sequence[tuple[datetime, str, str | None]], as_of: datetime
    ) -> dict[str, float]:
        """The event-family features (features/event_families.py) through the batch function
        itself, on a one-lead frame: only logs with unmapped event types pay for it."""
        import pandas as pd

        from features.event_families import family_features

        frame = pd.DataFrame(
            {
                "lead_id": ["lead"] * len(events),
                "ts": pd.to_datetime([_utc(ts) for ts, _, _ in events], utc=True),
                "event_type": pd.Series([e for _, e, _ in events], dtype=object),
            }
        )
        values = family_features(frame, pd.Series(["lead"]), as_of, self.params)
        return {name: float(v[0]) for name, v in values.items()}

    def _checked_twin(self) -> BehaviourOne | None:
        """The Python twin if it equals `behaviour_features` bit for bit on probe leads."""
        twin = BehaviourOne(self.params)
        for events, as_of in probe_leads():
            sel = self.selected(events, as_of)
            mine = twin_features(twin, sel)
            batch = behaviour_features(self.lead_events(events, as_of), self.params)
            theirs = {name: float(values[0]) for name, values in batch.items()}
            if list(mine) != list(theirs) or any(not _same(mine[k], theirs[k]) for k in theirs):
                log.warning(
                    "scoring.behaviour_one disagrees with features.behaviour; scoring single "
                    "leads with the numpy path (slower). Update scoring/behaviour_one.py."
                )
                return None
        return twin

    def features(
        self,
        lead: Any,
        events: Sequence[tuple[datetime, str, str | None]],
        as_of: datetime,
        stages: Sequence[tuple[datetime, str]] = (),
    ) -> dict[str, Any]:
        """All features of `feature_spec(params)` for one lead as of `as_of`; `stages` are the
        lead's funnel rows (ts, stage) for the funnel-state features (features/funnel.py)."""
        as_of = _utc(as_of)
        created = _utc(lead.created_at)
        delta_ns = ((as_of - created) // ONE_MICROSECOND) * 1000
        out: dict[str, Any] = {"lead_age_days": float(delta_ns) / float(SECONDS_PER_DAY * 10**9)}
        out.update(self.behaviour(events, as_of))
        if self.params.event_families:
            out.update(self.families(events, as_of))
        firmo = firmographics(lead)
        fit = self.persona_fit(firmo)
        firmo.pop("_employees")
        out.update(firmo)
        out.update(fit)
        if self.funnel:
            out.update(funnel_state_one(created, stages, as_of))
        out.update(calendar_values(as_of, self.params))
        return {name: out[name] for name in self.spec.columns}

    def from_request(
        self, lead: Any, events: Sequence[Any], as_of: datetime, stages: Sequence[Any] = ()
    ) -> dict[str, Any]:
        """Features from the API's LeadProfile, LeadEvent and LeadStage models."""
        return self.features(
            lead,
            [(e.ts, e.event_type, e.content_topic) for e in events],
            as_of,
            [(s.ts, s.stage) for s in stages or ()],
        )
