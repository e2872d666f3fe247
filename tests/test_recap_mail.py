"""The daily recap arrives by e-mail: `leadscore daily` as a user runs it, sending to a real SMTP
server (aiosmtpd) on a loopback port, to the recipients in sla.yaml, with the figures of the
day's summary (the ones /v1/summary returns)."""

from __future__ import annotations

import email
import re
from datetime import date
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
import yaml

from tests.conftest import Project
from tests.daily_run import daily, ok
from tests.live_server import free_port

# A test dependency; missing under CI is a failure (tests/ci_skips.py).
Controller = pytest.importorskip("aiosmtpd.controller").Controller

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
DAY = date(2026, 10, 21)
RECIPIENTS = ["marketing@example.com", "sales@example.com"]


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        message = email.message_from_bytes(envelope.content, policy=default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


def test_the_recap_arrives_by_smtp_after_daily_with_the_summary_figures(
    trained_project: Project, tmp_path: Path
) -> None:
    from daily.recap_message import RECAP_FIGURES
    from daily.summary import day_summary, figure
    from store import Store

    sla = yaml.safe_load((trained_project.root / "sla.yaml").read_text())
    sla["recap"] = {"recipients": RECIPIENTS}
    (tmp_path / "sla.yaml").write_text(yaml.safe_dump(sla))
    params = yaml.safe_load((trained_project.root / "params.yaml").read_text())
    params["paths"] |= {"artifacts": str(tmp_path / "artifacts"), "sla": str(tmp_path / "sla.yaml")}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    url = f"sqlite:///{tmp_path / 'store.db'}"

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env = {
            "LEADSCORE_DB_URL": url,
            "LEADSCORE_SMTP_HOST": "127.0.0.1",
            "LEADSCORE_SMTP_PORT": str(port),
            "LEADSCORE_SMTP_SENDER": "leadscore@example.com",
        }
        done = ok(daily(trained_project, tmp_path / "params.yaml", env, "--as-of", str(DAY)))
    finally:
        controller.stop()

    assert "recap e-mailed to marketing@example.com, sales@example.com" in done.stdout
    assert len(inbox.messages) == 1, "one recap per daily run"
    to, message = inbox.messages[0]
    assert sorted(to) == RECIPIENTS
    assert message["From"] == "leadscore@example.com"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    shown = dict(re.findall(r'data-figure="([^"]+)">([^<]*)<', html))
    with Store.open(url) as store:
        summary = day_summary(store, DAY)
    assert summary["targets"] is not None, "the first run of the month froze its targets"
    for path, label in RECAP_FIGURES:
        value = figure(summary, path)
        expected = "-" if value is None else f"{float(value):,.0f}"
        assert shown[path] == expected, path
        assert re.search(rf"{re.escape(label)}\s+{re.escape(expected)}\r?\n", text), label
    assert (
        f"{summary['month_to_date']['mqls_crm']:,} of {summary['targets']['mqls']:,} MQLs"
        in (message["Subject"])
    )


def test_without_an_smtp_host_the_run_says_the_recap_was_not_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline.daily_record import mail_recap

    monkeypatch.delenv("LEADSCORE_SMTP_HOST", raising=False)
    notes = mail_recap(None, DAY, ("a@example.com",))
    assert notes and "set LEADSCORE_SMTP_HOST" in notes[0]
    assert mail_recap(None, DAY, ()) == []
