"""What a `leadscore daily` run leaves behind: the day's files, the run in the store of record
(one transaction), the hand-off through the outbox, the recap e-mail; and the checks that keep
runs in order (one date at a time, no unfinished earlier day).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from foundation.completion import COMPLETE, mark_complete, publish_text
from foundation.errors import ConfigError, DataError
from foundation.params import Params
from pipeline.daily_steps import DAILY_DIR, Comparison, Day

FILES = (
    "handoff.csv",
    "handoff.json",
    "returning.csv",
    "overdue.csv",
    "recap.md",
    "recap.html",
    "summary.json",
)
SCORE_COLUMNS = (
    "lead_id",
    "channel",
    "persona",
    "probability",
    "score",
    "tier",
    "decision",
    "rule",
    "grade",
    "expected_value_eur",
    "reasons",
    "activity",
)


def check_order(store: Any, run_date: date, replay: bool) -> None:
    """A date before the latest stored run would be compared with the wrong "last run"."""
    latest = store.last_run()
    if latest is not None and run_date < latest.run_date and not replay:
        raise ConfigError(
            f"--as-of {run_date} is before the latest stored run ({latest.run_date}): "
            "its hand-off would be compared with the wrong day. Pass --replay to recompute it "
            "against the run before it"
        )


def check_unfinished(store: Any, params: Params, run_date: date) -> None:
    """A run of an earlier date that wrote its files but never stored its run (killed in its
    store transaction, the database lost mid-run) is not done: running a later date first
    would make that date's hand-off this one's, and the `--replay` of the crashed date would
    then hand the same leads over again under new keys. Stop and say which date to re-run."""
    from foundation.completion import is_complete

    root = Path(params.paths.artifacts) / DAILY_DIR
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        try:
            day = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if day >= run_date or is_complete(folder) or not (folder / FILES[0]).exists():
            continue
        if store.run(day) is None:
            raise ConfigError(
                f"the daily run of {day} did not finish ({folder} has its files but no "
                f"completion marker, and the store has no run of {day}): re-run "
                f"`leadscore daily --as-of {day}` first (or delete that folder to skip the day)"
            )


def write_outputs(
    out: Path,
    handoff: pd.DataFrame,
    returning: pd.DataFrame,
    overdue: pd.DataFrame,
    recap: dict[str, Any],
    counts: dict[str, int],
    header: dict[str, Any],
    validation: dict[str, dict[str, Any]],
    dashboard_url: str = "",
) -> None:
    """The day's files; each written to a temporary name of its own and renamed, so a reader
    never sees half a file and a failed run leaves the previous version of a file whole. The
    completion marker goes first: it is written back only once the store has the run. The
    recap's lead ids link to their lead pages on `dashboard_url` when it is set."""
    from daily import render
    from daily.handoff import OVERDUE_COLUMNS, RETURNING_COLUMNS

    title = f"Lead hand-off and SLA recap, {header['run_date']}"
    texts = {
        "handoff.csv": render.handoff_csv(handoff),
        "handoff.json": render.handoff_json(handoff, header),
        "returning.csv": render.table_csv(returning, RETURNING_COLUMNS),
        "overdue.csv": render.table_csv(overdue, OVERDUE_COLUMNS),
        "recap.md": render.recap_markdown(recap, handoff, counts, title, dashboard_url),
        "recap.html": render.recap_html(recap, handoff, counts, title, dashboard_url),
        "summary.json": render.summary_json(header, counts, recap, validation),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / COMPLETE).unlink(missing_ok=True)
    for name, text in texts.items():
        publish_text(out / name, text)


