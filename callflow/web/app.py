"""The one place the HTTP app is put together.

Each concern is its own router (advisors, admins, operations), mounted here
on one app with one way of answering errors; the providers' webhooks are
mounted the same way beside them. The OpenAPI schema is at
``/openapi.json`` and readable at ``/docs``.
"""

from __future__ import annotations

from importlib.metadata import version

from fastapi import FastAPI

from callflow.config.models import HotlineConfig
from callflow.engine.clock import Clock
from callflow.store.session import Database
from callflow.web import WebContext, admin_routes, advisor_routes, metrics
from callflow.web.errors import install_error_handling

DESCRIPTION = """\
The hotline's advisor API. Send your token as `Authorization: Bearer <token>`.

Advisors sign in and out, take breaks, see the callback they hold and record how
it went. Admins manage advisors and callback requests. Errors are always
`{"error": slug, "detail": message}`.
"""


def create_app(config: HotlineConfig, database: Database, *, clock: Clock) -> FastAPI:
    app = FastAPI(
        title=f"callflow — {config.line.name}",
        version=version("callflow"),
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "advisor", "description": "An advisor acting on themselves."},
            {"name": "admin", "description": "Managing advisors and callbacks (admins only)."},
            {"name": "operations", "description": "Metrics and health, without a token."},
        ],
    )
    app.state.context = WebContext(config=config, database=database, clock=clock)
    install_error_handling(app)
    app.include_router(advisor_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(metrics.router)
    return app
