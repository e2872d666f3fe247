"""A lead's history as one timeline a rep reads before the call: its events (what it read or
viewed, with the content topic) and its funnel stages, oldest first, up to a cut-off and never
after it (the run's cut-off: what the score was computed from)."""

from __future__ import annotations

from typing import Any

import pandas as pd

EVENT_WORDS: dict[str, str] = {
    "site_visit": "visited the site",
    "page_view": "viewed a page",
    "pricing_view": "viewed the pricing page",
    "content_download": "downloaded content",
    "newsletter_signup": "signed up for the newsletter",
    "email_open": "opened an e-mail",
    "email_click": "clicked a link in an e-mail",
    "webinar_register": "registered for a webinar",
    "webinar_attend": "attended a webinar",
    "form_submit": "sent a form",
    "demo_request": "requested a demo",
    "unsubscribe": "unsubscribed",
}
STAGE_WORDS: dict[str, str] = {
    "prospect": "became a known contact",
    "mql": "marketing-qualified (MQL) in the CRM",
    "contacted": "contacted by sales (CRM)",
    "sql": "accepted by sales (SQL)",
    "opportunity": "quote sent (opportunity)",
    "customer": "won: customer",
    "disqualified": "disqualified",
}
TIMELINE_COLUMNS = ("ts", "kind", "what", "topic")


def _words(kind: Any, table: dict[str, str]) -> str:
    return table.get(str(kind), str(kind).replace("_", " "))


def timeline(
    events: pd.DataFrame, stages: pd.DataFrame, lead_id: str, until: pd.Timestamp
) -> pd.DataFrame:
    """ts, kind (event | stage), what (words), topic: the lead's rows at or before `until`."""
    parts = []
    if len(events):
        ev = events[events["lead_id"].astype(str) == str(lead_id)]
        topic = ev["content_topic"] if "content_topic" in ev else pd.Series(None, index=ev.index)
        parts.append(
            pd.DataFrame(
                {
                    "ts": pd.to_datetime(ev["ts"], utc=True),
                    "kind": "event",
                    "what": [_words(e, EVENT_WORDS) for e in ev["event_type"]],
                    "topic": [
                        str(t).replace("_", " ") if isinstance(t, str) and t else None
                        for t in topic
                    ],
                }
            )
        )
    if len(stages):
        st = stages[stages["lead_id"].astype(str) == str(lead_id)]
        parts.append(
            pd.DataFrame(
                {
                    "ts": pd.to_datetime(st["ts"], utc=True),
                    "kind": "stage",
                    "what": [_words(s, STAGE_WORDS) for s in st["stage"]],
                    "topic": None,
                }
            )
        )
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(TIMELINE_COLUMNS))
    out = pd.concat(parts, ignore_index=True)
    out = out[out["ts"] <= until]
    return out.sort_values(["ts", "kind"], kind="stable").reset_index(drop=True)[
        list(TIMELINE_COLUMNS)
    ]
