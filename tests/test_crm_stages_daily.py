"""A status set in the CRM comes back as a stage and counts in the next `leadscore daily`: posted
to `POST /crm/salesforce` on the real service (uvicorn on loopback), stored, then read by the real
command (a subprocess) with the pipeline's own champion. The same day is run before and after the
CRM spoke, so every difference is the CRM's: a handed-over lead marked contacted is followed up
at the CRM's time and leaves the overdue list; a lead the CRM qualified is an SQL of the month and
no longer open; an MQL the CRM recorded and contacted counts in the follow-up compliance. With
crm.yaml's `hubspot.push_after_daily`, that run also writes its scores onto the HubSpot contacts
(the checked stand-in API)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx2 as httpx
import pandas as pd
import pytest

from crm.config import ScoreProperties
from foundation.io import find_table, read_table
from store import Store
from store.actions import lead_actions
from store.crm_inbox import CrmLead, CrmMessage, record_messages
from tests.conftest import Project
from tests.crm_fixtures import ORG_ID, TOKEN, HubSpotApi, crm_settings, outbound_message, serving
from tests.daily_run import daily, ok
from tests.test_daily_e2e import params_with

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DAY1, DAY3 = date(2026, 10, 20), date(2026, 10, 22)
ID_FIELD = "LeadScore_Id__c"
CRM_YAML = f"""\
salesforce:
  organization_id: {ORG_ID}
  lead_id_field: {ID_FIELD}
  stages:
    "Open - Not Contacted": mql
    "Working - Contacted": contacted
    "Qualified": sql
"""
PUSH_YAML = """\
hubspot:
  base_url: {base_url}
  token_env: TEST_HUBSPOT_TOKEN
  push_after_daily: true
