"""Why a lead got its score, in words a sales rep reads: top reasons for and against.

Contributions are LightGBM's SHAP values in log-odds (`LeadModel.contributions`): they add up,
with the bias, to the raw score, so "pushed the score up/down" is exact, not an approximation.

Phrases come from patterns over feature names (`count_<event>_<N>d`, `days_since_<event>`, ...)
rather than a fixed list, so a feature renamed or added in features/build.py still reads well;
anything unmatched falls back to the prettified column name.
"""

from __future__ import annotations

import calendar
import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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
    "events": "was active",
    "intent": "showed buying intent (pricing, demo, forms)",
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

# 0/1 persona criteria: (what, met) read "company size fits the persona" / "... does not fit".
FIT_FLAGS: dict[str, str] = {
    "fit_size": "company size",
    "fit_industry": "industry",
    "fit_role": "job role",
    "fit_country": "country",
}

# features/calendar.py's values: months 1-12, weekdays 0 (Monday) to 6.
MONTHS: tuple[str, ...] = tuple(calendar.month_name[1:])
WEEKDAYS: tuple[str, ...] = tuple(calendar.day_name)


def _calendar_name(value: Any, names: tuple[str, ...], first: int) -> str:
    """`7` -> `July` (first 1) or `Monday` for `0` (first 0); "unknown" when missing."""
    if not _is_number(value) or math.isnan(float(value)):
        return "unknown"
    index = int(value) - first
    return names[index] if 0 <= index < len(names) else _number(value)