def store_run(
    day: Day,
    store: Any,
    scores: pd.DataFrame,
    comparison: Comparison,
    recap: dict[str, Any],
    counts: dict[str, int],
    header: dict[str, Any],
    webhook: Any,
) -> None:
    """The run, its scores, hand-off and flags, and (with a webhook) the hand-off's outbox items,
    in ONE store transaction; then the day's completion marker (the files and the store agree)."""
    from store import OutboxItem, RunRecord

    model = header["model"]
    run = RunRecord(
        run_date=day.run_date,
        started_at=day.started_at,
        finished_at=datetime.now(UTC),
        model_name=str(model["name"]),
        model_version=str(model["version"]),
        threshold=float(header["threshold"]),
        n_open=counts["open"],
        n_mql=counts["mql"],
        n_handoff=counts["handoff"],
        n_returning=counts["returning"],
        n_overdue=counts["overdue"],
        recap=recap,
    )
    payloads = [{**header, "lead": r} for r in _records(comparison.handoff)]
    outbox = (
        [
            OutboxItem.new(day.run_date, p["lead"]["lead_id"], p, created_at=datetime.now(UTC))
            for p in payloads
        ]
        if webhook is not None
        else []
    )
    save_run(
        store, run, scores, comparison.handoff, comparison.returning, comparison.overdue, outbox
    )
    mark_complete(day.out, "daily")  # the files and the store agree: the day is done


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def flags_frame(returning: pd.DataFrame, overdue: pd.DataFrame) -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {"lead_id": f["lead_id"].astype(str), "kind": kind, "payload": _records(f)},
            columns=["lead_id", "kind", "payload"],
        )
        for kind, f in (("returning", returning), ("overdue", overdue))
        if len(f)
    ]
    if not parts:
        return pd.DataFrame(columns=["lead_id", "kind", "payload"])
    return pd.concat(parts, ignore_index=True)


def save_run(
    store: Any,
    run: Any,
    scores: pd.DataFrame,
    handoff: pd.DataFrame,
    returning: pd.DataFrame,
    overdue: pd.DataFrame,
    outbox: list[Any],
) -> None:
    """ONE transaction (store.save_run): all of the day or nothing."""
    import sqlalchemy as sa

    stored = scores[list(SCORE_COLUMNS)]
    handoffs = pd.DataFrame(
        {
            "lead_id": handoff["lead_id"],
            "handed_at": pd.to_datetime(handoff["handed_at"], utc=True),
            "followup_deadline": pd.to_datetime(handoff["followup_deadline"], utc=True),
            "payload": _records(handoff),
        }
    )
    try:
        store.save_run(run, stored, handoffs, flags_frame(returning, overdue), outbox)
    except sa.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise DataError(
            f"store: run {run.run_date} was not saved (nothing written): "
            f"{first[0] if first else type(exc).__name__}"
        ) from exc


def mail_recap(store: Any, run_date: date, recipients: tuple[str, ...]) -> list[str]:
    """E-mail the day's recap (daily/recap_message.py, from the stored summary) to `recipients`
    through LEADSCORE_SMTP_*; returns the notes for the terminal summary. A mail server that is
    down does not undo the run: the hand-off is stored and delivered, the note says what failed
    (re-send with the dashboard's recap page, or re-run the day with --replay)."""
    if not recipients:
        return []
    from daily.recap_message import recap_message
    from daily.summary import day_summary
    from delivery.recap_mail import RecapMailError, SmtpSettings, recap_email, send_recap

    settings = SmtpSettings()
    if not settings.host:
        return [
            f"recap not e-mailed to {len(recipients)} recipients: set LEADSCORE_SMTP_HOST "
            "(and _PORT, _SENDER, _USER, _PASSWORD as the server needs)"
        ]
    message = recap_message(day_summary(store, run_date))
    email = recap_email(settings.sender, recipients, message.subject, message.text, message.html)
    try:
        send_recap(settings, email, recipients)
    except RecapMailError as exc:
        return [str(exc)]
    return [f"recap e-mailed to {', '.join(recipients)} via {settings.host}:{settings.port}"]


def deliver(store: Any, webhook: Any, params: Params) -> dict[str, Any]:
    """Send what the outbox holds (delivery/): at least once, deduplicated by key; a receiver
    that is down leaves the items pending for the next run or `leadscore deliver`."""
    from dataclasses import asdict

    from delivery import deliver_pending

    report = deliver_pending(
        store, webhook.url, webhook.secret, datetime.now(UTC), policy=params.delivery
    )
    return {k: v for k, v in asdict(report).items() if k != "errors"} | {"pending": report.pending}
