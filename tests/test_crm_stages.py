"""The stages CRMs sent count with the exports' (sla/crm_stages.py): one row per fact, the
earliest time wins, nothing after the cut-off; read from a real store (SQLite and PostgreSQL)
as the inbox stored them; and a handed-over lead marked contacted in the CRM counts as followed
up, at the CRM's time, in the daily run's steps."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import SecretStr

from daily.recap import month_recap
from dashboard.cache import TTLCache
from dashboard.page_loop import funnel
from dashboard.sources import Missing, Sources
from engine.daily_dask import with_store_additions
from foundation.params import load_params
from pipeline.daily_steps import Day, compare_with_last_run, open_leads_at
from pipeline.daily_store_inputs import add_crm_leads, add_crm_stages
from pipeline.sla_data import load_history, read_history
from serve.settings import Settings
from sla.agreement import load_agreement
from sla.crm_stages import history_with_crm_stages, with_crm_stages
from store import Store
from store.actions import lead_actions
from store.crm_inbox import (
    CrmLead,
    CrmMessage,
    CrmStage,
    crm_stage_frame,
    record_messages,
    stored_crm,
)
from tests.store_fixtures import pg_database, store_url
from tests.test_daily_steps import events_of, run_day, scores_of

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[1]
UTC_TS = "datetime64[us, UTC]"


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def exported(rows: list[tuple[str, str, str, float | None]]) -> pd.DataFrame:
    """Stage rows as the validate stage types them (data/interim)."""
    return pd.DataFrame(
        {
            "lead_id": pd.Series([r[0] for r in rows], dtype="str"),
            "stage": pd.Series([r[1] for r in rows], dtype="str"),
            "ts": pd.Series([at(r[2]) for r in rows], dtype=UTC_TS),
            "deal_value_eur": pd.Series([r[3] for r in rows], dtype="float64"),
        }
    )


def crm_rows(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "stage": [r[1] for r in rows],
            "ts": [at(r[2]) for r in rows],
        }
    )


def message(message_id: str, *stages: tuple[str, str, str], crm: str = "salesforce") -> CrmMessage:
    return CrmMessage(
        crm,
        message_id,
        "test",
        stages=tuple(
            CrmStage(lead, stage, at(ts).to_pydatetime(), f"status of {stage}")
            for lead, stage, ts in stages
        ),
    )


def test_a_stage_the_exports_lack_is_added_with_the_crms_time_in_the_exports_types() -> None:
    stages = exported([("A", "mql", "2026-10-01T08:00", None)])
    merged = with_crm_stages(stages, crm_rows([("A", "contacted", "2026-10-01T09:30")]))
    assert (merged.added, merged.earlier) == (1, 0)
    assert merged.stages.dtypes.to_dict() == stages.dtypes.to_dict()
    row = merged.stages.iloc[-1]
    assert (row["lead_id"], row["stage"], row["ts"]) == ("A", "contacted", at("2026-10-01T09:30"))
    assert pd.isna(row["deal_value_eur"])
    assert "1 not in the exports" in (merged.note() or "")


def test_a_stage_both_have_is_one_row_at_the_earlier_time_with_the_exports_deal_value() -> None:
    stages = exported(
        [
            ("A", "customer", "2026-10-05T00:00", 5000.0),
            ("B", "sql", "2026-10-02T00:00", None),
            ("B", "sql", "2026-10-03T00:00", None),  # an export may repeat a stage
        ]
    )
    crm = crm_rows(
        [
            ("A", "customer", "2026-10-04T00:00"),  # the CRM knew a day earlier: its time wins
            ("B", "sql", "2026-10-02T12:00"),  # later than the exports' first: changes nothing
        ]
    )
    merged = with_crm_stages(stages, crm)
    assert (merged.added, merged.earlier) == (0, 1)
    assert len(merged.stages) == len(stages)
    won = merged.stages[merged.stages["stage"] == "customer"].iloc[0]
    assert (won["ts"], won["deal_value_eur"]) == (at("2026-10-04"), 5000.0)
    first_sql = merged.stages.loc[merged.stages["lead_id"] == "B", "ts"].min()
    assert first_sql == at("2026-10-02")
    # Nothing the CRMs send changes a frame they did not change (the caller's stays as it was).
    assert stages.loc[0, "ts"] == at("2026-10-05")
    assert with_crm_stages(stages, crm_rows([("B", "sql", "2026-10-09")])).note() is None


def test_a_crm_stage_after_the_cut_off_does_not_exist_yet_for_that_run() -> None:
    stages = exported([("A", "mql", "2026-10-01T08:00", None)])
    crm = crm_rows([("A", "contacted", "2026-10-21T09:00"), ("A", "sql", "2026-10-19T09:00")])
    merged = with_crm_stages(stages, crm, at("2026-10-20"))
    assert sorted(merged.stages["stage"]) == ["mql", "sql"]


def test_the_sla_history_takes_crm_stages_up_to_the_exports_end_only() -> None:
    leads = pd.DataFrame({"lead_id": ["A"], "created_at": [at("2026-09-01")]})
    stages = exported([("A", "mql", "2026-10-20T00:00", None)])
    crm = crm_rows([("A", "contacted", "2026-10-19T10:00"), ("A", "sql", "2026-12-07T10:00")])
    merged = history_with_crm_stages(leads, stages, crm)
    # A live CRM does not stretch the months a stale export covers.
    assert sorted(merged.stages["stage"]) == ["contacted", "mql"]


def test_the_store_gives_each_stage_at_its_earliest_time_whatever_the_order(
    store_url: str,
) -> None:
    now = datetime(2026, 10, 21, tzinfo=UTC)
    with Store.open(store_url) as store:
        record_messages(store, [message("m2", ("A", "contacted", "2026-10-20T11:00"))], now)
        record_messages(store, [message("m1", ("A", "contacted", "2026-10-20T09:00"))], now)
        record_messages(store, [message("m3", ("B", "sql", "2026-10-22T09:00"))], now)
        frame = crm_stage_frame(store)
        until = crm_stage_frame(store, until=datetime(2026, 10, 21, tzinfo=UTC))
    assert frame[["lead_id", "stage"]].values.tolist() == [["A", "contacted"], ["B", "sql"]]
    assert frame["ts"].iloc[0] == at("2026-10-20T09:00")
    assert str(frame["ts"].dt.tz) == "UTC"
    assert until["lead_id"].tolist() == ["A"]


def test_without_a_configured_store_there_are_no_crm_stages_and_no_store_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADSCORE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert stored_crm() is None
    assert not (tmp_path / "leadscore.db").exists()


def exports_in(tmp_path: Path) -> tuple[Path, Path]:
    """data/interim with two leads (A an MQL of October in the export) and a params.yaml
    pointing at it; returns (params file, a SQLite store's file, not yet made)."""
    interim = tmp_path / "interim"
    interim.mkdir()
    pd.DataFrame(
        {
            "lead_id": pd.Series(["A", "B"], dtype="str"),
            "created_at": pd.Series([at("2026-09-01"), at("2026-10-02")], dtype=UTC_TS),
            "channel": pd.Series(["email", "events"], dtype="str"),
        }
    ).to_parquet(interim / "leads.parquet")
    exported([("A", "mql", "2026-10-01T08:00", None)]).to_parquet(interim / "stages.parquet")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["paths"] |= {"interim": str(interim), "personas": str(ROOT / "personas.yaml")}
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    return params, tmp_path / "leadscore.db"


def test_the_sla_report_reads_the_crm_stages_and_leads_and_training_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params_file, db = exports_in(tmp_path)
    with Store.open(f"sqlite:///{db}") as store:
        now = datetime(2026, 10, 2, tzinfo=UTC)
        record_messages(store, [message("m1", ("A", "contacted", "2026-10-01T09:00"))], now)
        crm_only = [
            crm_lead_message("h1", "hubspot", "hubspot-9", "2026-10-01T10:00", "sql"),
            crm_lead_message("h2", "hubspot", "hubspot-10", "2026-10-03", "sql"),  # after the end
        ]
        record_messages(store, crm_only, now)
    monkeypatch.setenv("LEADSCORE_DB_URL", f"sqlite:///{db}")
    params = load_params(params_file)
    history, merged = read_history(params)
    assert sorted(history.stages["stage"]) == ["contacted", "mql", "sql"]
    assert (merged.added, merged.earlier) == (2, 0)
    # The lead created in HubSpot by the exports' end counts as a lead (with its SQL).
    assert history.leads["lead_id"].tolist() == ["A", "B", "hubspot-9"]
    assert history.persona.index.tolist() == ["A", "B", "hubspot-9"]
    exports = load_history(params)  # evaluate: exports only
    assert exports.stages["stage"].tolist() == ["mql"]
    assert exports.leads["lead_id"].tolist() == ["A", "B"]


def test_the_closed_loop_page_counts_a_crm_stage_on_the_next_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params_file, db = exports_in(tmp_path)
    monkeypatch.setenv("LEADSCORE_DB_URL", f"sqlite:///{db}")
    settings = Settings(
        api_keys=SecretStr("viewer-key-for-crm-stages"),
        params_path=params_file,
        personas_path=ROOT / "personas.yaml",
        sla_path=ROOT / "sla.yaml",
    )
    sources = Sources(settings, TTLCache(60))  # the page's own cache, kept between reads

    def sqls() -> int:
        history = sources.history()
        assert not isinstance(history, Missing), history
        return int(funnel(*history, ["2026-09", "2026-10"])["sql"].sum())

    assert sqls() == 0
    with Store.open(f"sqlite:///{db}") as store:
        now = datetime(2026, 10, 2, tzinfo=UTC)
        record_messages(store, [message("m1", ("B", "sql", "2026-10-02T00:00"))], now)
    sources.cache.clear()  # the TTL has passed: the store is read again
    assert sqls() == 1


def test_a_handed_over_lead_contacted_in_the_crm_is_followed_up_at_the_crms_time(
    tmp_path: Path,
) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'leadscore.db'}") as store:
        first = Day(date(2026, 10, 20), tmp_path / "2026-10-20")
        handed = run_day(
            store, first, scores_of([("A", "mql", 30), ("B", "mql", 31)]), events_of([])
        )
        assert sorted(handed.handoff["lead_id"]) == ["A", "B"]
        # A rep set A to "Working - Contacted" in Salesforce three hours after the hand-off.
        record_messages(
            store,
            [message("n1", ("A", "contacted", "2026-10-20T03:00"))],
            datetime(2026, 10, 20, 3, 1, tzinfo=UTC),
        )
        third = Day(date(2026, 10, 22), tmp_path / "2026-10-22")
        none = exported([])
        stages, note = add_crm_stages(store, none, third.t)
        assert stages["stage"].tolist() == ["contacted"] and note is not None
        params = load_params(ROOT / "params.yaml")
        today = scores_of([("A", "mql", 30), ("B", "mql", 31)])
        compared = compare_with_last_run(
            third, store, today, (None, stages, events_of([])), 24, params
        )
        touches = lead_actions(store, ["A"])
    # B's deadline passed untouched: overdue; A was contacted in the CRM: not.
    assert compared.overdue["lead_id"].tolist() == ["B"]
    crm_touch = touches[(touches["kind"] == "contacted") & (touches["source"] == "crm")]
    assert crm_touch["at"].tolist() == [at("2026-10-20T03:00")]


