"""Feature families for event types the mapping left in the source's own words.

A real log has behaviour nobody mapped onto the canonical event types (`invited_teammate`,
`Insert Fine Notification`). Ignoring it would throw away what the team's own system records, so
every such type with at least `features.family_min_events` events (over the validated log) gets a
family of its own, and the rarer ones pool into one `(other)` family. A family has the same shape
as a canonical event type's features, point in time like them (only events at or before T, one
event per lead, second and source type):

- `family_<slug>_<w>d`: events in the window (T - w days, T];
- `family_<slug>_total`: events up to T;
- `family_<slug>_days_since_last`: days from the latest one to T (NaN: never);
- `family_<slug>_decayed`: count with half-life `features.half_life_days`.

No engagement weight is guessed for them and no monotone direction is imposed (their names match
none of train.monotone's default patterns): the model learns from the data how much, and in which
direction, each family moves the probability. The slug is the source name in lower case with
non-alphanumerics as `_`; reasons and the hand-off's activity read the source's own name.

The families are found once, by `leadscore validate` (`resolve_families`, written to
data/interim/event_families.json), and travel with the feature parameters from there on (the
model stores them), so training, batch scoring and the service compute the same columns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.behaviour import (
    NANOS_PER_SECOND,
    NEVER,
    SECONDS_PER_DAY,
    _sorted_unique_keys,
    codes_in,
    utc_datetimes,
)
from features.vocabularies import EVENT_TYPES
from foundation.params import FeatureParams
from foundation.timestamps import as_utc_timestamp

OTHER_FAMILY = "(other)"
PREFIX = "family_"
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def families_of(params: FeatureParams) -> tuple[str, ...]:
    """The families the parameters carry (none until validation has resolved them)."""
    return params.event_families or ()


def resolve_families(type_counts: pd.Series, min_events: int) -> tuple[str, ...]:
    """Event types outside the canonical ones with at least `min_events` events, most frequent
    first (ties by name), then `(other)` when rarer ones exist."""
    counts = type_counts[~type_counts.index.isin(EVENT_TYPES)]
    counts = counts[counts > 0]
    frame = pd.DataFrame({"name": counts.index.astype(str), "n": counts.to_numpy()})
    frame = frame.sort_values(["n", "name"], ascending=[False, True])
    big = frame.loc[frame["n"] >= min_events, "name"].tolist()
    return (*big, OTHER_FAMILY) if (frame["n"] < min_events).any() else tuple(big)


def family_slugs(families: Sequence[str]) -> dict[str, str]:
    """Family name -> a column-safe slug, unique within the families (a clash gets _2, _3)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in families:
        base = "other" if name == OTHER_FAMILY else _NON_ALNUM.sub("_", name.lower()).strip("_")
        slug, n = base or "event", 1
        while slug in used:
            n += 1
            slug = f"{base}_{n}"
        used.add(slug)
        out[name] = slug
    return out


def family_columns(params: FeatureParams) -> tuple[str, ...]:
    cols: list[str] = []
    for slug in family_slugs(families_of(params)).values():
        stem = f"{PREFIX}{slug}"
        cols += [f"{stem}_{w}d" for w in params.windows_days]
        cols += [f"{stem}_total", f"{stem}_days_since_last", f"{stem}_decayed"]
    return tuple(cols)


def family_phrases(params: FeatureParams) -> dict[str, str]:
    """Feature name -> how its value reads, in the source's own words (a format string with
    `{value}`, as models.explain.describe takes them)."""
    out: dict[str, str] = {}
    for name, slug in family_slugs(families_of(params)).items():
        what = "other events" if name == OTHER_FAMILY else f"{name!r}"
        stem = f"{PREFIX}{slug}"
        for w in params.windows_days:
            out[f"{stem}_{w}d"] = f"{what} {{value}} times in the last {w} days"
        out[f"{stem}_total"] = f"{what} {{value}} times in total"
        out[f"{stem}_days_since_last"] = f"last {what} {{value}} days ago"
        out[f"{stem}_decayed"] = f"recent {what} (weighted count {{value}})"
    return out


def family_codes(event_type: pd.Series, families: Sequence[str]) -> np.ndarray:
    """Family index of each event (int32), -1 for canonical types and, without an `(other)`
    family, for types in no family."""
    named = [f for f in families if f != OTHER_FAMILY]
    code = codes_in(event_type, named)
    if OTHER_FAMILY in families:
        canonical = codes_in(event_type, EVENT_TYPES) >= 0
        other = (code < 0) & ~canonical & event_type.notna().to_numpy()
        code = np.where(other, families.index(OTHER_FAMILY), code).astype(np.int32)
    return code


