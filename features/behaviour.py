"""Behaviour features as of a snapshot time T: what a lead did, from its events at or before T.

Leakage guard: `lead_events` drops every event after T before anything is computed, so no feature
can see the future; `build_features` relies on that and never looks at the events again.

Decisions a user relies on (docs/features.md would say the same):
- Only known event types (`features.vocabularies.EVENT_TYPES`) count; unknown ones are ignored.
- Timestamps are used at one-second resolution. Events of the same lead and type in the same
  second count once: CRM exports and tracking pixels duplicate rows, and a double-fired click is
  not two clicks.
- Events dated before the lead's created_at count (tracking cookies predate the form fill).
- A window of w days is (T - w days, T]; the trend compares it with the w days before.
- A session is a run of on-site events (`WEB_EVENT_TYPES`) with gaps under
  `session_gap_minutes`; sessions in a window are those that started in it. Active days are UTC
  calendar days with any known event.
- "Never" is NaN for recency (`days_since_*`) and for ratios with nothing to divide by; counts
  are 0.
- `engagement_score` = 1 - 2^(-points / engagement_half_points), where points = sum over event
  types of engagement_weights[type] x decayed count (half-life `half_life_days`), floored at 0.
  It lies in [0, 1): 0.5 means `engagement_half_points` points of recent activity.

Speed: every event is packed into one int64 key (lead, second, type) and sorted once; dedup,
sessions and active days are then neighbour comparisons, and per-lead counts are `np.bincount`.
No Python loop runs per lead or per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.vocabularies import CONTENT_TOPICS, EVENT_TYPES
from foundation.errors import ConfigError, DataError
from foundation.params import FeatureParams
from foundation.timestamps import as_utc_timestamp

SECONDS_PER_DAY = 86_400
SECONDS_PER_MINUTE = 60
NANOS_PER_SECOND = 1_000_000_000
INT64_BITS = 63  # usable bits of a non-negative int64 key
NEVER = -1  # "no event" marker for per-lead timestamps (event seconds are >= 0 after shifting)

# Strong buying intent: the events sales asks about first.
INTENT_EVENT_TYPES: tuple[str, ...] = ("pricing_view", "demo_request", "form_submit")
# Events that happen on the website: these make up sessions (revisits). Email and webinar
# activity happens elsewhere and would merge unrelated visits into one session.
WEB_EVENT_TYPES: tuple[str, ...] = (
    "site_visit",
    "page_view",
    "pricing_view",
    "content_download",
    "form_submit",
    "demo_request",
)
NEWSLETTER_SIGNUP = "newsletter_signup"
UNSUBSCRIBE = "unsubscribe"
EMAIL_OPEN, EMAIL_CLICK = "email_open", "email_click"
WEBINAR_REGISTER, WEBINAR_ATTEND = "webinar_register", "webinar_attend"
CONTENT_DOWNLOAD = "content_download"
EVENT_COLUMNS: tuple[str, ...] = ("lead_id", "ts", "event_type")


def behaviour_columns(params: FeatureParams) -> tuple[str, ...]:
    """Names of the behaviour features, in the order `behaviour_features` returns them."""
    windows = params.windows_days
    cols: list[str] = ["days_since_first_touch", "days_since_last_event"]
    for stem in ("n_events", "active_days", "sessions"):
        cols += [f"{stem}_{w}d" for w in windows] + [stem]
    cols += [f"trend_{w}d" for w in windows]
    for event in EVENT_TYPES:
        cols += [f"n_{event}_{w}d" for w in windows]
        cols += [f"n_{event}", f"days_since_last_{event}", f"decayed_{event}"]
    cols += [f"n_intent_{w}d" for w in windows] + ["n_intent", "days_since_last_intent"]
    cols += [f"n_download_{topic}" for topic in CONTENT_TOPICS]
    cols += ["newsletter_subscribed", "email_ctr", "webinar_attendance_ratio", "engagement_score"]
    return tuple(cols)


def utc_datetimes(values: pd.Series) -> np.ndarray:
    """Timestamps as naive UTC numpy datetime64 (any unit); naive input means UTC."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(None).to_numpy()


