"""`leadscore crm check`: what crm.yaml points at, tried for real, in lines an admin reads.

HubSpot: one documented request, GET {base_url}/crm/properties/{api_version}/contacts with the
private app token: it proves the URL answers and the token is accepted, and lists the contact
properties, so the check can say which score properties still need creating and which statuses
crm.yaml maps that HubSpot does not offer. Salesforce sends outbound messages to us and needs no
outgoing connection: its section is summarised. A CRM that cannot be reached or refuses the
token is a CrmCheckError (the command's exit 2), after the lines found so far.

BottleCRM: GET {base_url}/api/leads/?limit=1 with the personal access token: it proves the URL
answers and the token is accepted, counts the open leads, and lists the lead statuses BottleCRM
offers, so the check can say which statuses crm.yaml maps that BottleCRM does not have.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx2 as httpx

from crm.config import BottleCrmConfig, CrmConfig, HubSpotConfig, SalesforceConfig
from foundation.errors import LeadscoreError


class CrmCheckError(LeadscoreError):
    """A configured CRM cannot be reached, or refused the credentials."""


def _signed_in_get(
    crm: str,
    base_url: str,
    url: str,
    token_env: str,
    env: dict[str, str],
    timeout_s: float,
    refused_hint: str,
) -> httpx.Response:
    """GET `url` with the bearer token in $token_env; the 200 answer, else a CrmCheckError that
    says what to fix (the variable unset, the CRM unreachable, the token refused, another
    answer)."""
    token = env.get(token_env, "")
    if not token:
        raise CrmCheckError(
            f"{crm}: {token_env} is not set (crm.yaml {crm}.token_env): cannot sign in"
        )
    try:
        answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise CrmCheckError(f"{crm}: cannot reach {base_url}: {exc}") from None
    if answer.status_code in (401, 403):
        raise CrmCheckError(
            f"{crm}: {base_url} refused the token in {token_env} "
            f"(HTTP {answer.status_code}): {refused_hint}"
        )
    if answer.status_code != 200:
        raise CrmCheckError(
            f"{crm}: GET {url} answered HTTP {answer.status_code}: {answer.text[:200].strip()}"
        )
    return answer


def properties_url(config: HubSpotConfig) -> str:
    return f"{config.base_url}/crm/properties/{config.api_version}/contacts"


def check_hubspot(
    config: HubSpotConfig, say: Callable[[str], None], env: dict[str, str] | None = None
) -> None:
    env = dict(os.environ) if env is None else env
    if not env.get(config.client_secret_env):
        say(f"hubspot: {config.client_secret_env} is not set: webhooks cannot be verified")
    answer = _signed_in_get(
        "hubspot",
        config.base_url,
        properties_url(config),
        config.token_env,
        env,
        config.timeout_s,
        "check the private app's token and its scopes "
        "(crm.objects.contacts.write, crm.schemas.contacts.read)",
    )
    found = _properties(answer)
    say(f"hubspot: reached {config.base_url}, token accepted, {len(found)} contact properties")
    wanted = config.score_properties.model_dump()
    missing = [name for name in wanted.values() if name not in found]
    if missing:
        say(f"hubspot: score properties to create first: {', '.join(missing)}")
    else:
        say(f"hubspot: score properties present: {', '.join(wanted.values())}")
    status = found.get(config.status_property)
    if status is None:
        say(f"hubspot: status property {config.status_property!r} not found")
        return
    offered = {str(o.get("value")) for o in status.get("options") or [] if isinstance(o, dict)}
    unknown = sorted(set(config.stages) - offered) if offered else []
    say(
        f"hubspot: {config.status_property}: {len(config.stages)} statuses mapped to stages"
        + (f"; not offered by HubSpot: {', '.join(unknown)}" if unknown else "")
    )


def _properties(answer: httpx.Response) -> dict[str, dict[str, Any]]:
    try:
        doc = answer.json()
    except ValueError:
        raise CrmCheckError("hubspot: the properties answer is not JSON") from None
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, list):
        raise CrmCheckError("hubspot: the properties answer has no results list")
    return {str(p.get("name")): p for p in results if isinstance(p, dict)}


def check_salesforce(config: SalesforceConfig, say: Callable[[str], None]) -> None:
    stages = ", ".join(f"{k!r} -> {v}" for k, v in config.stages.items()) or "none"
    say(
        f"salesforce: outbound messages from organization {config.organization_id} "
        f"({config.object}, status field {config.status_field}) to POST /crm/salesforce; "
        f"statuses: {stages}"
    )


def check_bottlecrm(
    config: BottleCrmConfig, say: Callable[[str], None], env: dict[str, str] | None = None
) -> None:
    env = dict(os.environ) if env is None else env
    if not env.get(config.webhook_secret_env):
        say(f"bottlecrm: {config.webhook_secret_env} is not set: webhooks cannot be verified")
    url = f"{config.base_url}/api/leads/?limit=1"
    answer = _signed_in_get(
        "bottlecrm",
        config.base_url,
        url,
        config.token_env,
        env,
        config.timeout_s,
        "use a personal access token (bcrm_pat_...) of a user who may read and edit leads",
    )
    try:
        doc = answer.json()
        offered = {str(pair[0]) for pair in doc.get("status") or []}
        count = (doc.get("open_leads") or {}).get("leads_count")
    except (ValueError, AttributeError, TypeError, IndexError):
        raise CrmCheckError(f"bottlecrm: GET {url}: not BottleCRM's lead list") from None
    say(f"bottlecrm: reached {config.base_url}, token accepted, {count} open leads")
    unknown = sorted(set(config.stages) - offered) if offered else []
    say(
        f"bottlecrm: {len(config.stages)} lead statuses mapped to stages"
        + (f"; not offered by BottleCRM: {', '.join(unknown)}" if unknown else "")
    )


def check(config: CrmConfig, say: Callable[[str], None]) -> None:
    """Every configured CRM, HubSpot first; raises CrmCheckError at the first that fails."""
    if config.hubspot is None and config.salesforce is None and config.bottlecrm is None:
        raise CrmCheckError(
            "crm.yaml configures no CRM (add a hubspot:, salesforce: or bottlecrm: section)"
        )
    if config.salesforce is not None:
        check_salesforce(config.salesforce, say)
    if config.hubspot is not None:
        check_hubspot(config.hubspot, say)
    if config.bottlecrm is not None:
        check_bottlecrm(config.bottlecrm, say)
