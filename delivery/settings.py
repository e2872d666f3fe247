"""Where the hand-off goes and with which secret: the environment wins over params.yaml, and the
secret only ever comes from the environment (never a file under version control)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from delivery.signature_formats import check_secret
from foundation.errors import ConfigError
from foundation.params import SignatureFormat

URL_ENV = "LEADSCORE_WEBHOOK_URL"
SECRET_ENV = "LEADSCORE_WEBHOOK_SECRET"


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str

    def __repr__(self) -> str:  # never print the secret (nor a credential in the URL)
        return f"Webhook(url={display_url(self.url)!r}, secret=***)"


def display_url(url: str) -> str:
    """The URL for messages and logs: scheme, host and port only. Many webhook URLs carry their
    credential in the path or query (chat incoming hooks), or a user:password."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    rest = "/..." if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def resolve_webhook(
    configured_url: str | None = None,
    *,
    required: bool = False,
    explicit_url: str | None = None,
    signature_format: SignatureFormat = "standard-webhooks",
) -> Webhook | None:
    """The webhook to deliver to: `explicit_url` (a command-line flag), else
    $LEADSCORE_WEBHOOK_URL, else `configured_url` (params `daily.webhook_url`), with the secret
    from $LEADSCORE_WEBHOOK_SECRET (in the default `standard-webhooks` format one or more
    `whsec_` secrets, checked here so a bad one stops the run before anything is written).

    No URL: None (delivery is optional), or a ConfigError when `required`. A URL without a
    secret is always a ConfigError: an unsigned hand-off would let anyone forge one.
    """
    url = (explicit_url or os.environ.get(URL_ENV) or configured_url or "").strip()
    if not url:
        if required:
            raise ConfigError(
                f"no webhook URL configured: set {URL_ENV} or daily.webhook_url in params.yaml "
                f"(and the signing secret in {SECRET_ENV})"
            )
        return None
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"webhook URL {display_url(url)!r} must start with http:// or https://")
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        raise ConfigError(
            f"webhook URL {display_url(url)} is set but {SECRET_ENV} is empty: set the shared "
            "signing secret in the environment (hand-offs are never sent unsigned)"
        )
    check_secret(signature_format, secret, SECRET_ENV)
    return Webhook(url=url, secret=secret)
