"""Hostile exports: `leadscore validate` says exactly what it accepts. A non-UTF-8 byte
quarantines its row (file, line, column), not the file; a header-only table is a warning (leads:
an error); a file with another delimiter is named as such. Chunked triage equals whole-table
triage, duplicates across chunks included; counts reconcile in every case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import foundation.chunks as chunks
from features.triage import validate_events, validate_leads, validate_stages
from foundation.errors import DataError
from foundation.io import read_table
from foundation.params import Params
from pipeline import validate as stage
from pipeline.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
PROJECT = Path(__file__).resolve().parents[1]


def params_for(tmp_path: Path, chunk_rows: int = 1_000_000) -> Params:
    return Params.model_validate(
        {
            "paths": {
                "interim": str(tmp_path / "interim"),
                "personas": str(PROJECT / "personas.yaml"),
            },
            "engine": {"chunk_rows": max(chunk_rows, 1000)},
        }
    )


def good_export(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "good", raw)
    return raw


def reconciles(summary: dict) -> None:
    for table, s in summary.items():
        assert s["rows_in"] == s["rows_kept"] + s["rows_quarantined"], table


def test_a_non_utf8_byte_quarantines_only_its_row_naming_line_column_and_field(tmp_path):
    raw = good_export(tmp_path)
    lines = (raw / "events.csv").read_bytes().splitlines(keepends=True)
    header = lines[0].decode().strip().split(",")
    # Third data row (file line 4): one Latin-1 byte inside the event_type cell.
    fields = lines[3].split(b",")
    at = header.index("event_type")
    fields[at] = fields[at][:3] + b"\xe9" + fields[at][3:]
    lines[3] = b",".join(fields)
    (raw / "events.csv").write_bytes(b"".join(lines))

    summary = stage.main(params_for(tmp_path), raw_dir=raw)

    reconciles(summary)
    events = summary["events"]
    assert events["rows_in"] == len(lines) - 1
    assert events["rows_quarantined"] == 1
    assert events["reasons"] == {"event_type_not_utf8": 1}
    quarantine = read_table(tmp_path / "interim" / "quarantine" / "events.parquet")
    assert quarantine["source_row"].tolist() == [3]
    reason = quarantine["reason"].iloc[0]
    column = len(b",".join(fields[:at])) + 1 + 3 + 1  # 1-based character of the byte
    assert f"events.csv line 4, column {column} (field 'event_type')" in reason
    assert "0xE9 is not UTF-8" in reason
    assert "\ufffd" in quarantine["event_type"].iloc[0]  # the row as read, byte replaced
    kept = read_table(tmp_path / "interim" / "events.parquet")
    assert len(kept) == len(lines) - 2


def test_whole_file_read_of_a_non_utf8_file_points_at_the_byte(tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(b"lead_id,ts,event_type\nL1,2026-01-01,site_visit\nL2,2026-01-0\xff1,x\n")
    with pytest.raises(DataError, match=r"line 3, column 13 \(field 'ts'\): byte 0xFF"):
        read_table(path)


def test_header_only_events_is_a_warning_in_summary_and_terminal(tmp_path, capsys):
    raw = good_export(tmp_path)
    header = (raw / "events.csv").read_text().splitlines()[0]
    (raw / "events.csv").write_text(header + "\n")

    summary = stage.main(params_for(tmp_path), raw_dir=raw)

    assert summary["events"]["empty"] is True
    assert summary["events"]["rows_in"] == 0
    assert summary["leads"]["empty"] is False
    reconciles(summary)
    written = json.loads((tmp_path / "interim" / "validation_summary.json").read_text())
    assert written["events"]["empty"] is True
    out = capsys.readouterr().out
    assert "warning: events: the file has a header and no rows" in out
    # The typed table still exists, with its columns, for the stages after.
    assert list(read_table(tmp_path / "interim" / "events.parquet").columns)[:3] == [
        "lead_id",
        "ts",
        "event_type",
    ]


def test_header_only_leads_is_an_error_naming_the_file_and_leaves_the_outputs_alone(tmp_path):
    """The last good run's tables and summary stay as they were: the empty leads file is
    refused before anything is written or deleted."""
    raw = good_export(tmp_path)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params_for(tmp_path).model_dump(mode="json")))
    first = CliRunner().invoke(app, ["validate", "--raw", str(raw), "--params", str(params_file)])
    assert first.exit_code == 0, first.output
    before = {p: p.read_bytes() for p in (tmp_path / "interim").rglob("*") if p.is_file()}
    assert tmp_path / "interim" / "validation_summary.json" in before

    header = (raw / "leads.csv").read_text().splitlines()[0]
    (raw / "leads.csv").write_text(header + "\n")
    result = CliRunner().invoke(app, ["validate", "--raw", str(raw), "--params", str(params_file)])
    assert result.exit_code == 2
    assert "leads.csv: the file has a header and no rows; leads are required" in result.output
    after = {p: p.read_bytes() for p in (tmp_path / "interim").rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon ';'"), ("\t", "tab '\\t'")])
def test_another_delimiter_is_detected_and_named(tmp_path, delimiter, name):
    raw = good_export(tmp_path)
    events = read_table(raw / "events.csv")
    events.to_csv(raw / "events.csv", index=False, sep=delimiter)
    with pytest.raises(DataError) as caught:
        stage.main(params_for(tmp_path), raw_dir=raw)
    message = str(caught.value)
    assert "events.csv" in message
    assert f"separated by {name}, not by a comma" in message


@pytest.mark.parametrize("folder", ["bad", "good"])
def test_chunked_triage_equals_whole_table_triage(tmp_path, monkeypatch, folder):
    """Tiny CSV blocks (one or two rows each): duplicates of a lead kept in an earlier chunk are
    still found, rows keep their file numbers, and every output equals the whole-table triage."""
    source = FIXTURES / folder
    leads = validate_leads(read_table(source / "leads.csv"), source=str(source / "leads.csv"))
    whole = {
        "leads": leads,
        "events": validate_events(read_table(source / "events.csv"), leads, str(source)),
        "stages": validate_stages(read_table(source / "stages.csv"), leads, str(source)),
    }
    monkeypatch.setattr(chunks, "DEFAULT_CSV_BLOCK_BYTES", 40)
    assert len(chunks.csv_blocks(source / "leads.csv")) > 3
    summary = stage.main(params_for(tmp_path), raw_dir=source)
    for table, result in whole.items():
        assert summary[table] == result.summary() | {"empty": False}
        kept = read_table(tmp_path / "interim" / f"{table}.parquet")
        pd.testing.assert_frame_equal(kept, result.kept, check_dtype=False)
        quarantine = read_table(tmp_path / "interim" / "quarantine" / f"{table}.parquet")
        pd.testing.assert_frame_equal(
            quarantine.drop(columns="reason"),
            result.quarantined.drop(columns="reason"),
            check_dtype=False,
        )
        assert quarantine["reason"].tolist() == [
            r.replace(str(source), str(source / f"{table}.csv"))
            if str(source) in r and f"{table}.csv" not in r
            else r
            for r in result.quarantined["reason"]
        ]


def test_csv_blocks_never_cut_a_quoted_field_and_count_rows_like_pandas(tmp_path):
    path = tmp_path / "leads.csv"
    rows = [f'L{i},"multi\nline {i}",x' for i in range(50)]
    path.write_text("lead_id,note,other\n" + "\n\n".join(rows) + "\n")
    whole = read_table(path)
    columns = chunks.table_columns(path)
    blocks = chunks.csv_blocks(path, block_bytes=30)
    parts = [chunks.read_csv_block(path, b, columns) for b in blocks]
    pd.testing.assert_frame_equal(pd.concat([p.frame for p in parts], ignore_index=True), whole)
    assert [p.first_row for p in parts] == [b.first_row for b in blocks]
    assert sum(b.rows for b in blocks) == len(whole) == 50
