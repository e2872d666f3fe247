"""What a page is made of: panels, each a chart (a Vega-Lite spec) and the table of its numbers.

Tables are formatted here, once: the page shows these strings and the CSV download writes the
very same strings, so a reader who downloads a table gets exactly what they saw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from foundation.csv_safe import rows_csv

Formatter = Callable[[Any], str]


def blank(value: Any) -> bool:
    """True for None, NaN and NaT: shown as an empty cell, never as 'nan'."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def count(value: Any) -> str:
    return "" if blank(value) else f"{round(float(value)):,}"


def number(value: Any, digits: int = 1) -> str:
    return "" if blank(value) else f"{float(value):,.{digits}f}"


def three(value: Any) -> str:
    return number(value, 3)


def when(value: Any) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM' UTC; '' for none. NaT too: a stored hand-off without a
    follow-up deadline reads back as NaT, whose strftime raises (the Today page answered 500)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%d %H:%M")


def percent(value: Any) -> str:
    return "" if blank(value) else f"{100 * float(value):.1f}%"


def eur(value: Any) -> str:
    return "" if blank(value) else f"{float(value):,.0f}"


def text(value: Any) -> str:
    if blank(value):
        return ""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Column:
    """A column of a displayed table: source field, header, formatter, alignment."""

    field: str
    header: str
    fmt: Formatter = text
    numeric: bool = False


def col(field: str, header: str, fmt: Formatter = text) -> Column:
    return Column(field, header, fmt, numeric=fmt is not text)


LEAD_LINK_FIELDS = frozenset({"lead_id"})  # cells shown as a link to /dashboard/leads/{id}


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    lead_links: tuple[bool, ...] = ()  # per column: its cells are lead ids (macros.html links)

    def csv(self) -> str:
        """The table as a download, cells made inert for spreadsheets (foundation/csv_safe)."""
        return rows_csv(self.headers, self.rows)


def table(frame: pd.DataFrame | Sequence[dict[str, Any]], columns: Sequence[Column]) -> Table:
    """Format the chosen columns of `frame` (a DataFrame or a list of dicts) for display."""
    records = frame.to_dict("records") if isinstance(frame, pd.DataFrame) else list(frame)
    rows = tuple(tuple(c.fmt(r.get(c.field)) for c in columns) for r in records)
    return Table(
        headers=tuple(c.header for c in columns),
        rows=rows,
        numeric=tuple(c.numeric for c in columns),
        lead_links=tuple(c.field in LEAD_LINK_FIELDS for c in columns),
    )


@dataclass(frozen=True)
class Panel:
    """One card on a page: a title, a sentence saying how to read it, a chart, its table."""

    name: str  # stable id: the element id and the CSV file name
    title: str
    table: Table
    spec: dict[str, Any] | None = None
    note: str = ""
    wide: bool = False
    table_open: bool = False  # tables of charts start folded; tables without charts are open


@dataclass
class Page:
    """A rendered page's content: panels in order plus free facts for the template."""

    title: str
    panels: list[Panel] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # missing inputs, said in words

    def panel(self, name: str) -> Panel | None:
        return next((p for p in self.panels if p.name == name), None)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for a Vega-Lite inline dataset: NaN -> null, numpy scalars -> Python, times -> ISO."""
    clean = frame.astype(object).where(frame.notna(), None)
    out = []
    for row in clean.to_dict("records"):
        item = {}
        for key, value in row.items():
            if hasattr(value, "item"):
                value = value.item()
            if isinstance(value, pd.Timestamp):
                value = value.isoformat()
            item[str(key)] = value
        out.append(item)
    return out
