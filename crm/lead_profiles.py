"""A stored CRM lead (the store's crm_leads) as a row of the leads contract, so a lead first
created in a CRM joins the daily run like one from the exports (daily/store_merge.py).

What each CRM keeps of a record (crm/bottlecrm.py, crm/hubspot.py, crm/salesforce.py):
- BottleCRM: the webhook's lead object (created_at, source, industry, title, country, ...);
- Salesforce: the outbound message's sObject fields (CreatedDate, LeadSource, Industry, Title,
  Country, NumberOfEmployees, Company, Email);
- HubSpot: nothing but the contact's id and the time of its last change.
A field a CRM does not send is empty; a lead with no creation time was created by its first
known change or stage, whichever is earlier (it existed then).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from store.crm_inbox import CrmLead

# Lead column <- the record's fields that mean it, first present wins.
FIELDS: dict[str, tuple[str, ...]] = {
    "created_at": ("created_at", "CreatedDate", "createdate"),
    "channel": ("source", "LeadSource", "hs_analytics_source"),
    "company_size": ("NumberOfEmployees", "company_size", "numberofemployees"),
    "industry": ("industry", "Industry"),
    "job_role": ("title", "Title", "jobtitle"),
    "country": ("country", "Country"),
    "company": ("company_name", "Company", "company"),
}
COLUMNS = ["lead_id", *FIELDS, "email_domain"]


def crm_lead_profiles(records: Sequence[CrmLead], stages: pd.DataFrame) -> pd.DataFrame:
    """One row per lead id of the CRM records (the newest record when two CRMs name the same
    lead), in the leads contract's columns; `stages` (lead_id, ts: the CRMs' stages) date a
    lead whose record has no creation time."""
    rows = [
        {"lead_id": r.lead_id, **_profile(r.properties, r.email), "_changed": r.changed_at}
        for r in sorted(records, key=lambda r: r.changed_at)
    ]
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.DataFrame(rows).drop_duplicates("lead_id", keep="last")
    changed = pd.to_datetime(frame["_changed"], utc=True)
    first_stage = (
        pd.to_datetime(stages["ts"], utc=True).groupby(stages["lead_id"].astype(str)).min()
        if len(stages)
        else pd.Series(dtype="datetime64[ns, UTC]")
    )
    known = frame["lead_id"].map(first_stage)
    earliest = changed.where(known.isna() | (changed <= known), known)
    created = pd.to_datetime(frame["created_at"], utc=True, errors="coerce", format="ISO8601")
    # A CRM's free text ("1,000", "50-200", -1, 12.5) is no head count: empty, or whole.
    sizes = pd.to_numeric(frame["company_size"], errors="coerce")
    sizes = sizes.where((sizes >= 0) & (sizes < 1e12)).round()
    frame = frame.assign(created_at=created.fillna(earliest), company_size=sizes.astype("Int64"))
    return frame[COLUMNS].reset_index(drop=True)


def _profile(properties: Mapping[str, Any], email: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column, names in FIELDS.items():
        value = next((properties[n] for n in names if properties.get(n) not in (None, "")), None)
        out[column] = value
    for column in ("channel", "industry", "job_role"):
        if out[column] is not None:  # "Paid Search", "PAID_SEARCH" -> the vocabulary's paid_search
            out[column] = "_".join(str(out[column]).lower().split())
    email = email or properties.get("email") or properties.get("Email")
    out["email_domain"] = str(email).rsplit("@", 1)[-1].lower() if email and "@" in email else None
    return out
