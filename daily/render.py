"""The files a daily run writes, as text: CSV and JSON for a CRM import, Markdown and an HTML
e-mail body for the recap. Pure: same inputs, same bytes (no clock, sorted rows, fixed float
precision), so re-running a day rewrites identical files.

The HTML is self-contained (inline styles only, no scripts, no external images or fonts): mail
clients strip <style> blocks and block remote content, and a manager forwards it as it is.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd

from daily.activity import ACTIVITY_COLUMNS
from daily.handoff import HANDOFF_COLUMNS
from foundation.csv_safe import frame_csv

# The hand-off record with its activity summary spread into columns (a CRM import wants flat).
HANDOFF_CSV_COLUMNS: tuple[str, ...] = (
    *(c for c in HANDOFF_COLUMNS if c != "activity"),
    *(c for c in ACTIVITY_COLUMNS if c not in ("lead_id", "download_topics", "activity")),
    "download_topics",
    "activity",
)
METRIC_LABELS = {
    "leads": "Leads",
    "mqls": "MQLs",
    "sqls": "SQLs",
    "customers": "Customers",
    "revenue_eur": "Revenue (EUR)",
}
TOP_HANDOFF_ROWS = 10


def _csv(frame: pd.DataFrame) -> str:
    # Cells made inert for spreadsheets: ids and channels come from web forms.
    return frame_csv(frame, float_format="%.6g")


def handoff_csv(handoff: pd.DataFrame) -> str:
    """One row per handed-over lead, activity flattened into columns, reasons joined by '; '."""
    rows = []
    for r in handoff.to_dict("records"):
        activity = r.get("activity") or {}
        row = {c: r.get(c) for c in HANDOFF_CSV_COLUMNS if c in r and c != "activity"}
        row["reasons"] = "; ".join(r.get("reasons") or [])
        for c in ACTIVITY_COLUMNS:
            if c not in ("lead_id", "download_topics", "activity"):
                row[c] = activity.get(c)
        row["download_topics"] = ", ".join(
            f"{t} {n}" for t, n in (activity.get("download_topics") or {}).items()
        )
        row["activity"] = activity.get("activity", "")
        rows.append(row)
    return _csv(pd.DataFrame(rows, columns=list(HANDOFF_CSV_COLUMNS)))


def handoff_json(handoff: pd.DataFrame, header: dict[str, Any]) -> str:
    """{run_date, as_of, model, threshold, follow_up_hours, leads: [...]}: the CRM import."""
    leads = [{k: _plain(v) for k, v in r.items()} for r in handoff.to_dict("records")]
    return json.dumps({**header, "n_leads": len(leads), "leads": leads}, indent=2) + "\n"


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, str | bytes | dict | list):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    if isinstance(value, float) and value != value:
        return None
    return value


def table_csv(frame: pd.DataFrame, columns: tuple[str, ...]) -> str:
    """returning.csv / overdue.csv: the given columns, header even when empty."""
    return _csv(frame.reindex(columns=list(columns)))


def _fmt(value: Any, money: bool = False) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if money:
        return f"{float(value):,.0f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}" if isinstance(value, int | float) else str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.0f}%"


def metric_rows(recap: dict[str, Any]) -> list[list[str]]:
    """Metric, so far, target, even-pace target, projected month end with its interval."""
    rows = []
    for key, label in METRIC_LABELS.items():
        m = recap["metrics"][key]
        money = key == "revenue_eur"
        rows.append(
            [
                label,
                _fmt(m["actual"], money),
                _fmt(m["target"], money),
                _fmt(m["pace_target"], money),
                f"{_fmt(float(round(m['projected'])), money)} ({_fmt(m['low'], money)} to "
                f"{_fmt(m['high'], money)})",
            ]
        )
    return rows


def _headline(recap: dict[str, Any], counts: dict[str, int]) -> list[str]:
    f = recap["follow_up"]
    level = f"{100 * recap['interval_level']:.0f}%"
    return [
        f"{recap['month']} to date, day {recap['days_elapsed']:g} of {recap['days_in_month']}; "
        f"{recap['open_leads']:,} open leads scored.",
        f"Hand-off today: {counts['handoff']} new MQLs; {counts['returning']} returning leads; "
        f"{counts['overdue']} overdue follow-ups.",
        f"Follow-up within {f['hours']:g} h: {_pct(f['compliance'])} of {f['mqls_due']} due MQLs "
        f"(agreed {_pct(f['agreed_compliance'])}); {f['mqls_pending']} still within their time.",
        f"Projected month end: expected value with its {level} interval (docs/managers.md: how the "
        "projection is computed).",
    ]


HEADERS = ("", "so far", "month target", "target by today", "projected month end")
CELL_HEADERS = ("channel", "persona", "leads", "MQLs", "SQLs", "customers", "revenue (EUR)")


def _cell_rows(recap: dict[str, Any]) -> list[list[str]]:
    rows = []
    for c in recap["cells"]:
        rows.append(
            [
                str(c["channel"]),
                str(c["persona"]),
                *(
                    f"{_fmt(c.get(k))} / {_fmt(c.get(k + '_target'))}"
                    for k in ("leads", "mqls", "sqls", "customers")
                ),
                f"{_fmt(c.get('revenue_eur'), True)} / {_fmt(c.get('revenue_target_eur'), True)}",
            ]
        )
    return rows


def lead_page_url(dashboard_url: str | None, lead_id: Any) -> str | None:
    """The lead page's address on the dashboard at `dashboard_url` (None: no dashboard set)."""
    from urllib.parse import quote

    if not dashboard_url:
        return None
    return f"{dashboard_url.rstrip('/')}/dashboard/leads/{quote(str(lead_id), safe='')}"


