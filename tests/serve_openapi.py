"""Check a response against the app's own OpenAPI document (status documented, body valid)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_URI = "urn:leadscore:openapi"


def response_pointer(doc: dict[str, Any], method: str, path: str, status: int) -> str:
    """JSON pointer (into the document) to the schema of `status` for this operation."""
    responses = doc["paths"][path][method.lower()]["responses"]
    code = str(status) if str(status) in responses else "default"
    assert code in responses, f"{method.upper()} {path}: status {status} not documented"
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{escaped}/{method.lower()}/responses/{code}/content/application~1json/schema"


def assert_matches_openapi(app: Any, method: str, path: str, response: Any) -> None:
    """Fail when `response` (httpx) is not what the OpenAPI document says `path` returns."""
    doc = app.openapi()
    pointer = response_pointer(doc, method, path, response.status_code)
    assert response.headers["content-type"].startswith("application/json")
    registry = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT202012))
    validator = Draft202012Validator({"$ref": DOC_URI + pointer}, registry=registry)
    errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.path))
    assert not errors, f"{method.upper()} {path} {response.status_code}: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors[:5]
    )
