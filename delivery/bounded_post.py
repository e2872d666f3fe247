"""One webhook POST with every bound a misbehaving receiver could otherwise push past:

- a whole-request deadline (connect, send, wait, read what is read): httpx's timeouts are per
  network operation, so a receiver trickling its answer one byte every few seconds held one POST
  for minutes, past the sender's lease on the item, and a second sender then sent it too. A
  watchdog timer shuts the socket down at the deadline, which ends the blocked read at once;
- a cap on the answer's body read: a 2xx body is not read at all (the status is the answer), any
  other answer's first `max_body_bytes` only, for the error message (a 300 MB answer once took a
  sender to a 5.5 GB peak);
- Retry-After read as seconds or an HTTP date and capped by the caller (`retry_after_s`).

No keep-alive: every POST opens its own connection, so the socket the watchdog shuts is the one
this request uses (and an answer left unread never poisons the next request).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2 as httpx


@dataclass(frozen=True)
class Answer:
    """What came back: a status with the start of its body, or the transport error."""

    status: int | None = None
    head: bytes = b""  # at most max_body_bytes of a non-2xx body
    headers: httpx.Headers | None = None
    error: str | None = None  # set when no complete status line and headers came back


def post_within(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    deadline_s: float,
    max_body_bytes: int,
) -> Answer:
    """POST `body`, giving up after `deadline_s` in all (an Answer with `error` "timeout: ...").
    `client` must not keep connections alive (see the module docstring)."""
    sockets: list[Any] = []
    expired = threading.Event()

    def trace(event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                sockets.append(sock)

    def expire() -> None:
        expired.set()
        for sock in sockets:
            # Already closed: the request ended as the timer fired.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(deadline_s, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        with client.stream(
            "POST", url, content=body, headers=headers, extensions={"trace": trace}
        ) as response:
            head = b""
            if not 200 <= response.status_code < 300:
                head = _read_at_most(response, max_body_bytes)
            return Answer(status=response.status_code, head=head, headers=response.headers)
    except httpx.TimeoutException as exc:
        return Answer(error=f"timeout: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        if expired.is_set():
            return Answer(error=f"timeout: no complete answer within {deadline_s:g} s")
        if isinstance(exc, httpx.TransportError):
            return Answer(error=f"connection error: {type(exc).__name__}: {exc}")
        return Answer(error=f"HTTP error: {type(exc).__name__}: {exc}")
    except OSError as exc:  # the shut socket surfacing outside httpx's own error types
        if expired.is_set():
            return Answer(error=f"timeout: no complete answer within {deadline_s:g} s")
        return Answer(error=f"connection error: {type(exc).__name__}: {exc}")
    finally:
        watchdog.cancel()


def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The first `limit` bytes of the (decoded) body; the rest is never read."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.HTTPError:
        pass  # the status is the answer; a broken body only shortens the error message
    return b"".join(chunks)[:limit]


def retry_after_s(headers: Any, cap_s: float, now: datetime | None = None) -> float | None:
    """A Retry-After header (delta-seconds or HTTP-date) in seconds, at most `cap_s`; None when
    absent or unreadable. The cap is the documented longest wait (`retry_cap_s`): a receiver's
    `Retry-After: 999999999` must not park a hand-off until 2058."""
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap_s)