"""
WITH_SALES = {"sql", "opportunity", "customer", "disqualified"}


def notification(number: int, record: int, lead_id: str, status: str, modified: str) -> bytes:
    """One outbound message (the WSDL's shape) whose Lead record carries leadscore's id in
    ID_FIELD."""
    sent = (f"04l00000000{number:04d}", f"00Q00000000{record:04d}", status, modified)
    body = outbound_message([sent])
    return body.replace(
        b"<sf:Status>", f"<sf:{ID_FIELD}>{lead_id}</sf:{ID_FIELD}><sf:Status>".encode(), 1
    )


def run_summary(tmp_path: Path, day: date) -> dict:
    return json.loads(
        (tmp_path / "artifacts" / "daily" / day.isoformat() / "summary.json").read_text()
    )


def day_list(tmp_path: Path, day: date, name: str) -> list[str]:
    frame = pd.read_csv(tmp_path / "artifacts" / "daily" / day.isoformat() / name, dtype=str)
    return frame["lead_id"].tolist()


def test_crm_statuses_posted_to_the_service_count_in_the_next_daily_run(
    trained_project: Project, tmp_path: Path
) -> None:
    params = params_with(trained_project, tmp_path)
    url = f"sqlite:///{tmp_path / 'leadscore.db'}"
    env = {"LEADSCORE_DB_URL": url}
    ok(daily(trained_project, params, env, "--as-of", DAY1.isoformat()))
    ok(daily(trained_project, params, env, "--as-of", DAY3.isoformat()))
    before = run_summary(tmp_path, DAY3)["recap"]
    overdue = day_list(tmp_path, DAY3, "overdue.csv")
    assert len(overdue) >= 2, "the small project should leave untouched hand-offs overdue"
    contacted = overdue[0]  # handed over on DAY1, no sales touch by DAY3: overdue

    # Two more leads open on DAY3 that the exports never show as MQL or with sales.
    exported = read_table(
        find_table(tmp_path / "artifacts" / "daily" / DAY3.isoformat() / "validation", "stages")
    )
    with Store.open(url) as store:
        open_ids = store.scores(DAY3, columns=["lead_id"])["lead_id"].astype(str).tolist()
    staged = exported.assign(lead_id=exported["lead_id"].astype(str))
    busy = set(staged.loc[staged["stage"].isin(WITH_SALES | {"mql", "contacted"}), "lead_id"])
    quiet = [i for i in open_ids if i not in busy and i not in overdue]
    qualified, recorded = quiet[0], quiet[1]

    with serving(crm_settings(tmp_path, url, CRM_YAML)) as base:
        sent = [
            notification(1, 1, contacted, "Working - Contacted", "2026-10-20T03:00:00.000Z"),
            notification(2, 2, qualified, "Qualified", "2026-10-20T05:00:00.000Z"),
            notification(3, 3, recorded, "Open - Not Contacted", "2026-10-20T01:00:00.000Z"),
            notification(4, 3, recorded, "Working - Contacted", "2026-10-20T02:00:00.000Z"),
        ]
        for body in sent:
            answer = httpx.post(
                f"{base}/crm/salesforce",
                content=body,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                timeout=10,
            )
            assert answer.status_code == 200 and "<Ack>true</Ack>" in answer.text, answer.text

    # The recorded lead is also a HubSpot contact (record 501): the run writes its score there.
    with Store.open(url) as store:
        contact = CrmLead("hubspot", "501", recorded, pd.Timestamp("2026-10-20", tz="UTC"))
        record_messages(
            store,
            [CrmMessage("hubspot", "c501", "contact.creation", (contact,))],
            contact.changed_at,
        )
    push_config = tmp_path / "push" / "crm.yaml"
    push_config.parent.mkdir()
    with HubSpotApi(set(ScoreProperties().model_dump().values())) as api:
        push_config.write_text(PUSH_YAML.format(base_url=api.base_url))
        pushing = {**env, "LEADSCORE_CRM_CONFIG": str(push_config), "TEST_HUBSPOT_TOKEN": TOKEN}
        again = ok(daily(trained_project, params, pushing, "--as-of", DAY3.isoformat()))
    after = run_summary(tmp_path, DAY3)["recap"]
    assert "CRM stages counted: 4 not in the exports" in again.stdout
    assert "crm push: hubspot: run 2026-10-22: wrote 1 of 1 contact(s)" in again.stdout
    assert api.problems == []
    (written,) = [one for request in api.requests for one in request["body"]["inputs"]]

    # Followed up, at the CRM's time: no longer overdue; the others still are.
    now_overdue = day_list(tmp_path, DAY3, "overdue.csv")
    assert contacted not in now_overdue and set(overdue[1:]) <= set(now_overdue)
    with Store.open(url) as store:
        touches = lead_actions(store, [contacted])
        still_open = set(store.scores(DAY3, columns=["lead_id"])["lead_id"].astype(str))
    by_crm = touches[(touches["kind"] == "contacted") & (touches["source"] == "crm")]
    assert by_crm["at"].tolist() == [pd.Timestamp("2026-10-20T03:00", tz="UTC")]

    # Qualified in the CRM: an SQL of October, no longer open; recorded: one more CRM MQL,
    # due and contacted within the agreed hours.
    assert qualified not in still_open and recorded in still_open
    with Store.open(url) as store:
        scored = store.scores(DAY3, columns=["lead_id", "score"]).astype({"lead_id": str})
    score = int(scored.set_index("lead_id").loc[recorded, "score"])
    assert written["id"] == "501" and written["properties"]["leadscore_score"] == str(score)
    metrics_before, metrics_after = before["metrics"], after["metrics"]
    assert metrics_after["sqls"]["actual"] == metrics_before["sqls"]["actual"] + 1
    assert metrics_after["mqls"]["actual"] == metrics_before["mqls"]["actual"] + 1
    follow_before, follow_after = before["follow_up"], after["follow_up"]
    assert follow_after["mqls_due"] == follow_before["mqls_due"] + 1
    assert follow_after["mqls_on_time"] == follow_before["mqls_on_time"] + 1
