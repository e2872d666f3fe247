"""`features.behaviour.behaviour_features` for one lead in plain Python: the request-time twin.

The batch function is numpy over many leads; for one lead with 50 events its ~150 array calls
cost about 0.6 ms, more than everything else in a request. Here the same arithmetic runs as
Python loops over the lead's (few) events, in the same order and with the same operations, so
the results are bit-identical: integer window tests on whole seconds, ages as
`((T_s - ts) + T_frac) / 86400`, decay weights from the same `np.exp2` call on the same array,
and sums accumulated event by event as `np.bincount` does.

It is a copy of rules that live in features/behaviour.py, so it guards itself:
`FastFeatures` compares it with `behaviour_features` on probe leads when it is built and uses
it only if every value matches bit for bit; otherwise it falls back to the numpy function
(correct, slower) and says so in the log. `tests/test_serve_features_fast.py` fails when the
twin is not in use, naming this file as the one to update.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from features.behaviour import (
    EMAIL_CLICK,
    EMAIL_OPEN,
    INTENT_EVENT_TYPES,
    NEWSLETTER_SIGNUP,
    SECONDS_PER_DAY,
    SECONDS_PER_MINUTE,
    UNSUBSCRIBE,
    WEB_EVENT_TYPES,
    WEBINAR_ATTEND,
    WEBINAR_REGISTER,
    behaviour_columns,
    engagement_weights,
)
from features.vocabularies import CONTENT_TOPICS, EVENT_TYPES
from foundation.params import FeatureParams

NEVER = -1
K = len(EVENT_TYPES)
_COL = {e: i for i, e in enumerate(EVENT_TYPES)}
_WEB = frozenset(_COL[e] for e in WEB_EVENT_TYPES)
_INTENT = tuple(_COL[e] for e in INTENT_EVENT_TYPES)


def _ratio(numerator: float, denominator: float) -> float:
    return min(numerator / denominator, 1.0) if denominator > 0 else math.nan


class BehaviourOne:
    """Behaviour features of one lead from its sorted, deduplicated events."""

    def __init__(self, params: FeatureParams) -> None:
        self.params = params
        self.windows = tuple(params.windows_days)
        self.columns = behaviour_columns(params)
        self.weights = [float(w) for w in engagement_weights(params)]
        self.gap = params.session_gap_minutes * SECONDS_PER_MINUTE

    def features(
        self,
        ts: Sequence[int],
        kinds: Sequence[int],
        download_topics: Sequence[int],
        as_of_seconds: int,
        as_of_fraction: float,
        origin: int,
    ) -> dict[str, float]:
        """`ts` (seconds since `origin`) and `kinds` sorted by (ts, kind), unique; the topic code
        of each deduplicated download; T as whole seconds since `origin` plus a fraction."""
        windows, nan = self.windows, math.nan
        day_s = [w * SECONDS_PER_DAY for w in windows]
        twice_s = [2 * w * SECONDS_PER_DAY for w in windows]
        n = len(ts)
        counts = [[0.0] * K for _ in windows]
        total = [0.0] * K
        decayed = [0.0] * K
        last = [NEVER] * K
        before = [0.0] * len(windows)
        active = [0] * (len(windows) + 1)
        last_day = [None] * (len(windows) + 1)
        sessions = [0.0] * (len(windows) + 1)
        last_web: int | None = None
        if n:
            ages = ((as_of_seconds - np.asarray(ts, dtype=np.int64)) + as_of_fraction) / (
                SECONDS_PER_DAY
            )
            decay = np.exp2(-ages / self.params.half_life_days).tolist()
        for i in range(n):
            t, kind = ts[i], kinds[i]
            age = as_of_seconds - t
            total[kind] += 1.0
            decayed[kind] += decay[i]
            if t > last[kind]:
                last[kind] = t
            day = (t + origin) // SECONDS_PER_DAY
            if last_day[-1] != day:
                active[-1] += 1
                last_day[-1] = day
            for m, limit in enumerate(day_s):
                if age < limit:
                    counts[m][kind] += 1.0
                    if last_day[m] != day:
                        active[m] += 1
                        last_day[m] = day
                elif age < twice_s[m]:
                    before[m] += 1.0
            if kind in _WEB:
                if last_web is None or t - last_web >= self.gap:
                    sessions[-1] += 1.0
                    for m, limit in enumerate(day_s):
                        if age < limit:
                            sessions[m] += 1.0
                last_web = t

        def since(t: int) -> float:
            return nan if t == NEVER else ((as_of_seconds - t) + as_of_fraction) / SECONDS_PER_DAY

        out: dict[str, float] = {}
        out["days_since_first_touch"] = since(ts[0]) if n else nan
        out["days_since_last_event"] = since(max(last))
        n_window = [sum(c) for c in counts]
        for m, w in enumerate(windows):
            out[f"n_events_{w}d"] = _sum(counts[m])
        out["n_events"] = _sum(total)
        for m, w in enumerate(windows):
            out[f"active_days_{w}d"] = float(active[m])
        out["active_days"] = float(active[-1])
        for m, w in enumerate(windows):
            out[f"sessions_{w}d"] = sessions[m]
        out["sessions"] = sessions[-1]
        for m, w in enumerate(windows):
            recent = n_window[m]
            both = recent + before[m]
            out[f"trend_{w}d"] = (recent - before[m]) / both if both > 0 else 0.0
        for j, event in enumerate(EVENT_TYPES):
            for m, w in enumerate(windows):
                out[f"n_{event}_{w}d"] = counts[m][j]
            out[f"n_{event}"] = total[j]
            out[f"days_since_last_{event}"] = since(last[j])
            out[f"decayed_{event}"] = decayed[j]
        for m, w in enumerate(windows):
            out[f"n_intent_{w}d"] = _sum([counts[m][j] for j in _INTENT])
        out["n_intent"] = _sum([total[j] for j in _INTENT])
        out["days_since_last_intent"] = since(max(last[j] for j in _INTENT))
        by_topic = [0.0] * (len(CONTENT_TOPICS) + 1)
        for topic in download_topics:
            by_topic[topic] += 1.0
        for j, topic in enumerate(CONTENT_TOPICS):
            out[f"n_download_{topic}"] = by_topic[j]
        out["newsletter_subscribed"] = float(
            last[_COL[NEWSLETTER_SIGNUP]] > last[_COL[UNSUBSCRIBE]]
        )
        out["email_ctr"] = _ratio(total[_COL[EMAIL_CLICK]], total[_COL[EMAIL_OPEN]])
        out["webinar_attendance_ratio"] = _ratio(
            total[_COL[WEBINAR_ATTEND]], total[_COL[WEBINAR_REGISTER]]
        )
        points = 0.0
        for j, weight in enumerate(self.weights):
            points += weight * decayed[j]
        points = max(points, 0.0)
        out["engagement_score"] = float(
            1.0 - np.exp2(np.array([-points / self.params.engagement_half_points]))[0]
        )
        return {name: out[name] for name in self.columns}


def _sum(values: Sequence[float]) -> float:
    """Left-to-right float sum, as numpy's small-array `sum(axis=1)` of counts (exact: integers)."""
    total = 0.0
    for v in values:
        total += v
    return total
