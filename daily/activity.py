"""What a lead did up to the run's cut-off: the summary a salesperson reads before the first call.

It is read off the behaviour features (features/behaviour.py) the model scored the lead with, not
recounted from the events, so the hand-off says exactly what the model saw: the same leakage guard
(nothing after the cut-off), the same vocabulary (unknown event types are ignored), the same
deduplication (events of one lead and type in the same second count once), the same sessions
(on-site events closer than `session_gap_minutes` are one visit).

Words used in the summary:
- visits: sessions (runs of on-site events); return visits: visits after the first;
- pages: page views; downloads with their content topics (`other` for a missing or unknown topic);
- newsletter: signed up (and still subscribed, or unsubscribed since);
- webinars: registered / attended; e-mail: opens / clicks;
- intent: pricing page views, demo requests, forms (features.behaviour.INTENT_EVENT_TYPES);
- first touch / last touch: the first and the last known event, UTC, to the second.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.behaviour import as_utc_timestamp, behaviour_features, lead_events
from features.schemas import CONTENT_TOPICS
from foundation.params import FeatureParams

OTHER_TOPIC = "other"
SECONDS_PER_DAY = 86_400

# Summary column -> the feature it is read from (counts).
COUNT_FEATURES: dict[str, str] = {
    "visits": "sessions",
    "site_visits": "n_site_visit",
    "pages": "n_page_view",
    "downloads": "n_content_download",
    "newsletter_signups": "n_newsletter_signup",
    "unsubscribes": "n_unsubscribe",
    "email_opens": "n_email_open",
    "email_clicks": "n_email_click",
    "webinars_registered": "n_webinar_register",
    "webinars_attended": "n_webinar_attend",
    "pricing_views": "n_pricing_view",
    "demo_requests": "n_demo_request",
    "form_submits": "n_form_submit",
    "active_days": "active_days",
}
ACTIVITY_COLUMNS: tuple[str, ...] = (
    "lead_id",
    "visits",
    "return_visits",
    "site_visits",
    "pages",
    "downloads",
    "download_topics",
    "newsletter",
    "newsletter_signups",
    "unsubscribes",
    "email_opens",
    "email_clicks",
    "webinars_registered",
    "webinars_attended",
    "pricing_views",
    "demo_requests",
    "form_submits",
    "active_days",
    "first_touch",
    "last_touch",
    "activity",
)


def _moment(as_of: pd.Timestamp, days: np.ndarray) -> list[str | None]:
    """`as_of - days`, to the second, as ISO 8601 text (None where the lead has no event).

    The features store ages in days (float); events are whole seconds, so rounding back to the
    second recovers the event's time exactly."""
    out: list[str | None] = []
    for d in days:
        if d != d:  # NaN: never
            out.append(None)
            continue
        seconds = round(float(d) * SECONDS_PER_DAY)
        out.append((as_of.floor("s") - pd.Timedelta(seconds=seconds)).isoformat())
    return out


def _newsletter(signups: float, unsubscribes: float, subscribed: float) -> str:
    if subscribed >= 1:
        return "subscribed"
    if unsubscribes > 0:
        return "unsubscribed"
    return "signed up" if signups > 0 else "no"


def _topics(frame: pd.DataFrame) -> tuple[list[dict[str, int]], np.ndarray]:
    """Downloads per topic (known topics, then `other`), most first; only topics with a count."""
    known = np.column_stack(
        [frame.get(f"n_download_{t}", pd.Series(0.0, index=frame.index)) for t in CONTENT_TOPICS]
    ).astype(np.int64)
    other = frame["n_content_download"].to_numpy(dtype=np.int64) - known.sum(axis=1)
    names = [*CONTENT_TOPICS, OTHER_TOPIC]
    counts = np.column_stack([known, np.maximum(other, 0)])
    topics = []
    for row in counts:
        order = sorted((i for i in range(len(names)) if row[i] > 0), key=lambda i: (-row[i], i))
        topics.append({names[i]: int(row[i]) for i in order})
    return topics, counts


