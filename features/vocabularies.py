"""The funnel's own words: event types, content topics, stages and channels the contract knows.

Open vocabularies (events, topics, channels): a value outside them is kept and counted as a
warning, since features ignore what they do not know. The stages are closed: labels depend on
them, so an unknown stage is quarantined (features/triage.py).
"""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "site_visit",
    "page_view",
    "pricing_view",
    "content_download",
    "newsletter_signup",
    "email_open",
    "email_click",
    "webinar_register",
    "webinar_attend",
    "form_submit",
    "demo_request",
    "unsubscribe",
)
CONTENT_TOPICS: tuple[str, ...] = (
    "product",
    "pricing",
    "case_study",
    "industry_report",
    "how_to",
    "integration",
    "careers",
)
STAGES: tuple[str, ...] = (
    "visitor",
    "prospect",
    "mql",
    "contacted",
    "sql",
    "opportunity",
    "customer",
    "disqualified",
)
CHANNELS: tuple[str, ...] = (
    "organic_search",
    "paid_search",
    "social",
    "email",
    "referral",
    "events",
    "outbound",
    "direct",
    "partner",
)
TABLES: tuple[str, ...] = ("leads", "events", "stages")

# Open vocabularies: values outside them are kept, and counted as warnings (a column's
# pandera metadata names its vocabulary under this key).
VOCABULARY = "vocabulary"
