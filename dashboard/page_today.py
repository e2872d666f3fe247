"""Today page: month-to-date against the SLA, the latest hand-off, returning and overdue leads,
and who is behind. Everything comes from the store's latest run (the daily job's recap)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from dashboard import charts
from dashboard.panels import (
    Page,
    Panel,
    col,
    count,
    eur,
    number,
    percent,
    records,
    table,
    when,
)
from dashboard.sources import Sources
from foundation.errors import LeadscoreError

METRIC_NAMES = {
    "leads": "Leads",
    "mqls": "MQLs by the CRM",
    "sqls": "SQLs",
    "customers": "Customers",
    "revenue_eur": "Revenue EUR",
}


def _expand(frame: pd.DataFrame) -> pd.DataFrame:
    """Store rows with a `payload` dict -> one column per payload key (store columns win)."""
    if frame is None or not len(frame):
        return pd.DataFrame()
    if "payload" not in frame.columns:
        return frame
    payload = pd.DataFrame([p if isinstance(p, dict) else {} for p in frame["payload"]])
    payload.index = frame.index
    keep = frame.drop(columns=["payload"])
    return pd.concat([keep, payload.drop(columns=[c for c in payload if c in keep])], axis=1)


def _activity(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("activity") or "")
    return "" if value is None else str(value)


def _reasons(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)


def verdicts(recap: dict[str, Any], n_overdue: int) -> dict[str, dict[str, str]]:
    """Who is behind today: marketing on volume (MQLs against the even-pace target), sales on
    follow-up (share of due MQLs touched in time against the agreed share, and overdue leads)."""
    mqls = (recap.get("metrics") or {}).get("mqls") or {}
    pace, actual = mqls.get("pace_target"), mqls.get("actual")
    if pace is None or actual is None:
        marketing = {"state": "unknown", "text": "No MQL target to compare with."}
    elif actual >= pace:
        marketing = {
            "state": "ok",
            "text": f"On pace: {actual:,.0f} MQLs by the CRM so far, {pace:,.0f} expected by today "
            f"(target {mqls.get('target'):,.0f} for the month).",
        }
    else:
        marketing = {
            "state": "behind",
            "text": f"Behind on volume: {actual:,.0f} MQLs by the CRM so far, {pace:,.0f} expected "
            "by today "
            f"(target {mqls.get('target'):,.0f}); projected {mqls.get('projected', 0):,.0f}.",
        }
    follow = recap.get("follow_up") or {}
    share, agreed = follow.get("compliance"), follow.get("agreed_compliance")
    hours = follow.get("hours")
    due = follow.get("mqls_due")
    if share is None:
        sales = {"state": "unknown", "text": "No MQL due for follow-up yet this month."}
        if n_overdue:
            sales = {
                "state": "behind",
                "text": f"{n_overdue} leadscore hand-offs are past their deadline.",
            }
    elif share >= (agreed or 0) and not n_overdue:
        sales = {
            "state": "ok",
            "text": f"{share:.0%} of this month's {due} CRM MQLs due were contacted within "
            f"{hours:g} h (agreed {agreed:.0%}).",
        }
    else:
        sales = {
            "state": "behind",
            "text": f"{share:.0%} of this month's {due} CRM MQLs due were contacted within "
            f"{hours:g} h (agreed {agreed:.0%}). Separately, {n_overdue} leadscore hand-offs "
            "(any month) are past their deadline with no sales touch.",
        }
    return {"marketing": marketing, "sales": sales}


def build(sources: Sources, run_date: date | None = None) -> Page:
    page = Page("Today")
    try:
        run = sources.latest_run() if run_date is None else sources.store().run(run_date)
        runs = sources.runs()
    except LeadscoreError as exc:  # e.g. LEADSCORE_DB_URL unreachable: say so, keep the page
        page.problems.append(f"The store cannot be read: {exc}")
        return page
    page.facts["run_dates"] = (
        [str(d) for d in sorted(runs["run_date"], reverse=True)[:14]] if len(runs) else []
    )
    if run is None and run_date is not None:
        page.problems.append(f"The store holds no daily run of {run_date}.")
        return page
    if run is None:
        page.problems.append(
            "The store holds no daily run yet: schedule `leadscore daily` (it scores the open "
            "leads, writes the hand-off and the month-to-date recap here)."
        )
        return page
    frames = sources.run_frames(run.run_date)
    recap = run.recap or {}
    metrics = recap.get("metrics") or {}
    page.facts["run"] = run
    page.facts["subtitle"] = (
        f"Daily run of {run.run_date} · model {run.model_name} v{run.model_version} · "
        f"MQL threshold {run.threshold:g} · {run.n_open:,} open leads scored"
    )
    page.facts["kpis"] = [
        {
            "key": k,
            "name": METRIC_NAMES.get(k, k),
            "actual": m.get("actual"),
            "target": m.get("target"),
            "share": m.get("share_of_target"),
            "projected": m.get("projected"),
            "low": m.get("low"),
            "high": m.get("high"),
            "behind": (m.get("pace_target") or 0) > (m.get("actual") or 0),
        }
        for k, m in metrics.items()
    ]
    overdue = _expand(frames["overdue"])
    page.facts["verdicts"] = verdicts(recap, len(overdue))
    page.facts["month"] = recap.get("month")
    level = recap.get("interval_level")

    projection = [
        {
            "metric": METRIC_NAMES.get(k, k),
            **{
                f: m.get(f) for f in ("actual", "target", "pace_target", "projected", "low", "high")
            },
        }
        for k, m in metrics.items()
        if m.get("target")
    ]
    page.panels.append(
        Panel(
            "projection",
            f"Month to date and projected month end ({recap.get('month', '')})",
            table(
                projection,
                [
                    col("metric", "Metric"),
                    col("actual", "So far", eur),
                    col("pace_target", "Expected by today", eur),
                    col("target", "Month target", eur),
                    col("projected", "Projected", eur),
                    col("low", "Low", eur),
                    col("high", "High", eur),
                ],
            ),
            spec=charts.progress(
                projection, "metric", "actual", "target", "projected", "low", "high"
            ),
            note=f"Bar: share of the month's target reached so far. Orange tick: projected month "
            f"end, line: its {level:.0%} interval. Dashed: the target."
            if level
            else "Bar: share of the month's target reached so far.",
            wide=True,
        )
    )

    cells = pd.DataFrame(recap.get("cells") or [])
    if len(cells):
        target = cells["mqls_target"] if "mqls_target" in cells else pd.Series(0, index=cells.index)
        cells = cells.assign(
            share=cells["mqls"] / target.where(target > 0),
            label=[
                f"{int(m)} / {int(t)}" if t == t and t > 0 else f"{int(m)} / -"
                for m, t in zip(cells["mqls"], target, strict=True)
            ],
        )
        page.panels.append(
            Panel(
                "cells",
                "MQLs per channel and persona against the monthly SLA",
                table(
                    cells,
                    [
                        col("channel", "Channel"),
                        col("persona", "Persona"),
                        col("leads", "Leads", count),
                        col("leads_target", "Leads target", count),
                        col("mqls", "MQLs", count),
                        col("mqls_target", "MQL target", count),
                        col("share", "MQLs / target", percent),
                        col("sqls", "SQLs", count),
                        col("customers", "Customers", count),
                        col("revenue_eur", "Revenue EUR", eur),
                        col("follow_up_compliance", "Follow-up in time", percent),
                    ],
                ),
                spec=charts.heatmap(
                    records(cells.fillna({"share": 0})),
                    "persona",
                    "channel",
                    "share",
                    "label",
                    value_title="MQLs / monthly target",
                ),
                note="Each cell: MQLs so far / the month's MQL target for that channel and "
                "persona; green at or above target, red far below.",
                wide=True,
            )
        )

    handoff = _expand(frames["handoff"])
    if len(handoff):
        handoff = handoff.sort_values(["score", "lead_id"], ascending=[False, True])
        handoff = handoff.assign(
            reasons_text=handoff["reasons"].map(_reasons) if "reasons" in handoff else "",
            activity_text=handoff["activity"].map(_activity) if "activity" in handoff else "",
            deadline=handoff["followup_deadline"].map(when),
        )
    page.panels.append(
        Panel(
            "handoff",
            f"Hand-off of {run.run_date}: {len(handoff)} new MQLs for sales",
            table(
                handoff,
                [
                    col("lead_id", "Lead"),
                    col("owner", "Owner"),
                    col("channel", "Channel"),
                    col("persona", "Persona"),
                    col("score", "Score", count),
                    col("tier", "Tier"),
                    col("grade", "Grade"),
                    col("reasons_text", "Why"),
                    col("activity_text", "What they did"),
                    col("deadline", "Call by (UTC)"),
                ],
            ),
            note="Sorted by score. Each lead goes to sales once; the deadline is the agreed "
            "follow-up time after the hand-off.",
            wide=True,
        )
    )
    returning = _expand(frames["returning"])
    if len(returning):
        order = returning.get("status", pd.Series("", index=returning.index)) != "handed_over"
        score = (
            pd.to_numeric(returning.get("score"), errors="coerce") if "score" in returning else 0
        )
        returning = returning.assign(_order=order, _score=score).sort_values(
            ["_order", "_score", "lead_id"], ascending=[True, False, True]
        )
        returning = returning.assign(
            back=returning.get("back_at", pd.Series(dtype=object)).map(when)
        )
    page.panels.append(
        Panel(
            "returning",
            f"Returning leads ({len(returning)})",
            table(
                returning,
                [
                    col("lead_id", "Lead"),
                    col("owner", "Owner"),
                    col("status", "Status"),
                    col("score", "Score", count),
                    col("quiet_days", "Quiet days", number),
                    col("back", "Back at (UTC)"),
                    col("looked_at", "Looked at"),
                ],
            ),
            note="Handed-over or nurtured leads back on the site after a quiet spell "
            "(handed-over first, then by score).",
            wide=True,
        )
    )
    if len(overdue):
        # Oldest first, as the note says: the longest past its deadline on top.
        deadlines = overdue.get("followup_deadline", pd.Series(None, index=overdue.index))
        overdue = overdue.assign(
            deadline=deadlines.map(when), _since=pd.to_datetime(deadlines, utc=True)
        ).sort_values(["_since", "lead_id"])
    page.panels.append(
        Panel(
            "overdue",
            f"Overdue follow-ups ({len(overdue)})",
            table(
                overdue,
                [
                    col("lead_id", "Lead"),
                    col("owner", "Owner"),
                    col("handed_on", "Handed on"),
                    col("deadline", "Attempt due (UTC)"),
                    col("hours_overdue", "Hours overdue", number),
                    col("channel", "Channel"),
                    col("persona", "Persona"),
                    col("score", "Score", count),
                ],
            ),
            note="Leads leadscore handed over (any earlier run) with a contact attempt still "
            "owed at the run's cut-off (the cadence of sla.yaml), oldest first. The live list, "
            "with the actions taken since: the Sales desk page.",
            wide=True,
        )
    )
    return page
