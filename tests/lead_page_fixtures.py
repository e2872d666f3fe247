"""A project folder for the lead-page tests: params.yaml / sla.yaml / personas.yaml, validated
leads, events and stages in data/interim, and a real store (through the Store API) holding three
daily runs that scored the lead, the second one handing it over.

The events straddle the latest run's cut-off: the page must show every one up to it and none
after. The stored reasons are the scorer's own shape (feature, text, value, contribution), with
the texts that read badly ("fit with the agreed personas: 1", "1 visits", a rising trend as a
reason against), so the page's plain words are checked against real inputs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import yaml

from store import OutboxItem, RunRecord, Store

ROOT = Path(__file__).resolve().parents[1]
LEAD = "L-hot-7"
OTHER = "L-cold-2"
RUN_DATES = (date(2026, 10, 19), date(2026, 10, 20), date(2026, 10, 21))
SCORES = {RUN_DATES[0]: 8, RUN_DATES[1]: 31, RUN_DATES[2]: 44}
CONTACT = {
    "company": "Nordlabs GmbH",
    "email_domain": "nordlabs.de",
    "job_role": "cto",
    "country": "DE",
}
DESK = {
    "teams": {"enterprise": ["anna", "ben"], "growth": ["carla"]},
    "owner_rules": [{"persona": "enterprise_it", "team": "enterprise"}],
    "default_team": "growth",
    "reassign_after_hours": 48,
    "cadence": {"by": "tier", "schedule": {"A": [24, 48, 96]}, "default": [24]},
}
REASONS = {
    "reasons_for": [
        {
            "feature": "n_demo_request_30d",
            "text": "requested a demo once in the last 30 days",
            "value": 1.0,
            "contribution": 1.1,
        },
        {
            "feature": "fit_score",
            "text": "fit with the agreed personas: 1",
            "value": 1.0,
            "contribution": 0.8,
        },
        {
            "feature": "sessions_30d",
            "text": "1 sessions in the last 30 days",
            "value": 1.0,
            "contribution": 0.3,
        },
    ],
    "reasons_against": [
        {
            "feature": "trend_30d",
            "text": "activity heating up over the last 30 days",
            "value": 0.6,
            "contribution": -0.2,
        },
        {
            "feature": "days_since_last_event",
            "text": "last activity 9 days ago",
            "value": 9.0,
            "contribution": -0.4,
        },
    ],
}
ACTIVITY = {
    "visits": 1,
    "return_visits": 0,
    "pages": 0,
    "downloads": 1,
    "download_topics": {"case_study": 1},
    "pricing_views": 2,
    "demo_requests": 1,
}
# (ts, event_type, content_topic): the last two come after the latest run's cut-off.
EVENTS = [
    ("2026-09-02T09:15:00+00:00", "site_visit", None),
    ("2026-09-02T09:16:00+00:00", "page_view", None),
    ("2026-09-20T14:00:00+00:00", "content_download", "case_study"),
    ("2026-10-05T10:30:00+00:00", "pricing_view", None),
    ("2026-10-12T08:00:00+00:00", "pricing_view", None),
    ("2026-10-18T16:45:00+00:00", "demo_request", None),
    ("2026-10-20T23:59:59+00:00", "email_click", None),
    ("2026-10-21T00:00:01+00:00", "webinar_attend", None),  # after the cut-off
    ("2026-10-25T10:00:00+00:00", "pricing_view", None),  # after the cut-off
]
STAGES = [("2026-09-02T09:20:00+00:00", "prospect"), ("2026-10-23T09:00:00+00:00", "sql")]


@dataclass(frozen=True)
class LeadProject:
    root: Path
    db_url: str

    @property
    def cut_off(self) -> pd.Timestamp:
        return pd.Timestamp(RUN_DATES[-1], tz="UTC")

    def events_until_cut_off(self) -> int:
        return sum(pd.Timestamp(ts) <= self.cut_off for ts, _, _ in EVENTS)


def make_lead_project(root: Path, db_url: str | None = None) -> LeadProject:
    """The folder and its store (SQLite in the folder unless `db_url` is given)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    shutil.copy(ROOT / "personas.yaml", root / "personas.yaml")
    agreement = yaml.safe_load((ROOT / "sla.yaml").read_text()) | {"sales_desk": DESK}
    (root / "sla.yaml").write_text(yaml.safe_dump(agreement))
    interim = root / "data" / "interim"
    interim.mkdir(parents=True, exist_ok=True)
    created = pd.Timestamp("2026-09-02T09:20:00", tz="UTC")
    pd.DataFrame(
        {
            "lead_id": [LEAD, OTHER],
            "created_at": [created, created],
            "channel": ["paid_search", "email"],
            "company_size": pd.array([2500, 12], dtype="Int64"),
            "industry": ["software", "retail"],
            "job_role": [CONTACT["job_role"], "student"],
            "country": [CONTACT["country"], "FR"],
            "email_domain": [CONTACT["email_domain"], "gmail.com"],
            "company": [CONTACT["company"], None],
        }
    ).to_parquet(interim / "leads.parquet")
    events = pd.DataFrame(EVENTS, columns=["ts", "event_type", "content_topic"])
    events.insert(0, "lead_id", LEAD)
    events["ts"] = pd.to_datetime(events["ts"], utc=True)
    other = events.assign(lead_id=OTHER).iloc[:2]
    pd.concat([events, other], ignore_index=True).to_parquet(interim / "events.parquet")
    stages = pd.DataFrame(STAGES, columns=["ts", "stage"])
    stages.insert(0, "lead_id", LEAD)
    stages["ts"] = pd.to_datetime(stages["ts"], utc=True)
    stages["deal_value_eur"] = None
    stages.to_parquet(interim / "stages.parquet")
    url = db_url or f"sqlite:///{root / 'store.db'}"
    with Store.open(url) as store:
        for day in RUN_DATES:
            save_day(store, day)
    return LeadProject(root, url)


def save_day(store: Store, day: date) -> None:
    at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    handing = day == RUN_DATES[1]
    run = RunRecord(day, at, at, "lead-propensity", "3", 25.0, 2, 1, int(handing), 0, 0, {})
    score = SCORES[day]
    scores = pd.DataFrame(
        {
            "lead_id": [LEAD, OTHER],
            "channel": ["paid_search", "email"],
            "persona": ["enterprise_it", "none"],
            "probability": [score / 100, 0.01],
            "score": [score, 1],
            "tier": ["A" if score >= 25 else "C", "D"],
            "decision": ["mql" if score >= 25 else "nurture", "nurture"],
            "grade": ["A1", "D4"],
            "reasons": [REASONS, None],
            "activity": [ACTIVITY, {"visits": 1, "return_visits": 0, "pages": 2}],
        }
    )
    handoff = None
    outbox: list[OutboxItem] = []
    if handing:
        payload = {
            "lead_id": LEAD,
            "channel": "paid_search",
            "persona": "enterprise_it",
            "score": score,
            "tier": "A",
            "grade": "A1",
            "reasons": ["requested a demo once in the last 30 days"],
            "activity": ACTIVITY,
            **CONTACT,
        }
        handoff = pd.DataFrame(
            {
                "lead_id": [LEAD],
                "handed_at": [at],
                "followup_deadline": [at + timedelta(hours=24)],
                "payload": [payload],
            }
        )
        outbox = [OutboxItem.new(day, LEAD, {"lead": payload}, created_at=at)]
    store.save_run(run, scores, handoff, None, outbox)
