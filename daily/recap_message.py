"""The daily recap as a message: subject, plain text and HTML, rendered from the day's summary
(daily/summary.py) alone, so the e-mail, the dashboard's recap page and /v1/summary carry the
same figures. Pure: same summary, same bytes.

The HTML is self-contained (inline styles, no scripts, no remote images): mail clients strip
<style> blocks and block remote content, and a manager forwards it as it is. Each figure sits in
an element with `data-figure="<summary field>"`, which is how the tests find it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from daily.summary import figure

# The figures the recap shows, in order: summary field -> words beside it.
RECAP_FIGURES: tuple[tuple[str, str], ...] = (
    ("targets.leads", "Leads target"),
    ("targets.mqls", "MQL target"),
    ("targets.sqls", "SQL target"),
    ("month_to_date.leads", "Leads so far"),
    ("month_to_date.mqls_crm", "MQLs by the CRM so far"),
    ("month_to_date.mqls_handoff", "MQLs by hand-off so far"),
    ("month_to_date.sqls", "SQLs so far"),
    ("open_leads", "Open leads"),
    ("handoff", "Handed to sales today"),
    ("overdue", "Hand-offs past their deadline"),
)


@dataclass(frozen=True)
class RecapMessage:
    subject: str
    text: str
    html: str


def shown(value: Any) -> str:
    """A figure as the recap and every page write it: whole number with thousands commas."""
    if value is None:
        return "-"
    return f"{float(value):,.0f}"


def recap_message(summary: dict[str, Any]) -> RecapMessage:
    """Subject, text and HTML of the day's recap."""
    month, day = summary["month"], summary["date"]
    t = summary.get("targets") or {}
    m = summary["month_to_date"]
    subject = (
        f"leadscore recap {day}: {shown(m['mqls_crm'])} of {shown(t.get('mqls'))} MQLs "
        f"({month}), {shown(summary['handoff'])} handed to sales today"
    )
    frozen = (
        f"Targets frozen {str(t['frozen_at'])[:10]} from agreement version "
        f"{t['agreement_version']}."
        if t
        else "No targets are frozen for this month."
    )
    lines = [f"Month {month} to the run of {day} (data to {day} 00:00 UTC)", ""]
    lines += [f"{label:<32} {shown(figure(summary, path)):>10}" for path, label in RECAP_FIGURES]
    lines += ["", frozen, ""]
    lines += [f"- {text}" for text in summary["definitions"].values()]
    lines += ["", f"The same figures as JSON: GET /v1/summary?date={day}"]
    rows = "".join(
        f'<tr><td style="padding:4px 12px 4px 0;color:#475569">{html.escape(label)}</td>'
        f'<td style="padding:4px 0;text-align:right;font-weight:600" data-figure="{path}">'
        f"{shown(figure(summary, path))}</td></tr>"
        for path, label in RECAP_FIGURES
    )
    definitions = "".join(
        f'<li style="margin:2px 0">{html.escape(text)}</li>'
        for text in summary["definitions"].values()
    )
    body = (
        '<div style="font-family:system-ui,sans-serif;color:#0f172a;max-width:560px" '
        f'id="recap" data-date="{day}" data-month="{month}">'
        f'<h1 style="font-size:18px;margin:0 0 4px">leadscore recap {html.escape(day)}</h1>'
        f'<p style="color:#475569;margin:0 0 10px">Month {html.escape(month)} to the run of '
        f"{html.escape(day)} (data to {html.escape(day)} 00:00 UTC)</p>"
        f'<table style="border-collapse:collapse">{rows}</table>'
        f'<p style="color:#475569;font-size:13px">{html.escape(frozen)}</p>'
        f'<ul style="color:#475569;font-size:13px;padding-left:18px">{definitions}</ul>'
        f'<p style="color:#475569;font-size:13px">The same figures as JSON: '
        f"<code>GET /v1/summary?date={html.escape(day)}</code></p></div>"
    )
    return RecapMessage(subject, "\n".join(lines) + "\n", body)