def family_features(
    events: pd.DataFrame, lead_ids: pd.Series, as_of: object, params: FeatureParams
) -> dict[str, np.ndarray]:
    """Every family column for the leads `lead_ids` (positionally) as of T; see the module
    docstring. Events after T never reach a value (the leakage guard is the first filter)."""
    families = families_of(params)
    n, k, windows = len(lead_ids), len(families), params.windows_days
    columns = family_columns(params)
    if not k:
        return {}
    as_of = as_utc_timestamp(as_of)
    empty = len(events) == 0 or n == 0
    if not empty:
        when = utc_datetimes(events["ts"])
        keep = when <= np.datetime64(as_of.tz_convert(None).as_unit("ns"))  # leakage guard
        family = family_codes(events["event_type"], families)
        keep &= family >= 0
        lead = codes_in(events["lead_id"], lead_ids.astype(str).tolist())
        keep &= lead >= 0
        empty = not keep.any()
    if empty:
        zeros, nan = np.zeros(n), np.full(n, np.nan)
        return {c: (nan if c.endswith("_days_since_last") else zeros).copy() for c in columns}

    rows = np.flatnonzero(keep)
    # Deduplicate per source type (two `(other)` types in one second are two events).
    source_type, type_names = pd.factorize(events["event_type"].iloc[rows].astype(str))
    family_of_type = np.empty(len(type_names), dtype=np.int64)
    family_of_type[source_type] = family[rows]  # one source type is in one family
    seconds = when[rows].astype("datetime64[s]").view(np.int64)
    origin = int(seconds.min())
    lead, ts, source_type = _sorted_unique_keys(
        lead[rows], seconds - origin, source_type.astype(np.int64), n, len(type_names)
    )
    fam = family_of_type[source_type]
    whole, nanos = divmod(as_of.value, NANOS_PER_SECOND)
    age_s = (whole - origin) - ts
    age_days = (age_s + nanos / NANOS_PER_SECOND) / SECONDS_PER_DAY
    pair = lead.astype(np.int64) * k + fam

    def per_family(mask: np.ndarray | None = None, weights: np.ndarray | None = None) -> np.ndarray:
        codes = pair if mask is None else pair[mask]
        w = weights if mask is None or weights is None else weights[mask]
        return np.bincount(codes, weights=w, minlength=n * k).astype(np.float64).reshape(n, k)

    counts = {w: per_family(age_s < w * SECONDS_PER_DAY) for w in windows}
    total = per_family()
    decayed = per_family(weights=np.exp2(-age_days / params.half_life_days))
    last = np.full(n * k, NEVER, dtype=np.int64)
    np.maximum.at(last, pair, ts)
    last = last.reshape(n, k)
    since = np.where(
        last == NEVER,
        np.nan,
        ((whole - origin) - last + nanos / NANOS_PER_SECOND) / SECONDS_PER_DAY,
    )
    out: dict[str, np.ndarray] = {}
    for j, slug in enumerate(family_slugs(families).values()):
        stem = f"{PREFIX}{slug}"
        for w in windows:
            out[f"{stem}_{w}d"] = counts[w][:, j]
        out[f"{stem}_total"] = total[:, j]
        out[f"{stem}_days_since_last"] = since[:, j]
        out[f"{stem}_decayed"] = decayed[:, j]
    return {c: np.ascontiguousarray(out[c], dtype=np.float64) for c in columns}


def family_activity(features: pd.DataFrame, params: FeatureParams) -> list[dict[str, int]]:
    """Per lead: source event name -> count up to T (families with a count only, most first),
    read off the family features, for the hand-off's activity history."""
    slugs = family_slugs(families_of(params))
    if not slugs:
        return [{} for _ in range(len(features))]
    names = list(slugs)
    counts = np.column_stack(
        [features[f"{PREFIX}{slugs[name]}_total"].fillna(0).to_numpy() for name in names]
    ).astype(np.int64)
    out: list[dict[str, int]] = []
    for row in counts.tolist():
        order = sorted((i for i, v in enumerate(row) if v > 0), key=lambda i: (-row[i], i))
        out.append({names[i]: row[i] for i in order})
    return out