def codes_in(values: pd.Series, vocabulary: Sequence[str]) -> np.ndarray:
    """Position of each value in `vocabulary` (int32), -1 when absent or missing.

    Hashing tens of millions of lead ids is the slowest step of the batch, so this uses arrow's
    C++ `index_in`, and maps a categorical column through its (few) categories only.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        by_category = codes_in(pd.Series(values.cat.categories, dtype=object), vocabulary)
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, by_category[np.maximum(codes, 0)], -1).astype(np.int32)
    vocab = pa.array([str(v) for v in vocabulary], type=pa.string())
    try:
        arr = pa.array(values.array, from_pandas=True)
        if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
            arr = pc.cast(arr, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pd.Index(vocab.to_pylist()).get_indexer(values.astype(str)).astype(np.int32)
    found = pc.index_in(arr, value_set=vocab)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


@dataclass(frozen=True)
class LeadEvents:
    """The known events at or before T of the leads in scope, deduplicated, sorted by lead then
    time. `lead` (int32) indexes the leads table passed in; `ts` (int64) is seconds since
    `origin` (UTC epoch seconds); `kind` (int32) indexes EVENT_TYPES. Downloads carry their
    topic (index into CONTENT_TOPICS, len(CONTENT_TOPICS) when missing or unknown)."""

    n_leads: int
    as_of_seconds: int  # T in whole seconds since `origin` (floor) ...
    as_of_fraction: float  # ... plus this fraction of a second
    origin: int
    lead: np.ndarray
    ts: np.ndarray
    kind: np.ndarray
    download_lead: np.ndarray
    download_topic: np.ndarray


def _bits(max_value: int) -> int:
    return max(int(max_value).bit_length(), 1)


def _sorted_unique_keys(
    lead: np.ndarray, ts: np.ndarray, low: np.ndarray, n_leads: int, n_low: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort events by (lead, ts, low) and drop exact repeats, via one packed int64 key.

    Sorting one int64 array is several times faster than a multi-key lexsort at tens of millions
    of rows, and makes duplicates neighbours.
    """
    low_bits, ts_bits = _bits(n_low), _bits(int(ts.max()) if len(ts) else 0)
    lead_bits = _bits(n_leads)
    if low_bits + ts_bits + lead_bits > INT64_BITS:
        raise DataError(
            f"events span too long a time for {n_leads} leads "
            f"({ts_bits} bits of seconds): split the history or the leads"
        )
    # In place where possible: at tens of millions of events every temporary costs 0.5 GB.
    key = lead.astype(np.int64)
    key <<= ts_bits + low_bits
    key |= ts.astype(np.int64) << low_bits
    key |= low
    key.sort()
    if len(key):
        first = np.empty(len(key), dtype=bool)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        key = key[first]
        del first
    return (
        (key >> (ts_bits + low_bits)).astype(np.int32),
        (key >> low_bits) & ((1 << ts_bits) - 1),
        (key & ((1 << low_bits) - 1)).astype(np.int32),
    )


def lead_events(events: pd.DataFrame, lead_ids: pd.Series, as_of: pd.Timestamp) -> LeadEvents:
    """Select, encode, sort and deduplicate the events of `lead_ids` at or before `as_of`."""
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing and len(events):
        raise DataError(f"events: missing column(s) {missing} (data contract: lead_id, ts, type)")
    n_leads = len(lead_ids)
    as_of = as_utc_timestamp(as_of)
    empty = np.zeros(0, dtype=np.int32)
    if missing or not len(events) or not n_leads:
        return LeadEvents(n_leads, 0, 0.0, 0, empty, empty, empty, empty, empty)

    when = utc_datetimes(events["ts"])
    # Leakage guard: an event after T must never reach a feature at T (NaT compares False).
    keep = when <= np.datetime64(as_of.tz_convert(None).as_unit("ns"))
    lead = codes_in(events["lead_id"], lead_ids.astype(str).tolist())
    keep &= lead >= 0  # events of other leads (or of leads created after T)
    kind = codes_in(events["event_type"], EVENT_TYPES)
    keep &= kind >= 0  # unknown event types are ignored
    lead, kind = lead[keep], kind[keep]
    seconds = when[keep].astype("datetime64[s]").view(np.int64)
    if not len(seconds):
        return LeadEvents(n_leads, 0, 0.0, 0, empty, empty, empty, empty, empty)
    origin = int(seconds.min())
    seconds -= origin
    whole, nanos = divmod(as_of.value, NANOS_PER_SECOND)

    is_download = kind == EVENT_TYPES.index(CONTENT_DOWNLOAD)
    topic = np.full(int(is_download.sum()), len(CONTENT_TOPICS), dtype=np.int32)
    if "content_topic" in events.columns and len(topic):
        rows = np.flatnonzero(keep)[is_download]
        found = codes_in(events["content_topic"].iloc[rows], CONTENT_TOPICS)
        topic = np.where(found >= 0, found, len(CONTENT_TOPICS))
    # A duplicated download (same lead, same second) counts once, like in n_content_download;
    # the packed key keeps the smallest topic code, so the choice is deterministic.
    d_lead, d_ts, d_topic = _sorted_unique_keys(
        lead[is_download], seconds[is_download], topic, n_leads, len(CONTENT_TOPICS)
    )
    first_of_second = _runs(d_lead, d_ts[1:] != d_ts[:-1])
    lead, seconds, kind = _sorted_unique_keys(lead, seconds, kind, n_leads, len(EVENT_TYPES))
    return LeadEvents(
        n_leads=n_leads,
        as_of_seconds=whole - origin,
        as_of_fraction=nanos / NANOS_PER_SECOND,
        origin=origin,
        lead=lead,
        ts=seconds,
        kind=kind,
        download_lead=d_lead[first_of_second],
        download_topic=d_topic[first_of_second],
    )


