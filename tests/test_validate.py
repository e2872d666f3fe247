"""Validation: bad rows land in quarantine with a reason naming field and value; counts reconcile;
a broken export stops with a message naming the file and the column."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.schemas import EVENTS_SCHEMA, LEADS_SCHEMA, STAGES_SCHEMA, TIMESTAMP
from features.triage import validate_events, validate_leads, validate_stages
from features.triage_results import TableResult
from foundation.errors import DataError
from foundation.io import read_table
from foundation.params import Params
from pipeline import validate as stage
from pipeline.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
PROJECT = Path(__file__).resolve().parents[1]


def triage(folder: Path, suffix: str = ".csv") -> dict[str, TableResult]:
    leads = validate_leads(read_table(folder / f"leads{suffix}"))
    return {
        "leads": leads,
        "events": validate_events(read_table(folder / f"events{suffix}"), leads),
        "stages": validate_stages(read_table(folder / f"stages{suffix}"), leads),
    }


@pytest.fixture(scope="module")
def bad() -> dict[str, TableResult]:
    return triage(FIXTURES / "bad")


@pytest.fixture(scope="module")
def good() -> dict[str, TableResult]:
    return triage(FIXTURES / "good")


def params_for(tmp_path: Path) -> Params:
    return Params.model_validate(
        {
            "paths": {
                "interim": str(tmp_path / "interim"),
                "personas": str(PROJECT / "personas.yaml"),
            }
        }
    )


def reason_of(result: TableResult, source_row: int) -> str:
    rows = result.quarantined.loc[result.quarantined["source_row"] == source_row, "reason"]
    assert len(rows) == 1, f"{result.table} row {source_row} is not quarantined"
    return rows.iloc[0]


# --- each kind of bad row lands in quarantine with its reason ---

BAD_ROWS = [
    ("leads", 3, "lead_id_empty", "lead_id is empty"),
    ("leads", 4, "created_at_not_timestamp", "created_at 'yesterday' is not a timestamp"),
    ("leads", 5, "company_size_not_integer", "company_size '12.5' is not an integer"),
    ("leads", 6, "company_size_negative", "company_size '-3' is not a non-negative integer"),
    ("leads", 7, "company_size_not_integer", "company_size 'many' is not an integer"),
    ("leads", 8, "lead_id_duplicate", "lead_id 'L001' duplicates row 1"),
    ("events", 2, "ts_not_timestamp", "ts 'yesterday' is not a timestamp (expected ISO 8601, UTC)"),
    ("events", 3, "event_type_empty", "event_type is empty"),
    ("events", 4, "lead_id_unknown", "lead_id 'L999' is not in leads"),
    ("events", 5, "lead_id_quarantined", "lead_id 'L004' was quarantined in leads"),
    ("events", 8, "lead_id_empty", "lead_id is empty"),
    ("stages", 2, "stage_unknown", "stage 'won' is not a funnel stage"),
    ("stages", 3, "ts_not_timestamp", "ts '2025-13-45' is not a timestamp"),
    ("stages", 4, "lead_id_unknown", "lead_id 'L999' is not in leads"),
    ("stages", 5, "deal_value_eur_negative", "deal_value_eur '-500' is negative"),
    ("stages", 6, "deal_value_eur_not_number", "deal_value_eur '12k' is not a number"),
    ("stages", 7, "stage_empty", "stage is empty"),
]


@pytest.mark.parametrize(("table", "source_row", "kind", "message"), BAD_ROWS)
def test_each_kind_of_bad_row_is_quarantined_with_a_reason_naming_field_and_value(
    bad, table, source_row, kind, message
):
    result = bad[table]
    assert message in reason_of(result, source_row)
    assert result.reasons[kind] >= 1


def test_event_for_unknown_lead_is_quarantined_with_reason(bad):
    assert reason_of(bad["events"], 4) == "lead_id 'L999' is not in leads"
    assert "L999" not in set(bad["events"].kept["lead_id"])


def test_duplicate_lead_keeps_the_first_row_and_names_it_in_the_reason(bad):
    leads = bad["leads"]
    first = leads.kept.loc[leads.kept["lead_id"] == "L001"]
    assert len(first) == 1
    assert first["company_size"].iloc[0] == 250  # row 1's value, not the duplicate's 99
    assert reason_of(leads, 8) == "lead_id 'L001' duplicates row 1 (the first row is kept)"


def test_counts_reconcile_and_every_quarantined_row_has_a_reason(bad):
    expected = {"leads": (9, 3, 6), "events": (8, 3, 5), "stages": (8, 2, 6)}
    for table, result in bad.items():
        s = result.summary()
        assert (s["rows_in"], s["rows_kept"], s["rows_quarantined"]) == expected[table]
        assert s["rows_in"] == s["rows_kept"] + s["rows_quarantined"]
        assert result.quarantined["reason"].str.len().gt(0).all()
        assert sum(s["reasons"].values()) >= s["rows_quarantined"]


def test_quarantine_holds_bad_rows_as_read_with_1_based_source_row(bad):
    q = bad["leads"].quarantined
    assert list(q.columns) == [
        *pd.read_csv(FIXTURES / "bad" / "leads.csv", nrows=0).columns,
        "source_row",
        "reason",
    ]
    row = q.loc[q["source_row"] == 4].iloc[0]
    assert row["created_at"] == "yesterday"
    assert row["lead_id"] == "L004"


def test_row_with_several_problems_is_quarantined_once_listing_all(tmp_path):
    raw = pd.DataFrame({"lead_id": ["L1"], "created_at": ["2025-01-01"], "channel": ["email"]})
    leads = validate_leads(raw)
    stages = pd.DataFrame(
        {"lead_id": ["L9"], "stage": ["won"], "ts": ["soon"], "deal_value_eur": ["-1"]}
    )
    result = validate_stages(stages, leads)
    assert len(result.quarantined) == 1
    reason = result.quarantined["reason"].iloc[0]
    for part in ("stage 'won'", "ts 'soon'", "deal_value_eur '-1'", "lead_id 'L9'"):
        assert part in reason
    assert result.reasons == {
        "deal_value_eur_negative": 1,
        "lead_id_unknown": 1,
        "stage_unknown": 1,
        "ts_not_timestamp": 1,
    }


# --- kept rows: typed, trimmed, UTC; warnings for what is kept but odd ---


def test_kept_tables_are_typed_per_contract(bad):
    leads, events, stages = bad["leads"].kept, bad["events"].kept, bad["stages"].kept
    assert str(leads["created_at"].dtype) == TIMESTAMP
    assert str(leads["company_size"].dtype) == "Int64"
    assert str(leads["lead_id"].dtype) == "str"
    assert str(events["ts"].dtype) == TIMESTAMP
    assert str(stages["deal_value_eur"].dtype) == "float64"
    LEADS_SCHEMA.validate(leads)
    EVENTS_SCHEMA.validate(events)
    STAGES_SCHEMA.validate(stages)


def test_strings_are_trimmed_and_blank_optional_values_are_missing(bad):
    lead = bad["leads"].kept.set_index("lead_id").loc["L002"]
    assert lead["channel"] == "paid_search"
    assert lead["job_role"] == "cto"
    assert pd.isna(lead["company_size"])
    assert pd.isna(lead["email_domain"])


def test_timestamps_become_utc_and_naive_means_utc(bad):
    created = bad["leads"].kept.set_index("lead_id")["created_at"]
    assert created["L002"] == pd.Timestamp("2025-01-03 14:00", tz="UTC")  # naive, padded
    assert created["L008"] == pd.Timestamp("2025-01-09 22:00", tz="UTC")  # +02:00


def test_unknown_event_type_is_kept_and_counted_as_a_warning(bad):
    events = bad["events"]
    assert "webinar_view" in set(events.kept["event_type"])
    assert events.warnings["event_type_unknown"] == 1
    assert events.unknown_values["event_type"] == {"webinar_view": 1}


def test_unknown_channel_is_kept_and_counted_as_a_warning(bad):
    assert "tiktok" in set(bad["leads"].kept["channel"])
    assert bad["leads"].warnings["channel_unknown"] == 1


def test_event_before_lead_created_is_kept_and_counted_as_a_warning(bad):
    events = bad["events"]
    early = pd.Timestamp("2024-12-20 10:00", tz="UTC")
    assert (events.kept["ts"] == early).any()
    assert events.warnings["ts_before_lead_created_at"] == 1


def test_extra_columns_are_dropped_from_kept_and_listed(good):
    leads = good["leads"]
    assert "crm_owner" not in leads.kept.columns
    assert leads.summary()["ignored_columns"] == ["crm_owner"]


def test_absent_optional_columns_are_added_empty_and_listed():
    raw = pd.DataFrame({"lead_id": ["L1"], "created_at": ["2025-01-01"], "channel": ["email"]})
    result = validate_leads(raw)
    assert list(result.kept.columns) == list(LEADS_SCHEMA.columns)
    assert result.kept["company_size"].isna().all()
    assert "company_size" in result.missing_optional_columns


# --- valid input, and CSV vs Parquet ---


def test_valid_input_passes_untouched(good):
    for result in good.values():
        assert result.quarantined.empty
        assert result.reasons == {}
    leads = good["leads"].kept
    assert leads["lead_id"].tolist() == ["L001", "L002", "L003", "L004"]
    assert leads["company_size"].tolist()[0] == 250
    assert good["stages"].kept["deal_value_eur"].max() == 16000.5
    again = validate_leads(leads)  # typed output validates to itself
    pd.testing.assert_frame_equal(again.kept, leads)


@pytest.mark.parametrize("typed", [False, True], ids=["parquet-text", "parquet-timestamps"])
def test_csv_and_parquet_inputs_give_the_same_kept_data(tmp_path, bad, typed):
    for table in ("leads", "events", "stages"):
        frame = read_table(FIXTURES / "bad" / f"{table}.csv")
        if typed:  # a typed export: naive datetimes (UTC); unparseable ones are already NaT
            column = "created_at" if table == "leads" else "ts"
            text = frame[column].str.strip()
            frame[column] = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
            frame[column] = frame[column].dt.tz_convert(None)
        frame.to_parquet(tmp_path / f"{table}.parquet", index=False)
    from_parquet = triage(tmp_path, ".parquet")
    for table, result in bad.items():
        pd.testing.assert_frame_equal(from_parquet[table].kept, result.kept)
        assert len(from_parquet[table].quarantined) == len(result.quarantined)


def test_parquet_with_tz_aware_and_numeric_columns_is_typed_the_same(good):
    leads = good["leads"].kept
    raw = leads.assign(
        created_at=leads["created_at"].dt.tz_convert("Europe/Berlin"),
        company_size=leads["company_size"].astype("float64"),
    )
    pd.testing.assert_frame_equal(validate_leads(raw).kept, leads)


# --- errors: missing column, unreadable file ---


def test_missing_required_column_raises_data_error_naming_file_and_column():
    raw = read_table(FIXTURES / "missing_column" / "events.csv")
    leads = validate_leads(read_table(FIXTURES / "good" / "leads.csv"))
    with pytest.raises(DataError, match=r"events\.csv: missing required column 'ts'"):
        validate_events(raw, leads, source="events.csv")


def test_missing_column_exits_non_zero_with_clear_message_via_cli(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        f"paths:\n  interim: {tmp_path / 'interim'}\n  personas: {PROJECT / 'personas.yaml'}\n"
    )
    result = CliRunner().invoke(
        app, ["validate", "--params", str(params), "--raw", str(FIXTURES / "missing_column")]
    )
    assert result.exit_code != 0
    output = result.output + (result.stderr if hasattr(result, "stderr") else "")
    assert "events.csv" in output
    assert "missing required column 'ts'" in output
    assert not (tmp_path / "interim" / "leads.parquet").exists()  # stopped before any work


def test_unreadable_file_stops_with_a_message_naming_it(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "good", raw)
    (raw / "stages.csv").unlink()
    (raw / "stages.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"stages\.parquet: cannot read"):
        stage.main(params_for(tmp_path), raw_dir=raw)


def test_leadscore_validate_subprocess_exits_non_zero_on_missing_column(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        f"paths:\n  interim: {tmp_path / 'interim'}\n  personas: {PROJECT / 'personas.yaml'}\n"
    )
    exe = shutil.which("leadscore") or ""
    cmd = [exe] if exe else [sys.executable, "-m", "pipeline.cli"]
    run = subprocess.run(
        [*cmd, "validate", "--params", str(params), "--raw", str(FIXTURES / "missing_column")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        timeout=120,
    )
    assert run.returncode != 0
    assert "events.csv" in run.stderr
    assert "missing required column 'ts'" in run.stderr
    assert "Traceback" not in run.stderr


# --- the stage: files on disk and the summary ---


def test_stage_writes_typed_tables_quarantine_and_a_reconciled_summary(tmp_path, capsys):
    summary = stage.main(params_for(tmp_path), raw_dir=FIXTURES / "bad")
    interim = tmp_path / "interim"
    on_disk = json.loads((interim / "validation_summary.json").read_text())
    assert on_disk == summary
    for table, counts in summary.items():
        kept = pd.read_parquet(interim / f"{table}.parquet")
        quarantined = pd.read_parquet(interim / "quarantine" / f"{table}.parquet")
        assert counts["rows_kept"] == len(kept)
        assert counts["rows_quarantined"] == len(quarantined)
        assert counts["rows_in"] == len(kept) + len(quarantined)
    assert str(pd.read_parquet(interim / "leads.parquet")["created_at"].dtype) == TIMESTAMP
    assert (interim / "personas.yaml").read_text() == (PROJECT / "personas.yaml").read_text()
    printed = capsys.readouterr().out
    assert "quarantined" in printed
    assert "created_at_not_timestamp" in printed


def test_stage_writes_empty_quarantine_files_for_clean_input(tmp_path):
    summary = stage.main(params_for(tmp_path), raw_dir=FIXTURES / "good")
    assert all(s["rows_quarantined"] == 0 for s in summary.values())
    q = pd.read_parquet(tmp_path / "interim" / "quarantine" / "events.parquet")
    assert q.empty
    assert {"source_row", "reason"} <= set(q.columns)


def test_personas_shipped_with_the_export_are_validated_and_preferred(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "good", raw)
    (raw / "personas.yaml").write_text("personas: []\n")
    with pytest.raises(Exception, match="personas"):
        stage.main(params_for(tmp_path), raw_dir=raw)


def test_summary_mismatch_is_an_error():
    broken = {"leads": {"rows_in": 3, "rows_kept": 1, "rows_quarantined": 1}}
    with pytest.raises(RuntimeError, match="3 rows in but 1 kept"):
        stage.check_reconciles(broken)


# --- contract on simulated data ---


def test_simulated_data_validates_with_nothing_quarantined(tmp_path):
    from pipeline import simulate

    paths = {
        "raw": str(tmp_path / "raw"),
        "truth": str(tmp_path / "truth"),
        "interim": str(tmp_path / "interim"),
        "personas": str(PROJECT / "personas.yaml"),
    }
    params = Params.model_validate({"paths": paths, "simulate": {"n_leads": 300}})
    simulate.main(params)
    summary = stage.main(params)
    for table, counts in summary.items():
        # The simulator's tracking double-fires are real duplicate events: kept, not quarantined.
        assert counts["rows_quarantined"] == 0, (table, counts["reasons"])
        assert counts["rows_kept"] == counts["rows_in"] > 0
    assert "event_type_unknown" not in summary["events"]["warnings"]
    assert summary["stages"]["warnings"] == {}
