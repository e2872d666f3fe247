"""Why a lead got its score, in words a sales rep reads: top reasons for and against.

Contributions are LightGBM's SHAP values in log-odds (`LeadModel.contributions`): they add up,
with the bias, to the raw score, so "pushed the score up/down" is exact, not an approximation.

Phrases come from patterns over feature names (`count_<event>_<N>d`, `days_since_<event>`, ...)
rather than a fixed list, so a feature renamed or added in features/build.py still reads well;
anything unmatched falls back to the prettified column name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_TOP_K = 3

# How an event type reads after "has ..." / in a count phrase. Unknown events are prettified.
EVENT_PHRASES: dict[str, str] = {
    "site_visit": "visited the site",
    "page_view": "viewed pages",
    "pricing_view": "viewed pricing",
    "content_download": "downloaded content",
    "newsletter_signup": "signed up for the newsletter",
    "email_open": "opened emails",
    "email_click": "clicked emails",
    "webinar_register": "registered for webinars",
    "webinar_attend": "attended webinars",
    "form_submit": "submitted forms",
    "demo_request": "requested a demo",
    "unsubscribe": "unsubscribed",
    "event": "was active",
    "events": "was active",
    "activity": "was active",
}

# Plain names for the persona / firmographic columns (shown as "<name>: <value>").
FIELD_NAMES: dict[str, str] = {
    "channel": "channel",
    "persona": "persona",
    "size_band": "company size",
    "company_size": "company size",
    "industry": "industry",
    "job_role": "job role",
    "country": "country",
    "email_kind": "email address",
    "fit_score": "fit with the agreed personas",
    "engagement_score": "engagement",
}


def prettify(name: str) -> str:
    """`total_time_on_site` or `Total Time Spent` -> `total time on site` (last resort)."""
    return re.sub(r"[_\s]+", " ", name).strip().lower()


def event_phrase(event: str) -> str:
    return EVENT_PHRASES.get(event, prettify(event))


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    if isinstance(value, int | np.integer) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _times(value: Any) -> str:
    n = _number(value)
    return "once" if n == "1" else ("never" if n == "0" else f"{n} times")


def _count_phrase(m: re.Match[str], value: Any) -> str:
    return f"{event_phrase(m['event'])} {_times(value)} in the last {m['days']} days"


def _recency_phrase(m: re.Match[str], value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"never {event_phrase(m['event'])}"
    return f"last {event_phrase(m['event'])} {_number(value)} days ago"


def _decayed_phrase(m: re.Match[str], value: Any) -> str:
    return f"recent activity: {event_phrase(m['event'])} (weighted count {_number(value)})"


def _total_phrase(m: re.Match[str], value: Any) -> str:
    return f"{event_phrase(m['event'])} {_times(value)} in total"


Phrase = Callable[[re.Match[str], Any], str]
# Tried in order; the first full match wins. Names follow features/build.py conventions but
# tolerate variants (`count_` / `n_`, `days_since_` / `days_since_last_` / `recency_`).
PATTERNS: tuple[tuple[re.Pattern[str], Phrase], ...] = (
    (re.compile(r"(?:count|n|num)_(?P<event>[a-z_]+?)_(?P<days>\d+)d"), _count_phrase),
    (
        re.compile(r"(?:days_since(?:_last)?|recency)_(?P<event>[a-z_]+?)(?:_days)?"),
        _recency_phrase,
    ),
    (re.compile(r"decayed_(?P<event>[a-z_]+)"), _decayed_phrase),
    (re.compile(r"(?:total|count|n)_(?P<event>[a-z_]+)"), _total_phrase),
)


def describe(feature: str, value: Any, overrides: Mapping[str, str] | None = None) -> str:
    """One feature and its value as a short phrase. `overrides` maps a feature name to a format
    string with `{value}` (e.g. a mapping file's own labels for a CRM export's columns)."""
    if overrides and feature in overrides:
        return overrides[feature].format(value=_number(value) if _is_number(value) else value)
    for pattern, phrase in PATTERNS:
        m = pattern.fullmatch(feature)
        if m and m["event"] in EVENT_PHRASES:
            return phrase(m, value)
    if feature in FIELD_NAMES and feature.endswith("_score"):
        return f"{FIELD_NAMES[feature]}: {_number(value)}"
    name = FIELD_NAMES.get(feature, prettify(feature))
    shown = _number(value) if _is_number(value) else ("unknown" if value is None else value)
    return f"{name}: {shown}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


@dataclass(frozen=True)
class Reason:
    feature: str
    value: Any
    contribution: float  # log-odds
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "value": self.value,
            "contribution": self.contribution,
            "text": self.text,
        }


def reasons(
    contributions: np.ndarray,
    feature_names: Sequence[str],
    values: Mapping[str, Any] | Sequence[Any],
    k: int = DEFAULT_TOP_K,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, list[Reason]]:
    """Top-k features that pushed one lead's score up (`for`) and down (`against`).

    `contributions` is one row of `LeadModel.contributions` (bias last, ignored here); `values`
    are the lead's raw feature values (not the integer codes) so the words show real categories.
    Zero contributions are neither for nor against.
    """
    row = np.asarray(contributions, dtype=np.float64).ravel()[: len(feature_names)]
    vals = [values.get(f) for f in feature_names] if isinstance(values, Mapping) else list(values)

    def make(i: int) -> Reason:
        text = describe(feature_names[i], vals[i], overrides)
        return Reason(feature_names[i], vals[i], float(row[i]), text)

    order = np.argsort(-np.abs(row), kind="stable")
    pos = [make(i) for i in order if row[i] > 0][:k]
    neg = [make(i) for i in order if row[i] < 0][:k]
    return {"for": pos, "against": neg}


def shap_summary(contributions: np.ndarray, feature_names: Sequence[str]) -> pd.DataFrame:
    """Global importance: mean |SHAP| per feature (log-odds), largest first, bias excluded."""
    matrix = np.asarray(contributions, dtype=np.float64)[:, : len(feature_names)]
    return (
        pd.DataFrame(
            {
                "feature": list(feature_names),
                "mean_abs_contribution": np.abs(matrix).mean(axis=0),
                "mean_contribution": matrix.mean(axis=0),
            }
        )
        .sort_values("mean_abs_contribution", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
