"""Hostile clients against the real server: `leadscore serve` (uvicorn on loopback) and raw
sockets, for what only a real server shows: security headers on every answer, 415 for non-JSON
bodies, a client that hangs up mid-body (one INFO line, no answer attempted), a body slower than
the read deadline (408, connection closed) and a body that never comes."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from serve.headers import CONTENT_SECURITY_POLICY
from tests.live_server import free_port, running_serve
from tests.serve_fixtures import ADMIN_KEY, API_KEY, ROOT, lead_body, train_small_model

pytestmark = [pytest.mark.e2e]

BODY_TIMEOUT_S = 1.0
START_TIMEOUT_S = 90
HEADERS = {"X-API-Key": API_KEY}
SECURITY = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@dataclass(frozen=True)
class Server:
    base: str
    port: int
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("hostile")
    model = train_small_model(tmp / "model.joblib", n_leads=500)
    port = free_port()
    log = tmp / "serve.log"
    env = {
        **os.environ,
        "LEADSCORE_API_KEYS": f"{API_KEY},admin:{ADMIN_KEY}",
        "LEADSCORE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "LEADSCORE_MQL_THRESHOLD": "40",
        "LEADSCORE_THRESHOLD_PATH": str(tmp / "none.json"),
    }
    args = ["--model", str(model)]
    with running_serve(args, port, ROOT, env, log, START_TIMEOUT_S) as base:
        yield Server(base, port, log)


def raw_request(port: int, head: str) -> socket.socket:
    """A socket that has sent `head` (request line and headers, CRLF-joined) and nothing else."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
    return sock


def read_until_closed(sock: socket.socket, limit_s: float) -> bytes:
    """Everything the server sends until it closes the connection (fails after `limit_s`).

    A reset counts as closed: a client still sending after the server's 408 and close gets an
    RST from the server's kernel, which is how TCP ends such a connection, not a server fault."""
    sock.settimeout(limit_s)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


POST_HEAD = (
    "POST /v1/score HTTP/1.1\nHost: 127.0.0.1\nX-API-Key: {key}\n"
    "Content-Type: application/json\nContent-Length: {length}\n"
)


# ---- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/readyz", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs", 200),
        ("GET", "/static/docs-init.js", 200),
        ("GET", "/no-such-page", 404),
        ("GET", "/v1/model", 401),
        ("POST", "/v1/score", 422),
    ],
)
def test_every_answer_carries_the_security_headers(
    server: Server, method: str, path: str, status: int
) -> None:
    headers = {"X-API-Key": API_KEY} if path != "/v1/model" else {}
    response = httpx.request(method, server.base + path, headers=headers, json=[])
    assert response.status_code == status
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, name


def test_the_docs_page_loads_nothing_from_other_hosts(server: Server) -> None:
    page = httpx.get(f"{server.base}/docs").text
    assert "<script src=" in page and "//" not in page.replace("<!doctype", "")
    assert "<script>" not in page  # no inline script: `script-src 'self'` would block it


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_a_v1_body_that_is_not_json_gets_415(server: Server, content_type: str | None) -> None:
    body = b'{"features": {"fit_score": 0.5}}'
    headers = {**HEADERS, "Content-Type": content_type or ""}
    if content_type is None:
        headers.pop("Content-Type")
    response = httpx.post(f"{server.base}/v1/score", content=body, headers=headers)
    assert response.status_code == 415 and "application/json" in response.json()["detail"]
    json_with_charset = {**HEADERS, "Content-Type": "application/json; charset=utf-8"}
    ok = httpx.post(f"{server.base}/v1/score", content=body, headers=json_with_charset)
    assert ok.status_code == 200


def test_the_signin_form_is_not_held_to_json(server: Server) -> None:
    response = httpx.post(
        f"{server.base}/signin",
        data={"api_key": "x", "csrf": "y"},
        follow_redirects=False,
    )
    # A form post reaches the sign-in route, which refuses the made-up CSRF token in words.
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "The form expired or did not come from this page" in response.text


# ---- clients that hang up, stall or trickle ------------------------------------------------------


def test_a_client_that_hangs_up_mid_body_is_an_info_line_not_an_error(server: Server) -> None:
    before = server.log.read_text()
    sock = raw_request(server.port, POST_HEAD.format(key=API_KEY, length=5000))
    sock.sendall(b'{"lead": {"created_at": "2025-')
    sock.close()
    deadline = time.monotonic() + 10
    while "client disconnected" not in server.log.read_text()[len(before) :]:
        assert time.monotonic() < deadline, server.log.read_text()[len(before) :]
        time.sleep(0.1)
    assert httpx.get(f"{server.base}/healthz").status_code == 200
    new = server.log.read_text()[len(before) :]
    assert "INFO:" in new.split("client disconnected")[0].splitlines()[-1]
    assert "ERROR" not in new and "unhandled" not in new and " 500" not in new


def test_a_body_slower_than_the_deadline_gets_408_and_the_connection_closes(
    server: Server,
) -> None:
    sock = raw_request(server.port, POST_HEAD.format(key=API_KEY, length=5000))
    sock.sendall(b'{"features": {')  # declares 5000 bytes, sends 14, then stalls
    started = time.monotonic()
    answer = read_until_closed(sock, limit_s=BODY_TIMEOUT_S + 10)
    waited = time.monotonic() - started
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within" in answer
    assert waited >= BODY_TIMEOUT_S * 0.8  # the deadline, not an instant refusal


def test_a_trickling_body_is_cut_at_the_deadline_too(server: Server) -> None:
    body = b'{"features": {"fit_score": 0.5}}'
    sock = raw_request(server.port, POST_HEAD.format(key=API_KEY, length=len(body)))
    answer = b""
    sock.settimeout(0.2)
    for byte in body:  # one byte every 0.2 s: the whole body would take about 6 s
        try:
            sock.sendall(bytes([byte]))
        except OSError:  # closed by the server after its 408
            break
        try:
            answer += sock.recv(65536)
        except TimeoutError:
            continue
        if answer:
            break
    answer += read_until_closed(sock, limit_s=BODY_TIMEOUT_S + 10)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_the_server_still_scores_after_the_hostile_clients(server: Server) -> None:
    response = httpx.post(f"{server.base}/v1/score", json=lead_body(), headers=HEADERS)
    assert response.status_code == 200
    assert "ERROR" not in server.log.read_text()
