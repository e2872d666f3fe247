"""Webhook receivers on loopback that misbehave on purpose, at the socket level (what a real
HTTP server library would not let a test do): an endless body, an answer trickled one byte at a
time, a Retry-After far in the future. Each records when every request arrived and when its
connection ended, per Idempotency-Key.

    with MisbehavingReceiver(answer=trickle(b"HTTP/1.1 200 OK...", every_s=0.2)) as hook:
        deliver_pending(store, hook.url, secret, now)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from delivery.keys import key_from_header

Answer = Callable[[socket.socket], None]


@dataclass
class Visit:
    key: str | None
    started: float
    ended: float | None = None


def headers_only(status: str, *extra: str) -> Answer:
    """A complete answer with no body: `HTTP/1.1 <status>`, the extra header lines."""
    text = f"HTTP/1.1 {status}\r\n" + "".join(f"{h}\r\n" for h in extra)
    data = (text + "Content-Length: 0\r\nConnection: close\r\n\r\n").encode()

    def answer(conn: socket.socket) -> None:
        conn.sendall(data)

    return answer


class EndlessBody:
    """A status and a `size`-byte body, written until the sender hangs up (never held in memory
    here: one chunk written again and again); `sent` counts the body bytes the sender took."""

    def __init__(self, status: str, size: int, chunk: int = 1 << 20) -> None:
        self.head = (
            f"HTTP/1.1 {status}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.size = size
        self.chunk = b"0" * chunk
        self.sent = 0

    def __call__(self, conn: socket.socket) -> None:
        conn.sendall(self.head)
        while self.sent < self.size:
            part = self.chunk[: min(len(self.chunk), self.size - self.sent)]
            conn.sendall(part)
            self.sent += len(part)


def trickle(data: bytes, every_s: float) -> Answer:
    """`data` one byte every `every_s` seconds (a 200 that takes len(data) x every_s)."""

    def answer(conn: socket.socket) -> None:
        for byte in data:
            conn.sendall(bytes([byte]))
            time.sleep(every_s)

    return answer


@dataclass
class MisbehavingReceiver:
    answer: Answer
    visits: list[Visit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()

    def __enter__(self) -> MisbehavingReceiver:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}/hooks/leadscore"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        visit = Visit(key=None, started=time.monotonic())
        try:
            with conn:
                visit.key = _read_request(conn)
                with self._lock:
                    self.visits.append(visit)
                self.answer(conn)
        except OSError:
            pass  # the sender hung up: the point of most of these receivers
        finally:
            visit.ended = time.monotonic()

    def visits_for(self, key: str) -> list[Visit]:
        with self._lock:
            return [v for v in self.visits if v.key == key]


def _read_request(conn: socket.socket) -> str | None:
    """Read one request (headers, then Content-Length bytes); return its decoded key."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    key = headers.get("idempotency-key")
    return None if key is None else key_from_header(key)