def crm_lead_message(
    message_id: str, crm: str, lead_id: str, changed: str, stage: str | None, **properties: object
) -> CrmMessage:
    """What a CRM route records: the record (lead) and, when its status maps, the stage."""
    changed_at = at(changed).to_pydatetime()
    email = properties.pop("email", None)
    lead = CrmLead(crm, lead_id.split("-", 1)[-1], lead_id, changed_at, email, dict(properties))
    stages = (CrmStage(lead_id, stage, changed_at, f"status of {stage}"),) if stage else ()
    return CrmMessage(crm, message_id, "lead.created", leads=(lead,), stages=stages)


def test_a_lead_created_only_in_a_crm_is_scored_and_counted_by_the_next_daily_run(
    store_url: str,
) -> None:
    leads = pd.DataFrame(
        {
            "lead_id": pd.Series(["A"], dtype="str"),
            "created_at": pd.Series([at("2026-10-02")], dtype=UTC_TS),
            "channel": pd.Series(["email"], dtype="str"),
            "company_size": pd.Series([40], dtype="Int64"),
            "industry": pd.Series(["software"], dtype="str"),
        }
    )
    stages = exported(
        [("A", "mql", "2026-10-03", None), ("A", "contacted", "2026-10-03T05:00", None)]
    )
    received = datetime(2026, 10, 19, tzinfo=UTC)
    with Store.open(store_url) as store:
        messages = [
            # BottleCRM's lead.created for a lead the exports never had, a rep working it.
            crm_lead_message(
                "b1",
                "bottlecrm",
                "bottlecrm-17",
                "2026-10-06",
                "contacted",
                created_at="2026-10-05T10:00:00+00:00",
                source="Paid Search",
                industry="SOFTWARE",
                title="CTO",
                country="DE",
                company_name="Acme",
                email="ada@acme.example",
            ),
            # A HubSpot contact (no profile but its id) the sales team accepted.
            crm_lead_message("h1", "hubspot", "hubspot-9", "2026-10-08", "sql"),
            # A record of an exported lead: the exports' profile stays.
            crm_lead_message("s1", "salesforce", "A", "2026-10-09", None, LeadSource="Web"),
            # Created after the cut-off: not there yet for the run of the 20th.
            crm_lead_message("h2", "hubspot", "hubspot-10", "2026-10-21", "sql"),
        ]
        record_messages(store, messages, received)
        day = Day(date(2026, 10, 20), Path("unused"))
        merged = add_crm_leads(store, leads, day.t)
        merged_stages, note = add_crm_stages(store, stages, day.t)
    assert merged["lead_id"].tolist() == ["A", "bottlecrm-17", "hubspot-9"]
    assert merged.dtypes.to_dict() == leads.dtypes.to_dict()  # the exports' types
    crm_only = merged.set_index("lead_id")
    assert crm_only.loc["A", "channel"] == "email"
    assert crm_only.loc["bottlecrm-17", ["channel", "industry"]].tolist() == [
        "paid_search",
        "software",
    ]
    assert crm_only.loc["bottlecrm-17", "created_at"] == at("2026-10-05T10:00")
    assert crm_only.loc["hubspot-9", "created_at"] == at("2026-10-08")  # its first change
    # bottlecrm-17 is open (contacted, not SQL): scored; hubspot-9 is SQL: counted, not scored.
    scope = open_leads_at(merged, merged_stages, day.t, "raw")
    assert sorted(scope["lead_id"]) == ["A", "bottlecrm-17"]
    agreement = load_agreement(ROOT / "sla.yaml")
    persona = pd.Series("p", index=merged["lead_id"])
    recap = month_recap(
        merged, merged_stages, persona, agreement, None, np.array([0.2, 0.3]), day.t, 60, 0.9
    )
    assert recap["metrics"]["leads"]["actual"] == 3
    assert recap["metrics"]["sqls"]["actual"] == 1
    assert note is not None


