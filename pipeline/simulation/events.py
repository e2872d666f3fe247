"""Behaviour: site sessions (visits, page and pricing views, downloads, webinars, forms, demo
requests, newsletter signups), nurture emails (opens, clicks, unsubscribes), the event that
created the lead, the form or demo request that triggered an MQL, and tracking duplicates.

Sessions and email opens are Poisson processes whose per-day rate follows the lead's interest, so
recent activity tells more about the lead's current intent than old activity. Occurrences are
drawn for a whole chunk at once by inverting one flat cumulative rate (no loop per lead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foundation.params import SimulateParams
from pipeline.simulation import world
from pipeline.simulation.calendar import Calendar
from pipeline.simulation.funnel import NEVER, FunnelTimes
from pipeline.simulation.latent import Latent, kind_table
from pipeline.simulation.leads import Leads
from pipeline.simulation.search import first_at_least

DAY = world.SECONDS_PER_DAY
E = world.EVENT
NO_TOPIC = -1


@dataclass(frozen=True)
class Events:
    row: np.ndarray  # int32 lead row within the chunk
    ts: np.ndarray  # int64 seconds since calendar start
    event_type: np.ndarray  # int8 code into world.EVENT_TYPES
    topic: np.ndarray  # int8 code into world.TOPICS, -1 none

    @property
    def n(self) -> int:
        return len(self.row)


def _events(row, ts, event_type, topic=None) -> Events:
    row = np.asarray(row, dtype=np.int32)
    kind = np.full(len(row), event_type, dtype=np.int8) if np.isscalar(event_type) else event_type
    topic = np.full(len(row), NO_TOPIC, dtype=np.int8) if topic is None else topic
    return Events(row, np.asarray(ts, dtype=np.int64), kind.astype(np.int8), topic.astype(np.int8))


def concat(parts: list[Events]) -> Events:
    return Events(*(np.concatenate([getattr(p, f) for p in parts]) for f in Events.__annotations__))


def draw_occurrences(rng: np.random.Generator, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, day) of Poisson occurrences with per-(row, day) rates: a Poisson count per row,
    then each occurrence's day by inverting the row's cumulative rate."""
    n = rate.shape[0]
    cum = np.cumsum(rate, axis=1)
    totals = cum[:, -1].astype(np.float64)
    row = np.repeat(np.arange(n, dtype=np.int32), rng.poisson(totals))
    u = (rng.random(len(row)) * totals[row]).astype(np.float32)
    return row, first_at_least(cum, row, u)


