"""A real webhook receiver on loopback for delivery tests: verifies the signature, deduplicates
by Idempotency-Key like a CRM integration should, and can refuse or stall on purpose.

    secret = whsec_for("my-test")
    with WebhookReceiver(secret=secret, refuse_first=2) as hook:
        deliver_pending(store, hook.url, secret, now)
        assert hook.processed_keys() == [...]

It verifies as a receiver of the default format would: with the Standard Webhooks reference
library from PyPI (`standardwebhooks`), not our code, so every delivery test is also a check that
such a receiver accepts our hand-off. `signature_format="leadscore"` checks the older format.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook as ReferenceWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from delivery.keys import key_from_header
from delivery.signing import IDEMPOTENCY_HEADER, verify_headers


def whsec_for(seed: str) -> str:
    """A fixed, valid Standard Webhooks secret for a test: `whsec_` + base64 of 32 bytes."""
    return "whsec_" + base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def reference_verifier(secret: str) -> Callable[[bytes, dict[str, str]], bool]:
    """(body, headers) -> ok, by the reference library's `Webhook.verify` alone."""
    reference = ReferenceWebhook(secret)

    def verify(body: bytes, headers: dict[str, str]) -> bool:
        try:
            reference.verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    return verify


@dataclass
class Received:
    key: str | None
    body: bytes
    headers: dict[str, str]
    signature_ok: bool
    status: int
    at: float = field(default_factory=time.monotonic)  # when it arrived (latency tests)


@dataclass
class WebhookReceiver:
    secret: str
    refuse_first: int = 0  # answer 503 to this many requests first
    refuse_status: int = 503
    status_for_lead: dict[str, tuple[int, str]] = field(default_factory=dict)
    stall_first: bool = False  # process the first request, then wait for `release` to answer
    delay_s: float = 0.0  # answer every request this much later (a slow CRM)
    # Which format the receiver verifies with `secret`: `standard-webhooks` (the default, by the
    # reference library) or `leadscore` (X-Leadscore-Signature, delivery/signing.py).
    signature_format: str = "standard-webhooks"

    def __post_init__(self) -> None:
        if self.signature_format == "leadscore":
            secret = self.secret
            self.verify = lambda body, headers: verify_headers(secret, body, headers)
        else:
            self.verify = reference_verifier(self.secret)
        self.requests: list[Received] = []
        self.processed: dict[str, dict[str, Any]] = {}  # key -> body, first time only
        self.got_request = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ server plumbing
    def __enter__(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status, answer = receiver._handle(body, dict(self.headers.items()))
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender was killed while we stalled: that is the point

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks/leadscore"

    # ------------------------------------------------------------------ behaviour
    def _handle(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        signature_ok = self.verify(body, headers)
        header = {k.lower(): v for k, v in headers.items()}.get(IDEMPOTENCY_HEADER.lower())
        # As a receiver should: the header is the key percent-encoded (any lead id's characters).
        key = None if header is None else key_from_header(header)
        stall = False
        with self._lock:
            if not signature_ok:
                status, answer = 401, b'{"error":"bad signature"}'
            elif self.refuse_first > 0:
                self.refuse_first -= 1
                status, answer = self.refuse_status, b'{"error":"busy"}'
            else:
                doc = json.loads(body)
                special = self.status_for_lead.get(doc["lead_id"])
                if special is not None:
                    status, answer = special[0], special[1].encode()
                elif key in self.processed:
                    status, answer = 200, b'{"duplicate":true}'
                else:
                    self.processed[key] = doc  # type: ignore[index]
                    status, answer = 200, b'{"ok":true}'
                    stall = self.stall_first and len(self.processed) == 1
            self.requests.append(Received(key, body, headers, signature_ok, status))
        self.got_request.set()
        if self.delay_s:
            time.sleep(self.delay_s)
        if stall:
            self.release.wait(30)
        return status, answer

    def processed_keys(self) -> list[str]:
        with self._lock:
            return sorted(self.processed)

    def requests_for(self, key: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.key == key]