def _handoff_rows(handoff: pd.DataFrame) -> list[list[str]]:
    rows = []
    for r in handoff.head(TOP_HANDOFF_ROWS).to_dict("records"):
        rows.append(
            [
                str(r["lead_id"]),
                str(r.get("owner") or "-"),
                f"{r['score']} ({r.get('tier') or '-'}, {r.get('grade') or '-'})",
                f"{r.get('channel') or '-'} / {r.get('persona') or '-'}",
                "; ".join(r.get("reasons") or []) or "-",
                str(r["followup_deadline"])[:16].replace("T", " "),
            ]
        )
    return rows


HANDOFF_HEADERS = (
    "lead",
    "owner",
    "score (tier, grade)",
    "channel / persona",
    "why",
    "call by (UTC)",
)


_MARKDOWN_INERT = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "\\[", "]": "\\]", "|": "/", "\n": " ", "\r": " "}
)


def md_cell(text: str) -> str:
    """A table cell as inert Markdown: lead fields come from web forms, and a Markdown viewer
    renders raw HTML (`<script>`, `<meta http-equiv=refresh>`) and links (`[x](javascript:..)`,
    `<javascript:..>`). Entities for `& < >` and escaped brackets show the text as typed; `|`
    and line breaks would end the cell or the row."""
    return text.translate(_MARKDOWN_INERT)


def _md_table(
    headers: tuple[str, ...], rows: list[list[str]], links: list[str | None] | None = None
) -> str:
    """`links[i]`: the address row i's first cell links to (our own URL, percent-quoted; the
    cell's text stays inert)."""

    def line(cells: list[str] | tuple[str, ...], link: str | None = None) -> str:
        shown = [md_cell(c) for c in cells]
        if link and shown:
            shown[0] = f"[{shown[0]}](<{link}>)"
        return "| " + " | ".join(shown) + " |"

    links = links or [None] * len(rows)
    body = (line(r, link) for r, link in zip(rows, links, strict=True))
    return "\n".join([line(headers), line(["---"] * len(headers)), *body])


def _links(handoff: pd.DataFrame, dashboard_url: str | None) -> list[str | None]:
    return [lead_page_url(dashboard_url, i) for i in handoff.head(TOP_HANDOFF_ROWS)["lead_id"]]


