"""The shared dashboard: server-rendered pages (Jinja2) with Vega-Lite charts, browser sessions,
and the self-hosted API docs. `install_dashboard(app, settings)` wires it into the service.

Everything the browser loads comes from this package (templates/, static/ with the vendored
Vega and Swagger UI builds): no CDN, no inline script, so the pages work offline under a strict
Content-Security-Policy.
"""
