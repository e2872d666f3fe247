"""CRM test fixtures: the service under a real uvicorn on loopback, HubSpot's documented example
payloads, a signer written from HubSpot's v3 formula (not our code), an outbound message as the
Salesforce WSDL shapes it, and a stand-in HubSpot API on loopback that checks every request's
shape against the documented contract and answers as HubSpot does (200, 207, 429)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr

from serve.app import create_app
from serve.settings import Settings
from tests.live_server import free_port

CLIENT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"  # the placeholder HubSpot's docs use
TOKEN = "pat-na1-test-token"
ORG_ID = "00Dx0000000BV7z"
ROOT = Path(__file__).resolve().parents[1]

# HubSpot's documented example event body (developers.hubspot.com, "Validating requests").
HUBSPOT_DOC_EXAMPLE = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
# The v1 hash the same page gives for that body: proves the bytes above are the documented ones.
HUBSPOT_DOC_EXAMPLE_V1 = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"

CRM_YAML = f"""\
hubspot:
  base_url: http://127.0.0.1:9
  client_secret_env: TEST_HUBSPOT_SECRET
  token_env: TEST_HUBSPOT_TOKEN
  status_property: hs_lead_status
  stages:
    NEW: prospect
    IN_PROGRESS: contacted
    CONNECTED: sql
    UNQUALIFIED: disqualified
salesforce:
  organization_id: {ORG_ID}
  stages:
    "Working - Contacted": contacted
    "Closed - Converted": customer
    "Closed - Not Converted": disqualified
"""


def hubspot_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's documented v3 recipe, written out here independently of crm/signatures.py."""
    source = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def hubspot_headers(uri: str, body: bytes, *, age_s: float = 0, secret: str = CLIENT_SECRET):
    timestamp = str(int((time.time() - age_s) * 1000))
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Request-Timestamp": timestamp,
        "X-HubSpot-Signature-v3": hubspot_v3(secret, "POST", uri, body, timestamp),
    }


def property_change(object_id: int, value: str, occurred_ms: int, event_id: int = 7) -> dict:
    """A contact.propertyChange event shaped as HubSpot's Webhooks API documents it."""
    return {
        "eventId": event_id,
        "subscriptionId": 12346,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": occurred_ms,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM",
        "propertyName": "hs_lead_status",
        "propertyValue": value,
    }


def outbound_message(notifications: list[tuple[str, str, str, str]], org: str = ORG_ID) -> bytes:
    """An outbound message as the WSDL shapes it; each notification is
    (notification id, lead record id, Status, LastModifiedDate)."""
    notes = "".join(
        f"""<Notification><Id>{nid}</Id>
  <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
    <sf:Id>{rid}</sf:Id><sf:Email>{rid.lower()}@example.com</sf:Email>
    <sf:LastModifiedDate>{modified}</sf:LastModifiedDate><sf:Status>{status}</sf:Status>
  </sObject></Notification>"""
        for nid, rid, status, modified in notifications
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04kx00000008OKnAAM</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/{org}</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/{org}</PartnerUrl>
   {notes}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


def crm_settings(tmp_path: Path, db_url: str, crm_yaml: str = CRM_YAML) -> Settings:
    config = tmp_path / "crm.yaml"
    config.write_text(crm_yaml)
    return Settings(
        api_keys=SecretStr("scorer-key-for-crm-tests"),
        db_url=db_url,
        crm_config=config,
        params_path=ROOT / "params.yaml",
        personas_path=ROOT / "personas.yaml",
        sla_path=ROOT / "sla.yaml",
    )


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The service (no model: the CRM routes need none) under a real uvicorn on loopback."""
    app = create_app(settings, load_model=False)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


# ----------------------------------------------------------------- a HubSpot API stand-in
PATH = "/crm/objects/2026-03/contacts/batch/update"


@dataclass
class HubSpotApi:
    """Answers POST {PATH} as HubSpot documents; records every request and every shape problem
    (a test asserts `problems == []`). `throttle_first`: that many 429s with `retry_after`;
    `missing`: contact ids answered in a 207's errors[] as OBJECT_NOT_FOUND."""

    properties: set[str]
    throttle_first: int = 0
    retry_after: str = "2"
    missing: set[str] = field(default_factory=set)
    status: int | None = None  # answer every request with this status instead

    def __post_init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> HubSpotApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer, extra = api._answer(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_GET(self) -> None:  # the properties API `leadscore crm check` reads
                status, answer = api._properties(self.path, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _properties(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        lower = {k.lower(): v for k, v in headers.items()}
        if path != "/crm/properties/2026-03/contacts":
            return 404, b'{"status":"error","message":"not found"}'
        if self.status is not None or lower.get("authorization") != f"Bearer {TOKEN}":
            status = self.status or 401
            return status, b'{"status":"error","category":"INVALID_AUTHENTICATION"}'
        statuses = ["NEW", "OPEN", "IN_PROGRESS", "CONNECTED", "UNQUALIFIED"]
        results: list[dict[str, Any]] = [{"name": n, "type": "string"} for n in self.properties]
        results.append(
            {
                "name": "hs_lead_status",
                "type": "enumeration",
                "options": [{"label": v.title(), "value": v} for v in statuses],
            }
        )
        return 200, json.dumps({"results": results}).encode()

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _check(self, path: str, headers: dict[str, str], doc: Any) -> list[str]:
        problems = []
        lower = {k.lower(): v for k, v in headers.items()}
        if path != PATH:
            problems.append(f"path {path}")
        if lower.get("authorization") != f"Bearer {TOKEN}":
            problems.append("no Bearer token")
        if not lower.get("content-type", "").startswith("application/json"):
            problems.append("content type")
        inputs = doc.get("inputs") if isinstance(doc, dict) else None
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
            return [*problems, "inputs must be a list of 1 to 100 records"]
        for n, one in enumerate(inputs):
            if not isinstance(one.get("id"), str):
                problems.append(f"inputs[{n}].id is not a string")
            props = one.get("properties")
            if not isinstance(props, dict) or not props:
                problems.append(f"inputs[{n}].properties missing")
                continue
            for name, value in props.items():
                if not isinstance(value, str):
                    problems.append(f"inputs[{n}].properties.{name} is not a string")
                if name not in self.properties:
                    problems.append(f"inputs[{n}].properties.{name} is not a contact property")
        return problems

    def _answer(self, path: str, headers: dict[str, str], body: bytes):
        doc = json.loads(body)
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": doc})
            self.problems.extend(self._check(path, headers, doc))
            if self.status is not None:
                return self.status, b'{"status":"error","message":"refused"}', {}
            if self.throttle_first > 0:
                self.throttle_first -= 1
                return (
                    429,
                    b'{"status":"error","category":"RATE_LIMITS","message":"You have reached '
                    b'your secondly limit."}',
                    {"Retry-After": self.retry_after},
                )
        ids = [one["id"] for one in doc["inputs"]]
        results = [{"id": i, "properties": {}} for i in ids if i not in self.missing]
        gone = [i for i in ids if i in self.missing]
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if not gone:
            return 200, json.dumps(answer).encode(), {}
        answer["numErrors"] = len(gone)
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some CONTACT objects, they may be deleted or not "
                f"exist. Check that ids are valid. ids={gone}",
                "context": {"ids": gone},
            }
        ]
        return 207, json.dumps(answer).encode(), {}
