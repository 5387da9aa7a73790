"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served whole by the app.

FastAPI's own pages load their scripts from a CDN, which a county's closed
intranet does not reach, and start Swagger UI with an inline script, which a
strict ``Content-Security-Policy`` forbids. These pages take the same
scripts from the ``fastapi-offline`` package, served under ``/docs/assets``,
and start Swagger UI from a script of their own, so their policy allows
scripts from the app itself only. Every URL in them is relative, so they
work behind a proxy that serves the app under a path of its own.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import fastapi_offline
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
"""Swagger UI's and ReDoc's scripts and styles, and a favicon."""

DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""What the pages need: the app's own scripts, inline styles (both UIs set them), images
as data URLs, and a worker from a blob (ReDoc's search)."""
REDOC_POLICY = f"{DOCS_POLICY}; script-src 'self' 'unsafe-eval'"
"""ReDoc compiles JSON-schema validators into functions (ajv's ``new Function``); still
no inline script."""

SWAGGER_START = """\
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""
"""Swagger UI's start, as a script of its own (an inline one would need 'unsafe-inline');
``validatorUrl: null`` keeps it from asking swagger.io to validate the schema."""


def docs_routes(title: str) -> list[BaseRoute]:
    """``/docs``, ``/redoc`` and their assets, for an app whose schema is ``/openapi.json``."""
    head = (
        f'<meta charset="utf-8"><title>{escape(title)}</title>'
        '<link rel="icon" href="docs/assets/favicon.png">'
    )
    swagger = (
        f'<head>{head}<link rel="stylesheet" href="docs/assets/swagger-ui.css"></head>'
        '<body><div id="swagger-ui"></div>'
        '<script src="docs/assets/swagger-ui-bundle.js"></script>'
        '<script src="docs/assets/swagger-start.js"></script></body>'
    )
    redoc = (
        f"<head>{head}</head>"
        '<body><redoc spec-url="openapi.json"></redoc>'
        '<script src="docs/assets/redoc.standalone.js"></script></body>'
    )

    async def swagger_page(_request: Request) -> Response:
        return _page(swagger, DOCS_POLICY)

    async def redoc_page(_request: Request) -> Response:
        return _page(redoc, REDOC_POLICY)

    async def swagger_start(_request: Request) -> Response:
        return Response(SWAGGER_START, media_type="text/javascript")

    return [
        Route("/docs", swagger_page, include_in_schema=False),
        Route("/redoc", redoc_page, include_in_schema=False),
        Route("/docs/assets/swagger-start.js", swagger_start, include_in_schema=False),
        Mount("/docs/assets", _Assets(directory=ASSETS), name="docs-assets"),
    ]


class _Assets(StaticFiles):
    """The UIs' files, revalidated by their ETag rather than never stored (the API's
    default): Swagger UI's bundle alone is 1.5 MB."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def _page(html: str, policy: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!DOCTYPE html><html lang="en">{html}</html>',
        headers={"Content-Security-Policy": policy},
    )
