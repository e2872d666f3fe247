"""The daily recap by e-mail: one message per daily run to the recipients in sla.yaml
(`recap.recipients`), through the SMTP server the environment names. Standard library smtplib;
the text and HTML come from daily/recap_message.py (the summary's figures), not from here.

Settings come from the environment, never from a file in the repository (they hold a password):
LEADSCORE_SMTP_HOST (unset: no e-mail), LEADSCORE_SMTP_PORT (25), LEADSCORE_SMTP_USER and
LEADSCORE_SMTP_PASSWORD (log in when both are set), LEADSCORE_SMTP_SENDER (the From address),
LEADSCORE_SMTP_STARTTLS (true: upgrade the connection before logging in), LEADSCORE_SMTP_TIMEOUT_S.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from foundation.errors import ConfigError, LeadscoreError


class RecapMailError(LeadscoreError):
    """The SMTP server refused or could not be reached; the message says which and why."""


class SmtpSettings(BaseSettings):
    """Where the recap is sent from; LEADSCORE_SMTP_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_SMTP_", extra="ignore", frozen=True)

    host: str | None = None
    port: int = Field(25, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None
    sender: str = "leadscore@localhost"
    starttls: bool = False
    timeout_s: float = Field(20.0, gt=0)


def recap_email(
    sender: str, recipients: Sequence[str], subject: str, text: str, html: str
) -> EmailMessage:
    """A multipart/alternative message: plain text first, the HTML as the richer part."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send_recap(settings: SmtpSettings, message: EmailMessage, recipients: Sequence[str]) -> None:
    """Send `message` to `recipients`; RecapMailError naming the server and its answer."""
    if not settings.host:
        raise ConfigError("LEADSCORE_SMTP_HOST is not set: the recap cannot be e-mailed")
    where = f"SMTP server {settings.host}:{settings.port}"
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user and settings.password is not None:
                smtp.login(settings.user, settings.password.get_secret_value())
            refused = smtp.send_message(message, to_addrs=list(recipients))
    except (OSError, smtplib.SMTPException) as exc:
        raise RecapMailError(f"{where}: the recap was not sent ({exc})") from exc
    if refused:
        raise RecapMailError(f"{where} refused recipients: {', '.join(sorted(refused))}")