def activity_text(row: dict[str, Any]) -> str:
    """One line in words, e.g. "5 visits (4 return), 12 pages, 2 downloads (case_study 2), ..."."""
    parts = [f"{row['visits']} visits ({row['return_visits']} return)", f"{row['pages']} pages"]
    if row["downloads"]:
        shown = ", ".join(f"{t} {n}" for t, n in row["download_topics"].items())
        parts.append(f"{row['downloads']} downloads ({shown})")
    if row["newsletter"] != "no":
        parts.append(f"newsletter {row['newsletter']}")
    if row["webinars_registered"] or row["webinars_attended"]:
        attended, registered = row["webinars_attended"], row["webinars_registered"]
        parts.append(f"webinars {attended} attended / {registered} registered")
    if row["email_opens"] or row["email_clicks"]:
        parts.append(f"e-mail {row['email_opens']} opens, {row['email_clicks']} clicks")
    intent = [
        (row["pricing_views"], "pricing views"),
        (row["demo_requests"], "demo requests"),
        (row["form_submits"], "forms"),
    ]
    shown_intent = ", ".join(f"{n} {what}" for n, what in intent if n)
    parts.append(f"intent: {shown_intent}" if shown_intent else "no intent events")
    if isinstance(row["first_touch"], str):
        parts.append(f"first touch {row['first_touch'][:10]}, last touch {row['last_touch'][:10]}")
    return "; ".join(parts)


def activity_summary(features: pd.DataFrame, as_of: object) -> pd.DataFrame:
    """One row per lead of `features` (a `features.build.build_features` frame as of `as_of`):
    the ACTIVITY_COLUMNS, counts as int, `download_topics` a dict, `activity` the words."""
    as_of = as_utc_timestamp(as_of)
    out = pd.DataFrame({"lead_id": features["lead_id"].astype(str).to_numpy()})
    for name, feature in COUNT_FEATURES.items():
        out[name] = features[feature].fillna(0).to_numpy(dtype=np.int64)
    out["return_visits"] = np.maximum(out["visits"] - 1, 0)
    topics, _ = _topics(features)
    out["download_topics"] = topics
    out["newsletter"] = [
        _newsletter(s, u, sub)
        for s, u, sub in zip(
            features["n_newsletter_signup"].to_numpy(),
            features["n_unsubscribe"].to_numpy(),
            features["newsletter_subscribed"].to_numpy(),
            strict=True,
        )
    ]
    out["first_touch"] = _moment(as_of, features["days_since_first_touch"].to_numpy())
    out["last_touch"] = _moment(as_of, features["days_since_last_event"].to_numpy())
    records = out.to_dict("records")
    out["activity"] = [activity_text(r) for r in records]
    return out[list(ACTIVITY_COLUMNS)]


def activity_from_events(
    lead_ids: pd.Series, events: pd.DataFrame, as_of: object, params: FeatureParams
) -> pd.DataFrame:
    """The same summary straight from events (for leads that were not scored today)."""
    as_of = as_utc_timestamp(as_of)
    ids = pd.Series(lead_ids, dtype=object).astype(str).reset_index(drop=True)
    values = behaviour_features(lead_events(events, ids, as_of), params)
    frame = pd.DataFrame(values)
    frame.insert(0, "lead_id", ids)
    return activity_summary(frame, as_of)


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float) and value != value:
        return None
    return value


def activity_records(summary: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """lead_id -> the summary as a JSON-ready dict (the store's `activity_json`, the hand-off)."""
    columns = [c for c in ACTIVITY_COLUMNS if c != "lead_id"]
    out: dict[str, dict[str, Any]] = {}
    for row in summary.to_dict("records"):
        out[row["lead_id"]] = {c: _plain(row[c]) for c in columns}
    return out