def recap_markdown(
    recap: dict[str, Any],
    handoff: pd.DataFrame,
    counts: dict[str, int],
    title: str,
    dashboard_url: str | None = None,
) -> str:
    """The recap in Markdown; with `dashboard_url` each hand-off lead links to its lead page."""
    parts = [f"# {title}", "", *(f"- {line}" for line in _headline(recap, counts)), ""]
    links = _links(handoff, dashboard_url)
    parts += ["## Month to date", "", _md_table(HEADERS, metric_rows(recap)), ""]
    if len(handoff):
        shown = min(len(handoff), TOP_HANDOFF_ROWS)
        parts += [f"## Today's hand-off (top {shown} of {len(handoff)})", ""]
        parts += [_md_table(HANDOFF_HEADERS, _handoff_rows(handoff), links), ""]
    if recap["cells"]:
        parts += ["## Channel x persona (so far / month target)", ""]
        parts += [_md_table(CELL_HEADERS, _cell_rows(recap)), ""]
    return "\n".join(parts)


_TABLE = "border-collapse:collapse;font-size:13px;margin:8px 0 16px 0"
_TH = "text-align:left;border-bottom:2px solid #444;padding:4px 8px;background:#f2f2f2"
_TD = "border-bottom:1px solid #ddd;padding:4px 8px;vertical-align:top"


def _html_table(
    headers: tuple[str, ...], rows: list[list[str]], links: list[str | None] | None = None
) -> str:
    head = "".join(f'<th style="{_TH}">{html.escape(h)}</th>' for h in headers)
    links = links or [None] * len(rows)

    def cells(row: list[str], link: str | None) -> str:
        shown = [html.escape(c) for c in row]
        if link and shown:
            shown[0] = f'<a href="{html.escape(link)}">{shown[0]}</a>'
        return "".join(f'<td style="{_TD}">{c}</td>' for c in shown)

    body = "".join(f"<tr>{cells(row, link)}</tr>" for row, link in zip(rows, links, strict=True))
    return f'<table style="{_TABLE}"><tr>{head}</tr>{body}</table>'


def recap_html(
    recap: dict[str, Any],
    handoff: pd.DataFrame,
    counts: dict[str, int],
    title: str,
    dashboard_url: str | None = None,
) -> str:
    """A complete HTML document with inline styles only (see the module docstring); with
    `dashboard_url` each hand-off lead links to its lead page there."""
    h2 = 'style="font-size:16px;margin:16px 0 4px 0"'
    items = "".join(f"<li>{html.escape(line)}</li>" for line in _headline(recap, counts))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title></head>",
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#222;max-width:900px">',
        f'<h1 style="font-size:20px">{html.escape(title)}</h1>',
        f"<ul>{items}</ul>",
        f"<h2 {h2}>Month to date</h2>",
        _html_table(HEADERS, metric_rows(recap)),
    ]
    if len(handoff):
        shown = min(len(handoff), TOP_HANDOFF_ROWS)
        parts += [f"<h2 {h2}>Today's hand-off (top {shown} of {len(handoff)})</h2>"]
        parts += [
            _html_table(HANDOFF_HEADERS, _handoff_rows(handoff), _links(handoff, dashboard_url))
        ]
    if recap["cells"]:
        parts += [f"<h2 {h2}>Channel x persona (so far / month target)</h2>"]
        parts += [_html_table(CELL_HEADERS, _cell_rows(recap))]
    parts += ["</body></html>", ""]
    return "\n".join(parts)


def summary_json(
    header: dict[str, Any],
    counts: dict[str, int],
    recap: dict[str, Any],
    validation: dict[str, dict[str, Any]],
) -> str:
    """The run in one small file: what was scored with what, what came out, the recap."""
    rows = {
        t: {k: s[k] for k in ("rows_in", "rows_kept", "rows_quarantined")}
        for t, s in validation.items()
    }
    return (
        json.dumps(
            {**header, "counts": counts, "validation": rows, "recap": recap},
            indent=2,
            default=str,
        )
        + "\n"
    )
