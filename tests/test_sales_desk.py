"""The sales desk over a real store (SQLite and PostgreSQL) through the app's own routes: a rep
acts on a handed-over lead (POST /v1/leads/{id}/actions) and the board (GET /v1/worklist) moves
as the cadence of sla.yaml says; owners are assigned and reassigned once; roles hold."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from sales.service import assign_new, reassign_untouched
from serve.app import create_app
from serve.settings import Settings
from store import RunRecord, Store
from store.actions import lead_actions
from tests.store_fixtures import pg_database, store_url

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[1]
SALES, VIEWER, SCORER = "sales-key-0123456789", "viewer-key-0123456789", "scorer-key-0123456789"
KEYS = f"sales:{SALES},viewer:{VIEWER},scorer:{SCORER}"
DESK = {
    "teams": {"enterprise": ["anna", "ben"], "growth": ["carla"]},
    "owner_rules": [{"persona": "enterprise_it", "team": "enterprise"}],
    "default_team": "growth",
    "reassign_after_hours": 48,
    "cadence": {"by": "tier", "schedule": {"A": [24, 48, 96], "B": [24, 72]}, "default": [24]},
}
# lead -> hours before now it was handed over, its tier and persona.
LEADS = {
    "fresh": (2, "A", "enterprise_it"),  # first attempt due in 22 h
    "late": (30, "A", "enterprise_it"),  # first attempt 6 h overdue
    "later": (40, "B", "smb_founder"),  # 16 h overdue
    "closing": (50, "B", "smb_founder"),  # 26 h overdue
}


def _headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@dataclass
class Desk:
    client: TestClient
    url: str
    now: datetime

    def act(self, lead: str, key: str = SALES, **body: Any) -> Any:
        return self.client.post(f"/v1/leads/{lead}/actions", json=body, headers=_headers(key))

    def board(self, at: datetime | None = None, key: str = SALES) -> dict[str, Any]:
        params = {"at": at.isoformat()} if at is not None else {}
        answer = self.client.get("/v1/worklist", params=params, headers=_headers(key))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def overdue(self, at: datetime | None = None) -> list[str]:
        return [r["lead_id"] for r in self.board(at)["overdue"]]

    def lead(self, lead: str, at: datetime | None = None) -> dict[str, Any]:
        return next(r for r in self.board(at)["leads"] if r["lead_id"] == lead)


def save_handoff(store: Store, now: datetime) -> None:
    """One run of today holding the four hand-offs, each at its own time before `now`."""
    day = now.date()
    run = RunRecord(day, now, now, "lead-propensity", "1", 10.0, 4, 4, 4, 0, 0, {})
    ids = list(LEADS)
    scores = pd.DataFrame(
        {
            "lead_id": ids,
            "probability": 0.3,
            "score": 30,
            "decision": "mql",
            "tier": [LEADS[i][1] for i in ids],
        }
    )
    handed = [now - timedelta(hours=LEADS[i][0]) for i in ids]
    handoff = pd.DataFrame(
        {
            "lead_id": ids,
            "handed_at": handed,
            "followup_deadline": [h + timedelta(hours=24) for h in handed],
            "payload": [
                {"lead_id": i, "tier": LEADS[i][1], "persona": LEADS[i][2], "channel": "email"}
                for i in ids
            ],
        }
    )
    store.save_run(run, scores, handoff, None, [])


@pytest.fixture
def desk(store_url: str, tmp_path: Path) -> Iterator[Desk]:
    agreement = yaml.safe_load((ROOT / "sla.yaml").read_text()) | {"sales_desk": DESK}
    sla = tmp_path / "sla.yaml"
    sla.write_text(yaml.safe_dump(agreement))
    now = datetime.now(UTC).replace(microsecond=0)
    with Store.open(store_url) as store:
        save_handoff(store, now)
    settings = Settings(api_keys=SecretStr(KEYS), db_url=store_url, sla_path=sla)
    with TestClient(create_app(settings, load_model=False)) as client:
        yield Desk(client, store_url, now)


def test_a_contacted_lead_leaves_the_overdue_list_counts_for_compliance_and_is_stored(
    desk: Desk,
) -> None:
    assert desk.overdue() == ["closing", "later", "late"]  # oldest first
    before = desk.board()["compliance"]
    assert before == {"on_time": 0, "counted": 3, "share": 0.0}

    started = datetime.now(UTC)
    answer = desk.act("late", kind="contacted", rep="anna", channel="phone", note="voicemail")
    fresh = desk.act("fresh", kind="contacted", rep="ben", channel="email")
    finished = datetime.now(UTC)
    assert answer.status_code == 201, answer.text
    assert fresh.status_code == 201, fresh.text

    assert desk.overdue() == ["closing", "later"]
    after = desk.board()["compliance"]
    # "fresh" was reached within its 24 h: counted, on time; "late" after its deadline: late.
    assert after["counted"] == 4 and after["on_time"] == 1
    late = desk.lead("late")
    contacted_at = datetime.fromisoformat(answer.json()["at"])
    assert late["attempts"] == 1 and late["state"] == "waiting"
    # Tier A's cadence: the second attempt 48 h after the first.
    assert datetime.fromisoformat(late["next_due"]) == contacted_at + timedelta(hours=48)
    second = contacted_at + timedelta(hours=48)
    assert "late" not in desk.overdue(second - timedelta(seconds=1))
    assert desk.overdue(second)[0] == "closing" and "late" in desk.overdue(second)

    with Store.open(desk.url) as store:
        stored = lead_actions(store, ["late"])
    row = stored.iloc[-1]
    assert (row["kind"], row["actor"], row["channel"], row["source"], row["note"]) == (
        "contacted",
        "anna",
        "phone",
        "api",
        "voicemail",
    )
    assert started - timedelta(seconds=1) <= row["at"].to_pydatetime() <= finished


def test_a_snoozed_lead_comes_back_on_its_date(desk: Desk) -> None:
    until = desk.now.date() + timedelta(days=3)
    answer = desk.act("later", kind="snoozed", rep="carla", until=until.isoformat())
    assert answer.status_code == 201, answer.text
    back = datetime(until.year, until.month, until.day, tzinfo=UTC)
    assert "later" not in desk.overdue()
    assert desk.lead("later", back - timedelta(seconds=1))["state"] == "snoozed"
    assert "later" not in desk.overdue(back - timedelta(seconds=1))
    assert "later" in desk.overdue(back)


def test_a_closed_lead_never_returns_to_the_overdue_list(desk: Desk) -> None:
    answer = desk.act("closing", kind="closed", rep="carla", reason="no_budget")
    assert answer.status_code == 201, answer.text
    closed_at = datetime.fromisoformat(answer.json()["at"])
    assert "closing" not in desk.overdue()
    for days in (0, 1, 10, 400):
        at = closed_at + timedelta(days=days)
        assert "closing" not in desk.overdue(at)
        assert desk.lead("closing", at)["state"] == "closed"
        assert desk.lead("closing", at)["closed_reason"] == "no_budget"


def test_a_re_close_corrects_the_reason_the_desk_and_the_retrain_export_read(desk: Desk) -> None:
    first = desk.act("closing", kind="closed", rep="carla", reason="no_budget")
    assert first.status_code == 201, first.text
    again = desk.act("closing", kind="closed", rep="carla", reason="duplicate")
    assert again.status_code == 201, again.text
    at = datetime.fromisoformat(again.json()["at"])
    row = desk.lead("closing", at)
    assert row["state"] == "closed"
    assert row["closed_reason"] == "duplicate"  # what `leadscore db closes` exports too
    assert datetime.fromisoformat(row["closed_at"]) == datetime.fromisoformat(first.json()["at"])


def test_a_lead_out_of_attempts_leaves_the_list_with_a_reason(desk: Desk) -> None:
    # Tier B: two attempts.
    assert desk.act("later", kind="contacted", rep="carla", channel="phone").status_code == 201
    assert desk.act("later", kind="contacted", rep="carla", channel="email").status_code == 201
    row = desk.lead("later", desk.now + timedelta(days=30))
    assert row["state"] == "out_of_attempts" and row["next_due"] is None
    assert "later" not in desk.overdue(desk.now + timedelta(days=30))


def test_roles_a_viewer_and_a_scorer_cannot_act_a_sales_key_can(desk: Desk) -> None:
    body = {"kind": "contacted", "rep": "anna", "channel": "phone"}
    assert desk.act("late", key=VIEWER, **body).status_code == 403
    assert desk.act("late", key=SCORER, **body).status_code == 403
    assert desk.act("late", key="not-a-key-at-all-000", **body).status_code == 401
    assert desk.act("late", key=SALES, **body).status_code == 201
    assert desk.board(key=VIEWER)["leads"]
    answer = desk.client.get("/v1/worklist", headers=_headers(SCORER))
    assert answer.status_code == 403
    with Store.open(desk.url) as store:
        assert len(lead_actions(store, ["late"])) == 1  # only the sales key's


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "contacted", "rep": "anna"}, "channel"),
        ({"kind": "contacted", "rep": "anna", "channel": "pigeon"}, "channel"),
        ({"kind": "contacted", "rep": "zoe", "channel": "phone"}, "rep"),
        ({"kind": "snoozed", "rep": "anna", "until": "2020-01-01"}, "until"),
        ({"kind": "closed", "rep": "anna", "reason": "bored"}, "reason"),
        ({"kind": "called", "rep": "anna"}, "kind"),
    ],
)
def test_a_malformed_action_is_422_naming_the_field_and_stores_nothing(
    desk: Desk, body: dict[str, Any], field: str
) -> None:
    answer = desk.act("late", **body)
    assert answer.status_code == 422, answer.text
    assert field in answer.text
    with Store.open(desk.url) as store:
        assert not len(lead_actions(store, ["late"]))


def test_an_action_on_a_lead_never_handed_over_is_404_and_bad_json_is_not_500(desk: Desk) -> None:
    answer = desk.act("nobody", kind="contacted", rep="anna", channel="phone")
    assert answer.status_code == 404 and "never handed over" in answer.text
    raw = desk.client.post(
        "/v1/leads/late/actions",
        content=b"{not json",
        headers={**_headers(SALES), "Content-Type": "application/json"},
    )
    assert raw.status_code == 422


def test_owners_by_rule_and_round_robin_then_an_untouched_lead_moves_once(desk: Desk) -> None:
    with Store.open(desk.url) as store:
        from sla.agreement import load_agreement

        sla = desk.client.app.state.service.settings.sla_path  # type: ignore[attr-defined]
        rules = load_agreement(sla).sales_desk
        assigned_at = desk.now - timedelta(hours=1)
        owners = assign_new(store, rules, assigned_at)
        assert dict(zip(owners["lead_id"], owners["owner"], strict=True)) == {
            "closing": "carla",  # smb_founder: default team growth
            "later": "carla",
            "late": "anna",  # enterprise_it: enterprise, round-robin anna, ben
            "fresh": "ben",
        }
        assert not len(assign_new(store, rules, assigned_at))  # each lead once
    # "fresh" is touched; the others are not.
    assert desk.act("fresh", kind="contacted", rep="ben", channel="phone").status_code == 201
    with Store.open(desk.url) as store:
        early = assigned_at + timedelta(hours=47)
        assert not len(reassign_untouched(store, rules, early))
        due = assigned_at + timedelta(hours=48)
        moved = reassign_untouched(store, rules, due)
        # growth has one rep: nobody to move to; "fresh" was touched.
        assert moved[["lead_id", "previous", "owner"]].values.tolist() == [["late", "anna", "ben"]]
        assert not len(reassign_untouched(store, rules, due + timedelta(days=5)))  # once
        history = lead_actions(store, ["late"])
    assert history["kind"].tolist() == ["assigned", "reassigned"]
    assert history["owner"].tolist() == ["anna", "ben"]
    assert "untouched 48 h" in history["note"].iloc[-1]
    assert desk.lead("late", due + timedelta(days=5))["owner"] == "ben"
    assert desk.lead("late", due + timedelta(days=5))["reassigned"] == 1


def test_the_desk_config_refuses_a_rule_naming_an_unknown_team() -> None:
    from foundation.errors import ConfigError
    from sla.agreement import parse_agreement

    agreement = yaml.safe_load((ROOT / "sla.yaml").read_text())
    agreement["sales_desk"] = {**DESK, "owner_rules": [{"channel": "events", "team": "nope"}]}
    with pytest.raises(ConfigError, match=r"sales_desk.*owner_rules\[0\].*nope"):
        parse_agreement(agreement)


def test_on_a_real_uvicorn_server_a_contacted_lead_leaves_the_overdue_list(
    store_url: str, tmp_path: Path
) -> None:
    import os

    import httpx2 as httpx  # the one HTTP client stack (pyproject.toml)

    from tests.live_server import running_dashboard

    agreement = yaml.safe_load((ROOT / "sla.yaml").read_text()) | {"sales_desk": DESK}
    (tmp_path / "sla.yaml").write_text(yaml.safe_dump(agreement))
    now = datetime.now(UTC).replace(microsecond=0)
    with Store.open(store_url) as store:
        save_handoff(store, now)
    env = {
        **os.environ,
        "LEADSCORE_DB_URL": store_url,
        "LEADSCORE_API_KEYS": KEYS,
        "LEADSCORE_SLA_PATH": str(tmp_path / "sla.yaml"),
    }
    log = tmp_path / "server.log"
    with (
        running_dashboard(tmp_path, env, log, 60) as base,
        httpx.Client(base_url=base, headers=_headers(SALES), timeout=30) as http,
    ):
        before = http.get("/v1/worklist").json()
        assert [r["lead_id"] for r in before["overdue"]] == ["closing", "later", "late"]
        body = {"kind": "contacted", "rep": "anna", "channel": "phone"}
        answer = http.post("/v1/leads/late/actions", json=body)
        assert answer.status_code == 201, answer.text
        viewer = http.post("/v1/leads/later/actions", json=body, headers=_headers(VIEWER))
        assert viewer.status_code == 403
        after = http.get("/v1/worklist").json()
    assert [r["lead_id"] for r in after["overdue"]] == ["closing", "later"]
    assert after["compliance"]["counted"] == before["compliance"]["counted"]
    with Store.open(store_url) as store:
        stored = lead_actions(store, ["late", "later"])
    assert stored[["lead_id", "kind", "actor", "source"]].values.tolist() == [
        ["late", "contacted", "anna", "api"]
    ]


def test_the_cadence_by_fit_grade_reads_the_grade_letter_and_unknown_bands_get_the_default() -> (
    None
):
    import pandas as pd

    from sales.worklist import board
    from sla.sales_desk import SalesDesk
    from store.actions import ACTION_COLUMNS

    desk = SalesDesk.model_validate(
        {**DESK, "cadence": {"by": "fit_grade", "schedule": {"A": [2, 5]}, "default": [10]}}
    )
    handed_at = pd.Timestamp("2026-10-20", tz="UTC")
    handed = pd.DataFrame({"lead_id": ["a", "z"], "handed_at": [handed_at] * 2, "band": ["A", "Q"]})
    actions = pd.DataFrame(columns=list(ACTION_COLUMNS))
    at = handed_at + pd.Timedelta(hours=3)
    rows = board(handed, actions, desk, at).set_index("lead_id")
    assert rows.loc["a", "state"] == "overdue" and rows.loc["a", "max_attempts"] == 2
    assert rows.loc["z", "state"] == "due" and rows.loc["z", "max_attempts"] == 1  # within a day
    assert rows.loc["a", "hours_overdue"] == 1.0


def test_the_desk_config_refuses_a_rep_in_two_teams_and_an_empty_cadence() -> None:
    from pydantic import ValidationError

    from sla.sales_desk import SalesDesk

    with pytest.raises(ValidationError, match="rep 'anna' is in both"):
        SalesDesk.model_validate({**DESK, "teams": {"a": ["anna"], "b": ["anna"]}})
    with pytest.raises(ValidationError, match="at least one attempt"):
        SalesDesk.model_validate({**DESK, "cadence": {"schedule": {"A": []}}})
