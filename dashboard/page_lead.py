"""The lead page (`/dashboard/leads/{id}`): everything a rep needs before the call, from the store
of record and the validated exports of the lead's latest run.

- who: company, e-mail domain, title (job role), country, persona, owner (the hand-off's
  contact fields, else the leads table's row);
- the score in every stored run (a chart and its numbers);
- the reasons for and against in words (sales/words.py), and what it did, in words;
- the timeline: its events (what it read or viewed) and funnel stages up to the run's cut-off,
  none after (sales/timeline.py);
- its hand-off, deliveries (the outbox), its owner, attempts and next attempt due (the desk's
  cadence), and every action taken, with who and when.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard import charts
from dashboard.panels import Panel, Table, col, count, records, table, when
from dashboard.sources import Sources

ALL_RUNS = 100_000  # the score of every stored run (a lead is scored once per run day)
CONTACT_FIELDS = (
    ("company", "Company"),
    ("email_domain", "E-mail domain"),
    ("job_role", "Title"),
    ("country", "Country"),
    ("persona", "Persona"),
    ("channel", "Channel"),
    ("owner", "Owner"),
)
STATE_WORDS = {
    "overdue": "contact attempt overdue",
    "due": "contact attempt due within a day",
    "waiting": "no attempt owed yet",
    "snoozed": "snoozed",
    "closed": "closed",
    "out_of_attempts": "out of attempts: back to nurture",
    "awaiting_reply": "every attempt made: awaiting a reply",
}


def lead_folder(sources: Sources, run_date: Any) -> Path:
    """Where the lead's validated rows are: the run's own validation folder (what the daily run
    saw that day), else the pipeline's data/interim."""
    day = sources.artifacts / "daily" / str(run_date) / "validation"
    if any(day.glob("leads*")):
        return day
    return Path(sources.params().paths.interim)


def rows_of(folder: Path, name: str, lead_id: str) -> pd.DataFrame:
    """The rows of one lead in a validated table (Parquet read with a filter: one lead's rows,
    not the whole event log); an empty frame when the table is not there."""
    from foundation.errors import LeadscoreError
    from foundation.io import find_table, read_table

    try:
        path = find_table(folder, name)
    except LeadscoreError:
        return pd.DataFrame(columns=["lead_id"])
    if path.suffix == ".parquet" and path.is_file():
        return pd.read_parquet(path, filters=[("lead_id", "==", str(lead_id))])
    frame = read_table(path)
    return frame[frame["lead_id"].astype(str) == str(lead_id)]


def _contact(payload: dict[str, Any], lead_row: dict[str, Any], score: dict[str, Any]) -> dict:
    out = {}
    for key, _ in CONTACT_FIELDS:
        value = payload.get(key)
        if value is None:
            value = lead_row.get(key, score.get(key))
        out[key] = (
            None if value is None or (not isinstance(value, str) and pd.isna(value)) else value
        )
    return out


def history_panel(history: pd.DataFrame) -> Panel:
    frame = history.assign(run=[str(d) for d in history["run_date"]], series="score")
    data = records(frame[["run", "score", "tier", "series"]])
    return Panel(
        "history",
        f"Score in every stored run ({len(frame)})",
        table(frame, [col("run", "Run"), col("score", "Score", count), col("tier", "Tier")]),
        spec=charts.lines(
            data,
            "run",
            "score",
            "series",
            x_title="Run",
            y_title="Score (0-100)",
            x_type="ordinal",
            y_format="d",
        ),
        note="The calibrated chance in %, each day the daily run scored the lead.",
        wide=True,
    )


