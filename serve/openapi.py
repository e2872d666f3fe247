"""The OpenAPI document: request bodies the routes parse themselves, documented from the models.

The scoring routes read raw bytes and validate them with pydantic-core in one pass
(serve/routes_score.py); FastAPI then knows nothing about their bodies. `request_body` puts the
model's schema into the operation, and `install_openapi` adds those models (and their nested ones)
to the components, so the document describes exactly what the routes accept and the fuzz test can
drive them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "APIKeyHeader"  # enforced by serve.security.ApiKeyGuard


def request_body(*models: type[BaseModel], examples: dict[str, Any] | None = None) -> dict:
    """`openapi_extra` for a route whose JSON body is one of `models`."""
    refs = [{"$ref": REF.format(model=m.__name__)} for m in models]
    media: dict[str, Any] = {"schema": refs[0] if len(refs) == 1 else {"oneOf": refs}}
    if examples:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"requestBody": {"required": True, "content": {"application/json": media}}}


def model_schemas(models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    """Validation-mode JSON schemas of `models` and everything they reference, by name."""
    out: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF, mode="validation")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def install_openapi(app: FastAPI, body_models: tuple[type[BaseModel], ...]) -> None:
    """Generate the document once, on first request, with `body_models` in the components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name, body in model_schemas(body_models).items():
            schemas.setdefault(name, body)
        components["securitySchemes"] = {
            SECURITY_SCHEME: {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "One of LEADSCORE_API_KEYS or the lines of LEADSCORE_API_KEYS_FILE.",
            }
        }
        for path, operations in schema.get("paths", {}).items():
            if path.startswith("/v1/"):
                for operation in operations.values():
                    operation["security"] = [{SECURITY_SCHEME: []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
