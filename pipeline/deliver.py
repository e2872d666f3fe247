"""`leadscore deliver`: re-send the outbox's pending hand-offs to the webhook.

The daily run delivers right after storing its hand-off; this command is for what is left: a
receiver that was down, a crash between sending and recording. It opens the store
($LEADSCORE_DB_URL or the default SQLite file), sends what is due, and prints the counts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from delivery import deliver_pending, resolve_webhook
from delivery.outbox import Outbox
from delivery.settings import display_url
from foundation.params import Params
from store import Store


def main(
    params: Params,
    url: str | None = None,
    db_url: str | None = None,
    retry_failed: bool = False,
    now: datetime | None = None,
) -> int:
    """Deliver what is due; return the number of items that failed permanently (a human must
    look at the receiver), so the command can exit non-zero for a scheduler to report."""
    webhook = resolve_webhook(
        params.daily.webhook_url,
        required=True,
        explicit_url=url,
        signature_format=params.delivery.signature_format,
    )
    assert webhook is not None  # required=True raises instead
    now = now or datetime.now(UTC)
    with Store.open(db_url) as store:
        if retry_failed:
            requeued = Outbox(store).requeue_failed(now)
            typer.echo(f"re-queued {requeued} failed-permanent item(s)")
        report = deliver_pending(store, webhook.url, webhook.secret, now, policy=params.delivery)
        counts = store.outbox_counts()
        waiting = Outbox(store).pending()
    due = report.delivered + report.failed_permanent + report.pending
    target = display_url(webhook.url)
    tries = f"{report.attempts} attempt(s)"
    typer.echo(f"delivered {report.delivered} of {due} due ({tries}) to {target}")
    for error in report.errors[:10]:
        typer.echo(f"  {error}")
    next_at = min((i.next_attempt_at for i in waiting if i.next_attempt_at), default=None)
    line = f"outbox: {counts['delivered']} delivered, {counts['pending']} pending"
    if next_at is not None:
        line += f" (next retry after {next_at:%Y-%m-%d %H:%M} UTC)"
    line += f", {counts['failed-permanent']} failed permanently"
    if counts["failed-permanent"]:
        line += " (fix the receiver, then `leadscore deliver --retry-failed`)"
    typer.echo(line)
    return counts["failed-permanent"]