def build(sources: Sources, lead_id: str, at: datetime | None = None) -> dict[str, Any] | None:
    """The page's content, or None when no stored run ever scored the lead."""
    from sales.service import lead_board
    from sales.timeline import timeline
    from sales.words import activity_words, plain_reasons
    from store.actions import handoffs_of, lead_actions, outbox_of

    at = at or datetime.now(UTC)
    store = sources.store()
    score = store.lead(lead_id)
    if score is None:
        return None
    desk = sources.agreement().sales_desk
    history = store.lead_history(lead_id, ALL_RUNS)
    handed = handoffs_of(store, lead_id)
    payload = handed["payload"].iloc[0] if len(handed) else {}
    payload = payload if isinstance(payload, dict) else {}
    cut = pd.Timestamp(score["run_date"]).tz_localize("UTC")
    folder = lead_folder(sources, score["run_date"])
    leads = rows_of(folder, "leads", lead_id)
    lead_row = leads.iloc[0].to_dict() if len(leads) else {}
    events = rows_of(folder, "events", lead_id)
    stages = rows_of(folder, "stages", lead_id)
    line = timeline(events, stages, lead_id, cut)
    board = lead_board(store, desk, lead_id, at)
    contact = _contact(payload, lead_row, score)
    contact["owner"] = (board or {}).get("owner")
    reasons_for, reasons_against = plain_reasons(score.get("reasons"))
    if not reasons_for and payload.get("reasons"):
        reasons_for = [str(r) for r in payload["reasons"]]  # the hand-off's words
    actions = lead_actions(store, [lead_id])
    deliveries = outbox_of(store, lead_id)
    return {
        "lead_id": str(lead_id),
        "contact": contact,
        "contact_fields": CONTACT_FIELDS,
        "score": score,
        "cut_off": cut,
        "reasons_for": reasons_for,
        "reasons_against": reasons_against,
        "activity": activity_words(score.get("activity") or payload.get("activity")),
        "history": history_panel(history),
        "handoff": None
        if not len(handed)
        else {
            "run_date": str(handed["run_date"].iloc[0])[:10],
            "handed_at": when(handed["handed_at"].iloc[0]),
            "deadline": when(handed["followup_deadline"].iloc[0]),
        },
        "board": board,
        "state": STATE_WORDS.get((board or {}).get("state"), ""),
        "next_due": when((board or {}).get("next_due")),
        "timeline": timeline_table(line),
        "n_events": int((line["kind"] == "event").sum()) if len(line) else 0,
        "actions": actions_table(actions),
        "deliveries": deliveries_table(deliveries),
        "reps": desk.reps(),
    }


def timeline_table(line: pd.DataFrame) -> Table:
    frame = line.assign(when=[when(t) for t in line["ts"]]) if len(line) else line
    return table(
        frame,
        [
            col("when", "When (UTC)"),
            col("kind", "Kind"),
            col("what", "What"),
            col("topic", "Topic"),
        ],
    )


def actions_table(actions: pd.DataFrame) -> Table:
    from sales.actions import REASON_WORDS

    frame = (
        actions.assign(
            when=[when(t) for t in actions["at"]],
            detail=[
                "; ".join(
                    str(x)
                    for x in (
                        r.get("channel"),
                        f"until {r['until']}" if r.get("until") else None,
                        REASON_WORDS.get(r.get("reason"), r.get("reason")),
                        f"owner {r['owner']}" if r.get("owner") else None,
                        r.get("note"),
                    )
                    if x
                )
                for r in actions.to_dict("records")
            ],
        )
        if len(actions)
        else actions.assign(when=[], detail=[])
    )
    return table(
        frame,
        [
            col("when", "When (UTC)"),
            col("kind", "Action"),
            col("actor", "Who"),
            col("source", "From"),
            col("detail", "Detail"),
        ],
    )


def deliveries_table(deliveries: pd.DataFrame) -> Table:
    frame = (
        deliveries.assign(
            created=[when(t) for t in deliveries["created_at"]],
            acknowledged=[when(t) for t in deliveries["acknowledged_at"]],
        )
        if len(deliveries)
        else deliveries.assign(created=[], acknowledged=[])
    )
    return table(
        frame,
        [
            col("key", "Key"),
            col("created", "Queued (UTC)"),
            col("status", "Status"),
            col("attempts", "Attempts", count),
            col("acknowledged", "Acknowledged (UTC)"),
            col("last_error", "Last error"),
        ],
    )
