"""Check a response against the app's own OpenAPI document (status documented, body valid)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_URI = "urn:leadscore:openapi"


def response_schema(doc: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    operation = doc["paths"][path][method.lower()]
    responses = operation["responses"]
    documented = responses.get(str(status)) or responses.get("default")
    assert documented is not None, f"{method.upper()} {path}: status {status} not documented"
    return documented["content"]["application/json"]["schema"]


def assert_matches_openapi(app: Any, method: str, path: str, response: Any) -> None:
    """Fail when `response` (httpx) is not what the OpenAPI document says `path` returns."""
    doc = app.openapi()
    schema = response_schema(doc, method, path, response.status_code)
    assert response.headers["content-type"].startswith("application/json")
    registry = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT202012))
    validator = Draft202012Validator(
        {"$ref": DOC_URI + schema["$ref"]} if "$ref" in schema else schema, registry=registry
    )
    errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.path))
    assert not errors, f"{method.upper()} {path} {response.status_code}: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors[:5]
    )