def test_without_crm_leads_the_daily_runs_leads_are_the_exports(tmp_path: Path) -> None:
    leads = pd.DataFrame({"lead_id": ["A"], "created_at": [at("2026-10-02")]})
    with Store.open(f"sqlite:///{tmp_path / 'leadscore.db'}") as store:
        assert add_crm_leads(store, leads, at("2026-10-20")) is leads


def test_the_stores_rows_merged_per_lead_partition_are_the_whole_days_merge() -> None:
    """What a Dask worker merges on its lead partition (engine/daily_dask.py) adds up to what
    the pandas run merges on the whole day: exports first, each event and stage fact once."""
    leads = pd.DataFrame(
        {
            "lead_id": pd.Series(["A", "B"], dtype="str"),
            "created_at": pd.Series([at("2026-10-01"), at("2026-10-02")], dtype=UTC_TS),
            "channel": pd.Series(["email", "social"], dtype="str"),
        }
    )
    added_leads = pd.DataFrame(
        {"lead_id": ["C", "D"], "created_at": [at("2026-10-05"), at("2026-10-25")]}
    )
    events = pd.DataFrame(
        {
            "lead_id": pd.Series(["A", "B"], dtype="str"),
            "ts": pd.Series([at("2026-10-03"), at("2026-10-04")], dtype=UTC_TS),
            "event_type": pd.Series(["pricing_view", "site_visit"], dtype="str"),
            "content_topic": pd.Series(["pricing", None], dtype="str"),
        }
    )
    posted = pd.DataFrame(
        {
            "lead_id": ["A", "B", "C"],
            "ts": [at("2026-10-03"), at("2026-10-06"), at("2026-10-07")],
            "event_type": ["pricing_view", "demo_request", "site_visit"],
            "content_topic": ["pricing", None, None],
        }
    )
    stages = exported([("A", "mql", "2026-10-03", None), ("B", "contacted", "2026-10-05", None)])
    crm = crm_rows([("A", "contacted", "2026-10-04"), ("C", "sql", "2026-10-08")])
    t = at("2026-10-20")
    whole = with_store_additions((leads, events, stages), (added_leads, posted, crm), t)

    def share(frame: pd.DataFrame, ids: set[str]) -> pd.DataFrame:
        return frame[frame["lead_id"].isin(ids)].reset_index(drop=True)

    frames = (leads, events, stages, added_leads, posted, crm)
    parts = [
        with_store_additions(
            tuple(share(f, ids) for f in frames[:3]), tuple(share(f, ids) for f in frames[3:]), t
        )
        for ids in ({"A", "C"}, {"B", "D"})
    ]
    for k, keys in enumerate((["lead_id"], ["lead_id", "ts"], ["lead_id", "stage"])):
        got = pd.concat([p[k] for p in parts]).sort_values(keys).reset_index(drop=True)
        expected = whole[k].sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected)
    assert whole[0]["lead_id"].tolist() == ["A", "B", "C"]  # D: created after the cut-off
    assert len(whole[1]) == 4  # A's posted pricing view is the exported one
    assert sorted(whole[2]["stage"]) == ["contacted", "contacted", "mql", "sql"]
