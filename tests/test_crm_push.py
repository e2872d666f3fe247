"""`leadscore crm push`: the last run's scores of the leads HubSpot sent land on those contacts
(through the checked stand-in API), and leads that did not come from HubSpot are left alone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crm.config import ScoreProperties
from pipeline.cli import app
from sales.words import plain_reasons
from store import RunRecord, Store
from store.crm_inbox import CrmLead, CrmMessage, record_messages
from tests.crm_fixtures import CRM_YAML, TOKEN, HubSpotApi
from tests.lead_page_fixtures import REASONS

DAY = date(2026, 10, 21)
FINISHED = datetime(2026, 10, 21, 6, 5, tzinfo=UTC)
NAMES = set(ScoreProperties().model_dump().values())


def stored(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'leadscore.db'}"
    with Store.open(url) as store:
        run = RunRecord(DAY, FINISHED, FINISHED, "lead-propensity", "12", 0.4, 3, 2, 0, 0, 0, {})
        scores = pd.DataFrame(
            {
                "lead_id": ["hubspot-123", "hubspot-124", "L9"],
                "probability": [0.87, 0.4, 0.7],
                "score": [87, 40, 70],
                "decision": ["mql", "nurture", "mql"],
                "tier": ["A", "C", "B"],
                "reasons": [REASONS, REASONS, REASONS],
            }
        )
        store.save_run(run, scores, None, None, [])
        leads = [
            CrmLead("hubspot", rid, f"hubspot-{rid}", FINISHED) for rid in ("123", "124", "999")
        ]
        record_messages(
            store, [CrmMessage("hubspot", "m1", "contact.creation", tuple(leads))], FINISHED
        )
    return url


def push(tmp_path: Path, base_url: str, db_url: str) -> tuple[int, str]:
    config = tmp_path / "crm.yaml"
    config.write_text(CRM_YAML.replace("http://127.0.0.1:9", base_url))
    args = ["crm", "push", "--config", str(config), "--db-url", db_url]
    result = CliRunner().invoke(app, args, env={"TEST_HUBSPOT_TOKEN": TOKEN})
    return result.exit_code, result.output


def test_the_last_runs_scores_land_on_the_contacts_hubspot_sent(tmp_path: Path) -> None:
    db_url = stored(tmp_path)
    with HubSpotApi(NAMES) as api:
        code, out = push(tmp_path, api.base_url, db_url)
    assert code == 0, out
    assert "hubspot: run 2026-10-21: wrote 2 of 2 contact(s) in 1 request(s)" in out
    assert api.problems == []
    (request,) = api.requests
    inputs = {one["id"]: one["properties"] for one in request["body"]["inputs"]}
    assert set(inputs) == {"123", "124"}  # L9 is not HubSpot's; 999 was not scored
    assert inputs["123"] == {
        "leadscore_score": "87",
        "leadscore_tier": "A",
        "leadscore_reasons": "; ".join(plain_reasons(REASONS)[0][:3]),
        "leadscore_model_version": "12",
        "leadscore_scored_at": "2026-10-21T06:05:00Z",
    }


def test_records_hubspot_refuses_make_the_command_exit_1(tmp_path: Path) -> None:
    db_url = stored(tmp_path)
    with HubSpotApi(NAMES, missing={"124"}) as api:
        code, out = push(tmp_path, api.base_url, db_url)
    assert code == 1 and "wrote 1 of 2" in out and "124: Could not get some CONTACT" in out


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_exits_2(tmp_path: Path, status: int) -> None:
    db_url = stored(tmp_path)
    with HubSpotApi(NAMES, status=status) as api:
        code, out = push(tmp_path, api.base_url, db_url)
    assert code == 2 and "HubSpot refused the token" in out


def test_no_stored_run_is_a_clear_error(tmp_path: Path) -> None:
    code, out = push(tmp_path, "http://127.0.0.1:9", f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 2 and "no daily run is stored" in out