# Whole-name phrases for the single features of features/build.py; `{v}` is the shown value.
NAMED_PHRASES: dict[str, Callable[[Any], str]] = {
    "lead_age_days": lambda v: f"became a lead {_ago(v)}",
    "days_since_first_touch": lambda v: f"first touch {_ago(v)}",
    "days_since_last_event": lambda v: f"last activity {_ago(v)}",
    "newsletter_subscribed": lambda v: (
        "subscribed to the newsletter" if _truthy(v) else "not subscribed to the newsletter"
    ),
    "email_ctr": lambda v: f"clicked {_percent(v)} of the emails opened",
    "webinar_attendance_ratio": lambda v: f"attended {_percent(v)} of the webinars registered for",
    "calendar_month_of_year": lambda v: f"time of year: {_calendar_name(v, MONTHS, 1)}",
    "calendar_day_of_week": lambda v: f"day of the week: {_calendar_name(v, WEEKDAYS, 0)}",
    "log_company_size": lambda v: (
        f"company of about {_number(math.expm1(v))} employees"
        if _is_number(v) and not math.isnan(v)
        else "company size unknown"
    ),
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


HOURS_PER_DAY = 24


def _ago(days: Any) -> str:
    """A salesperson reads "5 hours ago", not "0.21 days ago"."""
    if not _is_number(days) or math.isnan(float(days)):
        return "at an unknown time"
    if float(days) < 1:
        hours = round(float(days) * HOURS_PER_DAY)
        return "within the hour" if hours < 1 else f"{hours} hour{'s' if hours != 1 else ''} ago"
    whole = round(float(days))
    return f"{whole} day{'s' if whole != 1 else ''} ago"


def _times(value: Any) -> str:
    n = _number(value)
    return "once" if n == "1" else ("never" if n == "0" else f"{n} times")


def _count_phrase(m: re.Match[str], value: Any) -> str:
    return f"{event_phrase(m['event'])} {_times(value)} in the last {m['days']} days"


def _recency_phrase(m: re.Match[str], value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"never {event_phrase(m['event'])}"
    return f"last {event_phrase(m['event'])} {_ago(value)}"


def _decayed_phrase(m: re.Match[str], value: Any) -> str:
    return f"recent activity: {event_phrase(m['event'])} (weighted count {_number(value)})"


def _total_phrase(m: re.Match[str], value: Any) -> str:
    return f"{event_phrase(m['event'])} {_times(value)} in total"


def _window_phrase(m: re.Match[str], value: Any) -> str:
    days = f"in the last {m['days']} days" if m["days"] else "in total"
    if m["stem"] == "active_days":
        return f"active on {_number(value)} days {days}"
    return f"{_number(value)} sessions {days}"


def _trend_phrase(m: re.Match[str], value: Any) -> str:
    if not _is_number(value) or math.isnan(value):
        return f"activity trend over {m['days']} days unknown"
    direction = "heating up" if value > 0 else ("fading" if value < 0 else "steady")
    return f"activity {direction} over the last {m['days']} days"


def _download_phrase(m: re.Match[str], value: Any) -> str:
    return f"downloaded {prettify(m['topic'])} content {_times(value)}"


def _truthy(value: Any) -> bool:
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def _percent(value: Any) -> str:
    if not _is_number(value) or math.isnan(value):
        return "an unknown share"
    return f"{float(value):.0%}"


Phrase = Callable[[re.Match[str], Any], str]
# Tried in order; the first full match wins. Names follow features/build.py conventions but
# tolerate variants (`count_` / `n_`, `days_since_` / `days_since_last_` / `recency_`).
PATTERNS: tuple[tuple[re.Pattern[str], Phrase], ...] = (
    (re.compile(r"(?P<stem>active_days|sessions)(?:_(?P<days>\d+)d)?"), _window_phrase),
    (re.compile(r"trend_(?P<days>\d+)d"), _trend_phrase),
    (re.compile(r"n_download_(?P<topic>[a-z_]+)"), _download_phrase),
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
    return phrase_for(feature)(value)


@functools.lru_cache(maxsize=4096)
def phrase_for(feature: str) -> Callable[[Any], str]:
    """How a feature's value reads, decided once per feature name: matching the name against
    the patterns cost more than the SHAP values of a reason-giving request."""
    if feature in NAMED_PHRASES:
        return NAMED_PHRASES[feature]
    if feature in FIT_FLAGS:
        return functools.partial(_fit_phrase, FIT_FLAGS[feature])
    for pattern, phrase in PATTERNS:
        m = pattern.fullmatch(feature)
        if m and m.groupdict().get("event", "events") in EVENT_PHRASES:
            return functools.partial(phrase, m)
    if feature in FIELD_NAMES and feature.endswith("_score"):
        return functools.partial(_score_phrase, FIELD_NAMES[feature])
    return functools.partial(_field_phrase, FIELD_NAMES.get(feature, prettify(feature)))


def _fit_phrase(what: str, value: Any) -> str:
    return f"{what} {'fits' if _truthy(value) else 'does not fit'} the persona"


def _score_phrase(name: str, value: Any) -> str:
    return f"{name}: {_number(value)}"


def _field_phrase(name: str, value: Any) -> str:
    shown = _number(value) if _is_number(value) else ("unknown" if value is None else value)
    return f"{name}: {shown}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


class ByPosition(Protocol):
    """Feature values by position (a list, or values computed on demand)."""

    def __getitem__(self, i: int, /) -> Any: ...


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
    values: Mapping[str, Any] | ByPosition,
    k: int = DEFAULT_TOP_K,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, list[Reason]]:
    """Top-k features that pushed one lead's score up (`for`) and down (`against`).

    `contributions` is one row of `LeadModel.contributions` (bias last, ignored here); `values`
    are the lead's raw feature values (not the integer codes) so the words show real categories.
    Zero contributions are neither for nor against.
    """
    row = np.asarray(contributions, dtype=np.float64).ravel()[: len(feature_names)]

    def make(i: int) -> Reason:
        # Values are read only for the features shown: a caller may compute them on demand.
        value = values.get(feature_names[i]) if isinstance(values, Mapping) else values[i]
        return Reason(
            feature_names[i], value, float(row[i]), describe(feature_names[i], value, overrides)
        )

    order = np.argsort(-np.abs(row), kind="stable")
    # Words only for the k shown each way: describing every feature cost as much as SHAP itself.
    pos = [make(i) for i in order[row[order] > 0][:k]]
    neg = [make(i) for i in order[row[order] < 0][:k]]
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
