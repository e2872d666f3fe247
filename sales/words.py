"""Reasons and activity in the words a rep reads on the lead page: no raw feature names, no
"1 visits", and a rising activity trend is never shown as a reason against (a lead warming up
is good news, whatever its SHAP sign says about the trend feature's interplay with the others).

The stored reasons (the scorer's `reasons_for` / `reasons_against`: feature, text, value,
contribution) are reworded from their feature and value where the scorer's text reads badly;
other texts are kept, with their counts made singular where they are 1.
"""

from __future__ import annotations

import math
import re
from typing import Any

PERSONA_CRITERIA = 4  # size, industry, role, country (features/persona.py)
_ONE = re.compile(r"\b1 (visit|page|download|session|day|time|view|request|form|open|click)s\b")
_TREND = re.compile(r"trend_(\d+)d")
_WINDOW = re.compile(r"(sessions|active_days)(?:_(\d+)d)?")


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 visit', '2 visits', 'no visits'."""
    if n == 0:
        return f"no {many or word + 's'}"
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def reason_text(reason: dict[str, Any]) -> str | None:
    """One stored reason in plain words; None when it should not be shown."""
    feature = str(reason.get("feature") or "")
    value = _number(reason.get("value"))
    text = str(reason.get("text") or "").strip()
    if feature == "fit_score" and value is not None:
        met = round(value * PERSONA_CRITERIA)
        return (
            f"meets {met} of the {PERSONA_CRITERIA} criteria of its persona "
            "(company size, industry, role, country)"
        )
    if feature == "engagement_score" and value is not None:
        level = "high" if value >= 0.5 else "moderate" if value >= 0.2 else "low"
        return f"{level} recent engagement"
    window = _WINDOW.fullmatch(feature)
    if window and value is not None:
        span = f"in the last {window[2]} days" if window[2] else "so far"
        n = round(value)
        if window[1] == "sessions":
            return f"{plural(n, 'visit')} to the site {span}"
        return f"active on {plural(n, 'day')} {span}"
    trend = _TREND.fullmatch(feature)
    if trend and value is not None:
        if value == 0:
            return None  # "steady" says nothing either way
        way = "picking up" if value > 0 else "slowing down"
        return f"activity {way} over the last {trend[1]} days"
    if not text or text.replace(" ", "_") == feature:
        return None  # a bare feature name is no reason a rep can read
    return _ONE.sub(lambda m: f"1 {m[1]}", text)


def plain_reasons(reasons: Any) -> tuple[list[str], list[str]]:
    """(for, against) in words. A rising trend is dropped from `against`, a falling one from
    `for`: either way round it reads as a contradiction."""
    if not isinstance(reasons, dict):
        return [], []
    out: dict[str, list[str]] = {"reasons_for": [], "reasons_against": []}
    for side in out:
        for reason in reasons.get(side) or []:
            if not isinstance(reason, dict):
                continue
            trend = _TREND.fullmatch(str(reason.get("feature") or ""))
            value = _number(reason.get("value"))
            wrong_way = value is not None and (
                (side == "reasons_against" and value > 0) or (side == "reasons_for" and value < 0)
            )
            if trend and wrong_way:
                continue
            words = reason_text(reason)
            if words and words not in out[side]:
                out[side].append(words)
    return out["reasons_for"], out["reasons_against"]


def activity_words(activity: Any) -> str:
    """The stored activity counts as one line, e.g. "2 visits (1 return visit), 5 pages viewed,
    1 download (case study); pricing viewed twice"."""
    if not isinstance(activity, dict) or "visits" not in activity:
        return str(activity.get("activity") or "") if isinstance(activity, dict) else ""

    def n(key: str) -> int:
        value = activity.get(key)
        return int(value) if isinstance(value, int | float) and value == value else 0

    visits, back = n("visits"), n("return_visits")
    parts = [
        plural(visits, "visit") + (f" ({plural(back, 'return visit')})" if visits > 1 else ""),
        f"{plural(n('pages'), 'page')} viewed",
    ]
    if n("downloads"):
        topics = activity.get("download_topics") or {}
        shown = ", ".join(str(t).replace("_", " ") for t in topics)
        parts.append(plural(n("downloads"), "download") + (f" ({shown})" if shown else ""))
    for key, word in (
        ("webinars_attended", "webinar attended"),
        ("email_clicks", "e-mail click"),
        ("pricing_views", "pricing page view"),
        ("demo_requests", "demo request"),
        ("form_submits", "form sent"),
    ):
        if n(key):
            many = "forms sent" if key == "form_submits" else None
            many = "webinars attended" if key == "webinars_attended" else many
            parts.append(plural(n(key), word, many))
    return ", ".join(parts)