def _per_lead(codes: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(codes, weights=weights, minlength=n).astype(np.float64)


def _runs(lead: np.ndarray, new_run: np.ndarray | None = None) -> np.ndarray:
    """True where a new run starts: a new lead, or `new_run` (between neighbours) is True."""
    if not len(lead):
        return np.zeros(0, dtype=bool)
    changed = lead[1:] != lead[:-1]
    return np.concatenate(([True], changed if new_run is None else changed | new_run))


def _age_days(ev: LeadEvents, ts: np.ndarray) -> np.ndarray:
    """Days from `ts` (seconds since origin) to T. The whole seconds are subtracted as integers
    first, so the result does not depend on `origin`: one lead alone and the same lead in a
    batch get bit-identical features."""
    return ((ev.as_of_seconds - ts) + ev.as_of_fraction) / SECONDS_PER_DAY


def _days_since(ev: LeadEvents, last: np.ndarray) -> np.ndarray:
    return np.where(last == NEVER, np.nan, _age_days(ev, last))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator capped at 1; NaN when there is nothing to divide by. Capped
    because clicks without a tracked open (images blocked) are real but would exceed 1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, np.minimum(numerator / denominator, 1.0), np.nan)


def engagement_weights(params: FeatureParams) -> np.ndarray:
    """engagement_weights as a vector over EVENT_TYPES; a key that is no event type is an error
    (a typo would otherwise silently weigh nothing)."""
    unknown = sorted(set(params.engagement_weights) - set(EVENT_TYPES))
    if unknown:
        raise ConfigError(
            f"features.engagement_weights: unknown event type(s) {unknown}; "
            f"known: {list(EVENT_TYPES)}"
        )
    return np.array([params.engagement_weights.get(e, 0.0) for e in EVENT_TYPES])