def _time_of_day(rng: np.random.Generator, leads: Leads, row: np.ndarray, day: np.ndarray):
    """Around the person's usual hour (bots: any hour); never before the lead was created."""
    jitter = rng.normal(0, 1.5 * 3600, len(row))
    second = np.clip(leads.work_second[row] + jitter, 0, DAY - 1).astype(np.int64)
    ts = day.astype(np.int64) * DAY + second
    created = leads.created_s[row]
    late = created + (rng.random(len(row)) * ((created // DAY + 1) * DAY - created)).astype(
        np.int64
    )
    return np.where(ts < created, late, ts)


def _bernoulli(rng, p: np.ndarray) -> np.ndarray:
    return rng.random(len(p)) < p


def _topics(rng, kind: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Content topic: low-interest leads read how-tos and reports, keen ones pricing and cases."""
    low = np.array([k.topics_low for k in world.KINDS], dtype=np.float64)
    high = np.array([k.topics_high for k in world.KINDS], dtype=np.float64)
    low /= low.sum(axis=1, keepdims=True)
    high /= high.sum(axis=1, keepdims=True)
    weights = low[kind] * (1 - x)[:, None] + high[kind] * x[:, None]
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(kind))[:, None] * cum[:, -1:]
    return (u >= cum).sum(axis=1).astype(np.int8)


def session_events(
    rng: np.random.Generator, leads: Leads, x: np.ndarray, rate: np.ndarray
) -> list[Events]:
    row, day = draw_occurrences(rng, rate)
    start = _time_of_day(rng, leads, row, day)
    kind = leads.kind[row]
    xs = x[row, day]
    t = {name: kind_table(name)[kind] for name in world.Kind.__annotations__ if name not in
         ("name", "round_the_clock", "topics_low", "topics_high")}  # fmt: skip

    def within(rows: np.ndarray) -> np.ndarray:  # a time within the 30-minute session
        return start[rows] + rng.integers(0, 1800, len(rows))

    out = [_events(row, start, E["site_visit"])]
    for name, base, slope in (("page_view", "pages", "pages_interest"),
                              ("pricing_view", "pricing", "pricing_interest")):  # fmt: skip
        counts = rng.poisson(t[base] + t[slope] * xs)
        rows = np.repeat(np.arange(len(row)), counts)
        out.append(_events(row[rows], within(rows), E[name]))

    download = np.flatnonzero(_bernoulli(rng, t["download"] + t["download_interest"] * xs))
    topics = _topics(rng, kind[download], xs[download])
    out.append(_events(row[download], within(download), E["content_download"], topics))

    register = np.flatnonzero(_bernoulli(rng, t["webinar"] + t["webinar_interest"] * xs))
    topics = _topics(rng, kind[register], xs[register])
    out.append(_events(row[register], within(register), E["webinar_register"], topics))
    attend = _bernoulli(rng, t["attend"][register] + t["attend_interest"][register] * xs[register])
    lo, hi = world.WEBINAR_AFTER_DAYS
    webinar_day = day[register] + rng.integers(lo, hi, len(register))
    slot = np.where(rng.random(len(register)) < 0.5, 10, 16) * 3600
    webinar_ts = webinar_day.astype(np.int64) * DAY + slot + rng.integers(0, 300, len(register))
    out.append(_events(row[register][attend], webinar_ts[attend], E["webinar_attend"],
                       topics[attend]))  # fmt: skip

    form = np.flatnonzero(_bernoulli(rng, t["form"] + t["form_interest"] * xs))
    out.append(_events(row[form], within(form), E["form_submit"]))
    demo = np.flatnonzero(_bernoulli(rng, t["demo"] + t["demo_interest"] * xs**2))
    out.append(_events(row[demo], within(demo), E["demo_request"]))

    signup = _bernoulli(rng, t["newsletter"])
    first = np.flatnonzero(signup)
    first = first[np.unique(row[first], return_index=True)[1]]  # one signup per lead
    out.append(_events(row[first], within(first), E["newsletter_signup"]))
    return out


def email_events(
    rng: np.random.Generator, leads: Leads, latent: Latent, x: np.ndarray, calendar: Calendar
) -> list[Events]:
    """Nurture emails opened and clicked, until the lead unsubscribes."""
    n_days = calendar.n_days
    kind = leads.kind
    reachable = (leads.email_domain >= 0) & ~leads.dark
    open_base = kind_table("email_open")[kind][:, None]
    open_slope = kind_table("email_open_interest")[kind][:, None]
    xh = x[:, :n_days]
    rate = np.clip(open_base + open_slope * xh, 0, 1)
    rate *= (world.NURTURE_EMAILS_PER_DAY * leads.email_responsiveness * reachable)[:, None]
    rate *= np.arange(n_days, dtype=np.int32)[None, :] > leads.created_day[:, None]

    # Buyers who never get keen drift away; others per their kind.
    p_unsub = kind_table("unsubscribe")[kind] * np.where(kind == 0, 1 - latent.height, 1)
    unsub = reachable & (rng.random(leads.n) < p_unsub)
    wait = rng.exponential(world.UNSUBSCRIBE_AFTER_DAYS * DAY, leads.n).astype(np.int64)
    unsub_s = np.where(unsub, leads.created_s + wait, NEVER)
    last_day = np.where(unsub, unsub_s // DAY, n_days)
    rate *= np.arange(n_days, dtype=np.int32)[None, :] < last_day[:, None]

    row, day = draw_occurrences(rng, rate)
    del rate
    ts = _time_of_day(rng, leads, row, day)
    xs = xh[row, day]
    click_p = (
        kind_table("email_click")[kind[row]] + kind_table("email_click_interest")[kind[row]] * xs
    )
    click = _bernoulli(rng, click_p)
    rows = np.flatnonzero(unsub)
    return [
        _events(row, ts, E["email_open"]),
        _events(row[click], ts[click] + rng.integers(5, 600, int(click.sum())), E["email_click"]),
        _events(rows, unsub_s[rows], E["unsubscribe"]),
    ]


def lifecycle_events(
    rng: np.random.Generator, leads: Leads, x: np.ndarray, funnel: FunnelTimes
) -> list[Events]:
    """The event that created the lead, and the form or demo request that triggered its MQL."""
    created_by = [E[c.creation_event] if c.creation_event else -1 for c in world.CHANNELS]
    code = np.array(created_by, dtype=np.int8)[leads.channel]
    rows = np.flatnonzero((code >= 0) & ~leads.dark)
    topic = _topics(rng, leads.kind[rows], np.zeros(len(rows)))
    topic = np.where(code[rows] == E["content_download"], topic, NO_TOPIC)
    out = [_events(rows, leads.created_s[rows], code[rows], topic)]

    f = world.FUNNEL
    mql = np.flatnonzero((funnel.mql_s != NEVER) & ~leads.dark)
    mql = mql[rng.random(len(mql)) < f.mql_trigger_share]
    mql_day = funnel.mql_s[mql] // DAY
    x_at = np.where(leads.kind[mql] == 0, x[mql, mql_day], 0)
    demo = rng.random(len(mql)) < f.mql_trigger_demo + 0.5 * x_at
    ts = np.maximum(funnel.mql_s[mql] - rng.integers(5, 120, len(mql)), leads.created_s[mql])
    out.append(_events(mql, ts, np.where(demo, E["demo_request"], E["form_submit"])))
    return out


def add_duplicates(rng: np.random.Generator, events: Events, share: float) -> Events:
    """Tracking double-fires: a copy of some events a second or two later."""
    dup = np.flatnonzero(rng.random(events.n) < share)
    shift = rng.integers(0, world.DUPLICATE_WINDOW_S + 1, len(dup))
    copies = Events(events.row[dup], events.ts[dup] + shift, events.event_type[dup],
                    events.topic[dup])  # fmt: skip
    return concat([events, copies])


def draw_events(
    rng: np.random.Generator,
    leads: Leads,
    latent: Latent,
    x: np.ndarray,
    rate: np.ndarray,
    funnel: FunnelTimes,
    calendar: Calendar,
    params: SimulateParams,
) -> Events:
    """All events of a chunk inside the history, sorted by lead and time."""
    parts = session_events(rng, leads, x, rate[:, : calendar.n_days])
    parts += email_events(rng, leads, latent, x, calendar)
    parts += lifecycle_events(rng, leads, x, funnel)
    events = add_duplicates(rng, concat(parts), params.duplicate_event_share)
    inside = events.ts < calendar.n_days * DAY
    events = Events(*(getattr(events, f)[inside] for f in Events.__annotations__))
    order = np.lexsort((events.event_type, events.ts, events.row))
    return Events(*(getattr(events, f)[order] for f in Events.__annotations__))
