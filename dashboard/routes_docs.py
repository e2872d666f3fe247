"""The API documentation, self-hosted: Swagger UI from the vendored `swagger-ui-dist` build.

FastAPI's default /docs pulls Swagger UI from a CDN and starts it with an inline script; both
break under the service's Content-Security-Policy and on a machine without internet. Here the
page loads the bundle from /static and starts it from a static file (static/docs-init.js).
ReDoc is turned off (serve/app.py sets redoc_url=None): one documentation page is enough.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dashboard.web import render

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs(request: Request) -> Response:
    return render(request, "docs.html", {"openapi_url": request.app.openapi_url})
