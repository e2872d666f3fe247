"""A small event log in a vocabulary that shares no name with the simulator's, plus its mapping.

A product-led company's exports: `contacts.csv` (HubSpot-like columns, a "Became a customer
date" column, and some people twice under two contact ids with the same e-mail written
differently), `activity.csv.gz` ("Page view" with a URL, "Form submission" with a form name,
"Marketing email opened", "invited_teammate", "created_project", a rare "exported_report"), and
`lifecycle.csv` (stage names "Marketing Qualified", "Sales Accepted", "Closed Lost", "Nurture",
with recycled leads moving back). Conversion follows teammate invitations and pricing views, so
a model has something to learn. Deterministic (seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2025-01-01", tz="UTC")
MONTHS = 12
N_PEOPLE = 700
N_DUPLICATED = 40  # people exported twice (two contact ids, one e-mail)

MAPPING = """\
leads:
  file: contacts
  columns:
    lead_id: Contact ID
    created_at: Create Date
    channel: Original Source
    company_size: Number of Employees
    industry: Industry
  identity: Email
  stage_dates:
    customer: Became a customer date
events:
  file: activity
  columns:
    lead_id: contact
    ts: occurred_at
    event_type: activity
  types:
    - {name: Page view, property: url, pattern: "/pricing", as: pricing_view}
    - {name: Page view, as: page_view}
    - {name: Form submission, property: form, pattern: "(?i)demo", as: demo_request}
    - {name: Form submission, as: form_submit}
    - {pattern: "^Marketing email opened$", as: email_open}
    - {name: Webinar attended, as: webinar_attend}
  content_topic:
    property: url
    rules:
      - {pattern: "/blog/", as: how_to}
      - {pattern: "/customers/", as: case_study}
stages:
  file: lifecycle
  columns:
    lead_id: contact
    stage: lifecycle_stage
    ts: changed_at
  names:
    Marketing Qualified: mql
    Sales Accepted: sql
  lost: [Closed Lost]
  unmapped: ignore
"""

SOURCE_EVENT_NAMES = (
    "Page view",
    "Form submission",
    "Marketing email opened",
    "invited_teammate",
    "created_project",
    "exported_report",
)


def _iso(ts: pd.Series) -> pd.Series:
    return ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_log(folder: Path, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Write contacts.csv, activity.csv.gz, lifecycle.csv into `folder`; return them."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    span_s = MONTHS * 30 * 86_400
    created = START + pd.to_timedelta(rng.integers(0, span_s - 40 * 86_400, N_PEOPLE), unit="s")
    person = pd.DataFrame(
        {
            "person": np.arange(N_PEOPLE),
            "created": created,
            "drive": rng.gamma(1.2, 1.0, N_PEOPLE),  # how engaged, and how likely to buy
        }
    )
    contacts = pd.DataFrame(
        {
            "Contact ID": [f"C-{i:05d}" for i in range(N_PEOPLE)],
            "Email": [f"user{i}@firm{i % 90}.example" for i in range(N_PEOPLE)],
            "Create Date": _iso(person["created"]),
            "Original Source": rng.choice(["Organic Search", "Paid Social", "Referral"], N_PEOPLE),
            "Number of Employees": rng.integers(5, 2000, N_PEOPLE).astype(str),
            "Industry": rng.choice(["SaaS", "Retail", "Finance"], N_PEOPLE),
        }
    )
    # Duplicates: a second contact row for some people, created later, e-mail in other case.
    dup = rng.choice(N_PEOPLE, N_DUPLICATED, replace=False)
    second = contacts.iloc[dup].copy()
    second["Contact ID"] = [f"D-{i:05d}" for i in dup]
    second["Email"] = second["Email"].str.upper() + " "
    second["Create Date"] = _iso(person["created"].iloc[dup] + pd.Timedelta(days=3))
    second["Industry"] = ""
    contact_of = {i: [f"C-{i:05d}"] for i in range(N_PEOPLE)}
    for i in dup:
        contact_of[int(i)].append(f"D-{i:05d}")

    rows = []
    for p in person.itertuples():
        n = rng.poisson(4 + 10 * p.drive)
        when = p.created + pd.to_timedelta(rng.integers(0, 200 * 86_400, n), unit="s")
        probs = np.array([0.35, 0.1, 0.2, 0.12 * p.drive, 0.15, 0.004])
        kinds = rng.choice(len(SOURCE_EVENT_NAMES), n, p=probs / probs.sum())
        for ts, k in zip(when, kinds, strict=True):
            name = SOURCE_EVENT_NAMES[k]
            url = form = ""
            if name == "Page view":
                url = rng.choice(["/pricing", "/blog/setup", "/customers/acme", "/docs/api"])
            if name == "Form submission":
                form = rng.choice(["Book a demo", "Contact us"])
            contact = contact_of[p.person][int(rng.integers(0, len(contact_of[p.person])))]
            rows.append((contact, ts, name, url, form))
    activity = pd.DataFrame(rows, columns=["contact", "occurred_at", "activity", "url", "form"])
    activity = activity.sort_values("occurred_at", kind="stable").reset_index(drop=True)

    stage_rows, customer_dates = [], {}
    for p in person.itertuples():
        mine = activity["contact"].isin(contact_of[p.person])
        invites = int((mine & (activity["activity"] == "invited_teammate")).sum())
        pricing = int((mine & (activity["url"] == "/pricing")).sum())
        chance = 1 - np.exp(-0.15 * invites - 0.1 * pricing)
        first = contact_of[p.person][0]
        if rng.random() < 0.6:
            stage_rows.append((first, "Nurture", p.created + pd.Timedelta(days=1)))
        if rng.random() < chance:
            mql = p.created + pd.Timedelta(days=float(rng.uniform(5, 120)))
            stage_rows.append((first, "Marketing Qualified", mql))
            sql = mql + pd.Timedelta(days=float(rng.uniform(1, 30)))
            stage_rows.append((first, "Sales Accepted", sql))
            if rng.random() < 0.2:  # recycled: back to marketing, then lost
                stage_rows.append((first, "Marketing Qualified", sql + pd.Timedelta(days=10)))
                stage_rows.append((first, "Closed Lost", sql + pd.Timedelta(days=20)))
            elif rng.random() < 0.5:
                customer_dates[first] = sql + pd.Timedelta(days=float(rng.uniform(5, 40)))
        elif rng.random() < 0.2:
            stage_rows.append((first, "Closed Lost", p.created + pd.Timedelta(days=30)))
    lifecycle = pd.DataFrame(stage_rows, columns=["contact", "lifecycle_stage", "changed_at"])

    contacts = pd.concat([contacts, second], ignore_index=True)
    became = contacts["Contact ID"].map(customer_dates)
    contacts["Became a customer date"] = _iso(pd.to_datetime(became, utc=True)).fillna("")
    activity["occurred_at"] = _iso(activity["occurred_at"])
    lifecycle["changed_at"] = _iso(lifecycle["changed_at"])
    contacts.to_csv(folder / "contacts.csv", index=False)
    activity.to_csv(folder / "activity.csv.gz", index=False)
    lifecycle.to_csv(folder / "lifecycle.csv", index=False)
    return {"contacts": contacts, "activity": activity, "lifecycle": lifecycle}
