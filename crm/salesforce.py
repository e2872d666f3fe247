"""Salesforce outbound messages: the SOAP `notifications` call, parsed; the answers it expects.

As the outbound messaging WSDL defines it (developer.salesforce.com, "Understanding the Outbound
Messaging WSDL"): `notifications` holds OrganizationId, ActionId, SessionId, EnterpriseUrl,
PartnerUrl and up to 100 `Notification`s, each an `Id` (the notification's own, the same on a
re-send) and an `sObject` with the fields the admin chose (`sf:Id`, `sf:Status`, ...). Salesforce
re-sends until it reads `<Ack>true</Ack>`, may send one twice, and out of order: the
notification id is the message id (store/crm_inbox.py skips a repeat), and a lead's stage keeps
its earliest time, so order does not matter.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from crm.config import SalesforceConfig
from foundation.errors import DataError
from store.crm_inbox import CrmLead, CrmMessage, CrmStage

CRM = "salesforce"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
).encode()


def fault(message: str) -> bytes:
    """A SOAP fault: Salesforce reads it as not acknowledged and sends the message again."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>soapenv:Client</faultcode><faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()


@dataclass(frozen=True)
class Outbound:
    organization_id: str
    action_id: str
    messages: list[CrmMessage]
    unmapped: list[str]


def _child(parent: ET.Element, ns: str, name: str) -> ET.Element | None:
    return parent.find(f"{{{ns}}}{name}")


def _text(parent: ET.Element, ns: str, name: str) -> str | None:
    node = _child(parent, ns, name)
    if node is None or node.get(f"{{{XSI_NS}}}nil") == "true":
        return None
    return (node.text or "").strip()


def parse_outbound(body: bytes, config: SalesforceConfig, now: datetime) -> Outbound:
    """The notifications of one outbound message. DataError naming the notification (by
    position and id) and the element for anything off the WSDL's shape."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        # No DTDs: entity expansion is the classic XML bomb; Salesforce never sends one.
        raise DataError("salesforce: a DOCTYPE or ENTITY declaration is not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise DataError(f"salesforce: the body is not XML ({exc})") from None
    envelope_body = _child(root, SOAP_NS, "Body")
    call = None if envelope_body is None else _child(envelope_body, OUTBOUND_NS, "notifications")
    if call is None:
        raise DataError(
            "salesforce: no soapenv:Body/notifications element (not an outbound message)"
        )
    org = _text(call, OUTBOUND_NS, "OrganizationId")
    if not org:
        raise DataError("salesforce: OrganizationId missing")
    notifications = call.findall(f"{{{OUTBOUND_NS}}}Notification")
    if len(notifications) > config.max_notifications:
        raise DataError(
            f"salesforce: {len(notifications)} Notification elements; the outbound message "
            f"contract allows at most {config.max_notifications}"
        )
    messages, unmapped = [], []
    for n, note in enumerate(notifications):
        message, problem = _notification(n, note, config, now)
        messages.append(message)
        if problem:
            unmapped.append(problem)
    return Outbound(org, _text(call, OUTBOUND_NS, "ActionId") or "", messages, unmapped)


def _notification(
    n: int, note: ET.Element, config: SalesforceConfig, now: datetime
) -> tuple[CrmMessage, str | None]:
    note_id = _text(note, OUTBOUND_NS, "Id")
    if not note_id:
        raise DataError(f"salesforce: Notification {n}: Id missing")
    record = _child(note, OUTBOUND_NS, "sObject")
    if record is None:
        raise DataError(f"salesforce: Notification {n} ({note_id}): sObject missing")
    record_id = _text(record, SOBJECT_NS, "Id")
    if not record_id:
        raise DataError(f"salesforce: Notification {n} ({note_id}): sObject sf:Id missing")
    fields = {
        child.tag.split("}", 1)[-1]: (child.text or "").strip()
        for child in record
        if child.get(f"{{{XSI_NS}}}nil") != "true"
    }
    changed = _timestamp(fields.get("LastModifiedDate"), n, note_id) or now
    lead_id = (fields.get(config.lead_id_field) if config.lead_id_field else None) or (
        f"{CRM}-{record_id}"
    )
    lead = CrmLead(
        CRM, record_id, lead_id, changed, email=fields.get(config.email_field), properties=fields
    )
    status = fields.get(config.status_field)
    stages: tuple[CrmStage, ...] = ()
    problem = None
    if status:
        stage = config.stages.get(status)
        if stage is None:
            problem = f"Notification {n} ({note_id}): {config.status_field} {status!r} has no stage"
        else:
            stages = (CrmStage(lead_id, stage, changed, status),)
    kind = f"{config.object}Notification"
    return CrmMessage(CRM, note_id, kind, leads=(lead,), stages=stages), problem


def _timestamp(value: str | None, n: int, note_id: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(
            f"salesforce: Notification {n} ({note_id}): LastModifiedDate {value!r} is not a "
            "timestamp"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