def engagement_score(decayed: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Decayed, weighted activity squashed into [0, 1); see the module docstring."""
    # Column by column, not `decayed @ weights`: BLAS sums in an order that depends on the
    # batch size, and one lead alone must score exactly as in a batch.
    points = np.zeros(len(decayed))
    for j, weight in enumerate(engagement_weights(params)):
        points += weight * decayed[:, j]
    points = np.maximum(points, 0.0)
    return 1.0 - np.exp2(-points / params.engagement_half_points)


def behaviour_features(ev: LeadEvents, params: FeatureParams) -> dict[str, np.ndarray]:
    """All behaviour features, one float64 array per column in `behaviour_columns` order."""
    n, k, windows = ev.n_leads, len(EVENT_TYPES), params.windows_days
    # Whole seconds before T. With T's fraction of a second f (0 <= f < 1), "less than w days
    # before T" is exactly age_s < w days in seconds, so windows need no float array.
    age_s = ev.as_of_seconds - ev.ts
    pair = ev.lead.astype(np.int64) * k + ev.kind  # (lead, event type) cell

    def within(days: float) -> np.ndarray:
        return age_s < days * SECONDS_PER_DAY

    def per_type(mask: np.ndarray | None = None, weights: np.ndarray | None = None) -> np.ndarray:
        codes = pair if mask is None else pair[mask]
        return _per_lead(codes, n * k, weights).reshape(n, k)

    counts = {w: per_type(within(w)) for w in windows}
    total = per_type()
    decayed = per_type(weights=np.exp2(-_age_days(ev, ev.ts) / params.half_life_days))
    last = np.full(n * k, NEVER, dtype=np.int64)
    np.maximum.at(last, pair, ev.ts)
    last = last.reshape(n, k)
    days_since_last = _days_since(ev, last)

    out: dict[str, np.ndarray] = {}
    first = np.full(n, NEVER, dtype=np.int64)
    lead_start = _runs(ev.lead)
    first[ev.lead[lead_start]] = ev.ts[lead_start]
    out["days_since_first_touch"] = _days_since(ev, first)
    out["days_since_last_event"] = _days_since(ev, last.max(axis=1))

    for w in windows:
        out[f"n_events_{w}d"] = counts[w].sum(axis=1)
    out["n_events"] = total.sum(axis=1)

    day = (ev.ts + ev.origin) // SECONDS_PER_DAY  # UTC calendar day
    for w in (*windows, None):
        m = slice(None) if w is None else within(w)
        lead_w, day_w = ev.lead[m], day[m]
        new_day = _runs(lead_w, day_w[1:] != day_w[:-1])
        out["active_days" if w is None else f"active_days_{w}d"] = _per_lead(lead_w[new_day], n)

    web = np.isin(np.arange(k), [EVENT_TYPES.index(e) for e in WEB_EVENT_TYPES])[ev.kind]
    web_lead, web_ts = ev.lead[web], ev.ts[web]
    gap = params.session_gap_minutes * SECONDS_PER_MINUTE
    start = _runs(web_lead, np.diff(web_ts) >= gap)
    start_lead, start_age = web_lead[start], age_s[web][start]
    for w in windows:
        out[f"sessions_{w}d"] = _per_lead(start_lead[start_age < w * SECONDS_PER_DAY], n)
    out["sessions"] = _per_lead(start_lead, n)

    for w in windows:
        recent = out[f"n_events_{w}d"]
        before = _per_lead(ev.lead[~within(w) & within(2 * w)], n)
        with np.errstate(divide="ignore", invalid="ignore"):
            # (recent - before) / (recent + before): -1 fading, 0 steady or idle, +1 heating up.
            out[f"trend_{w}d"] = np.where(
                recent + before > 0, (recent - before) / (recent + before), 0.0
            )

    for j, event in enumerate(EVENT_TYPES):
        for w in windows:
            out[f"n_{event}_{w}d"] = counts[w][:, j]
        out[f"n_{event}"] = total[:, j]
        out[f"days_since_last_{event}"] = days_since_last[:, j]
        out[f"decayed_{event}"] = decayed[:, j]

    intent = [EVENT_TYPES.index(e) for e in INTENT_EVENT_TYPES]
    for w in windows:
        out[f"n_intent_{w}d"] = counts[w][:, intent].sum(axis=1)
    out["n_intent"] = total[:, intent].sum(axis=1)
    out["days_since_last_intent"] = _days_since(ev, last[:, intent].max(axis=1))

    n_topics = len(CONTENT_TOPICS)
    by_topic = _per_lead(ev.download_lead * (n_topics + 1) + ev.download_topic, n * (n_topics + 1))
    by_topic = by_topic.reshape(n, n_topics + 1)
    for j, topic in enumerate(CONTENT_TOPICS):
        out[f"n_download_{topic}"] = by_topic[:, j]

    def col(event: str) -> int:
        return EVENT_TYPES.index(event)

    # Subscribed at T when the latest signup is later than the latest unsubscribe.
    out["newsletter_subscribed"] = (
        last[:, col(NEWSLETTER_SIGNUP)] > last[:, col(UNSUBSCRIBE)]
    ).astype(np.float64)
    out["email_ctr"] = _ratio(total[:, col(EMAIL_CLICK)], total[:, col(EMAIL_OPEN)])
    out["webinar_attendance_ratio"] = _ratio(
        total[:, col(WEBINAR_ATTEND)], total[:, col(WEBINAR_REGISTER)]
    )
    out["engagement_score"] = engagement_score(decayed, params)
    return {name: out[name].astype(np.float64, copy=False) for name in behaviour_columns(params)}
