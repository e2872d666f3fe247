"""Small hand-made leads / events / stages for the feature tests (plain functions, no conftest,
so other test modules are unaffected)."""

from __future__ import annotations

import pandas as pd

from features.persona import Personas, load_personas
from foundation.params import FeatureParams

T = pd.Timestamp("2025-06-01", tz="UTC")
PERSONAS_FILE = "personas.yaml"


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def personas() -> Personas:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return load_personas(root / PERSONAS_FILE)


def params(**overrides: object) -> FeatureParams:
    return FeatureParams(**overrides)


def leads() -> pd.DataFrame:
    """a: enterprise IT fit, active; b: free-mail founder, light activity; c: no events;
    d: created after T; e: missing firmographics."""
    return pd.DataFrame(
        {
            "lead_id": pd.Series(["a", "b", "c", "d", "e"], dtype="str"),
            "created_at": pd.to_datetime(
                ["2025-01-10", "2025-03-01", "2025-05-20", "2025-06-15", "2025-02-01"], utc=True
            ),
            "channel": ["organic_search", "Paid_Search", "email", "direct", None],
            "company_size": pd.array([2500, 20, 300, 10, None], dtype="Int64"),
            "industry": ["Software", "software", "logistics", "retail", None],
            "job_role": ["cto", "founder", "coo", "cmo", None],
            "country": ["DE", "gb", "PL", "US", None],
            "email_domain": ["acme.com", "gmail.com", "logi.pl", "shop.com", None],
        }
    )


def events() -> pd.DataFrame:
    rows = [
        ("a", "2025-05-30 10:00:00", "site_visit", None),
        ("a", "2025-05-30 10:00:00", "site_visit", None),  # exact duplicate: counts once
        ("a", "2025-05-30 10:10:00", "pricing_view", None),  # same session (10 min gap)
        ("a", "2025-05-30 14:00:00", "page_view", None),  # new session, same day
        ("a", "2025-05-10 09:00:00", "content_download", "case_study"),
        ("a", "2025-04-01 09:00:00", "content_download", "how_to"),
        ("a", "2025-04-02 09:00:00", "newsletter_signup", None),
        ("a", "2025-04-03 09:00:00", "email_open", None),
        ("a", "2025-04-04 09:00:00", "email_open", None),
        ("a", "2025-04-05 09:00:00", "email_click", None),
        ("a", "2025-05-31 23:59:59", "demo_request", None),
        ("a", "2025-06-01 00:00:00", "form_submit", None),  # exactly at T: counts
        ("a", "2025-06-01 00:00:01", "demo_request", None),  # after T: never counts
        ("a", "2025-05-01 09:00:00", "mystery_event", None),  # unknown type: ignored
        ("b", "2025-03-02 12:00:00", "site_visit", None),
        ("b", "2025-03-03 12:00:00", "webinar_register", None),
        ("b", "2025-03-20 12:00:00", "newsletter_signup", None),
        ("b", "2025-04-20 12:00:00", "unsubscribe", None),
        ("d", "2025-06-16 12:00:00", "demo_request", None),
        ("zz", "2025-05-01 12:00:00", "site_visit", None),  # unknown lead: ignored
    ]
    frame = pd.DataFrame(rows, columns=["lead_id", "ts", "event_type", "content_topic"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def stages() -> pd.DataFrame:
    rows = [
        ("a", "mql", "2025-05-31 00:00:00"),
        ("b", "mql", "2025-04-01 00:00:00"),
        ("b", "sql", "2025-05-01 00:00:00"),  # already sql at T = 2025-06-01
        ("c", "mql", "2025-05-25 00:00:00"),
        ("c", "disqualified", "2025-05-26 00:00:00"),
        ("e", "opportunity", "2025-06-10 00:00:00"),  # beyond sql without a logged sql step
    ]
    frame = pd.DataFrame(rows, columns=["lead_id", "stage", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["deal_value_eur"] = float("nan")
    return frame
