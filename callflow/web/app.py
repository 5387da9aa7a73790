"""The one place the HTTP app is put together.

Each concern is its own router (advisors, admins, operations), mounted here
on one app with one way of answering errors; the providers' webhooks are
mounted the same way beside them (Twilio's when ``[provider.twilio]`` is
configured, its connector running for as long as the app serves). The
OpenAPI schema is at ``/openapi.json`` and readable at ``/docs`` and
``/redoc`` (served whole by the app, see :mod:`callflow.web.docs`), unless
``[web] docs`` turns them off.

Around it all, outermost first: security headers on every answer
(:mod:`callflow.web.security`), then the body limit
(:mod:`callflow.web.limits`), so no route or parser reads a body too large.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.metadata import version
from typing import TYPE_CHECKING

from fastapi import FastAPI

from callflow.config.models import HotlineConfig
from callflow.engine.clock import Clock
from callflow.store.session import Database
from callflow.web import WebContext, admin_routes, advisor_routes, metrics
from callflow.web.docs import docs_routes
from callflow.web.errors import install_error_handling
from callflow.web.limits import BodyLimit
from callflow.web.security import SecurityHeaders

if TYPE_CHECKING:
    from callflow.providers.twilio.provider import TwilioProvider

DESCRIPTION = """\
The hotline's advisor API. Send your token as `Authorization: Bearer <token>`.

Advisors sign in and out, take breaks, see the callback they hold and record how
it went. Admins manage advisors and callback requests. Errors are always
`{"error": slug, "detail": message}`.
"""


def create_app(
    config: HotlineConfig,
    database: Database,
    *,
    clock: Clock,
    twilio: TwilioProvider | None = None,
) -> FastAPI:
    """The app; with ``[provider.twilio]`` configured, Twilio's webhooks too (*twilio*, or
    one made with the account from the environment)."""
    if twilio is None and config.provider.twilio is not None:
        from callflow.providers.twilio.provider import TwilioProvider  # noqa: PLC0415

        twilio = TwilioProvider.from_environment(config, database, clock)
    title = f"callflow — {config.line.name}"
    app = FastAPI(
        lifespan=_lifespan(twilio),
        title=title,
        version=version("callflow"),
        description=DESCRIPTION,
        openapi_url="/openapi.json" if config.web.docs else None,
        docs_url=None,  # FastAPI's own pages load their scripts from a CDN: see .docs
        redoc_url=None,
        openapi_tags=[
            {"name": "advisor", "description": "An advisor acting on themselves."},
            {"name": "admin", "description": "Managing advisors and callbacks (admins only)."},
            {"name": "operations", "description": "Metrics and health, without a token."},
        ],
    )
    _serve_line(app, config, database, clock)
    app.include_router(advisor_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(metrics.router)
    if config.web.metrics_port is None:  # else served apart, by create_metrics_app
        app.include_router(metrics.scrape_router)
    if config.web.docs:
        app.router.routes.extend(docs_routes(title))
    if twilio is not None:
        twilio.mount(app)
    return app


def create_metrics_app(config: HotlineConfig, database: Database, *, clock: Clock) -> FastAPI:
    """``/metrics`` alone, for the address of its own that ``[web] metrics_port`` gives it."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    _serve_line(app, config, database, clock)
    app.include_router(metrics.scrape_router)
    return app


def _serve_line(app: FastAPI, config: HotlineConfig, database: Database, clock: Clock) -> None:
    """What every app of the line has: its context, its errors, its guards."""
    app.state.context = WebContext(config=config, database=database, clock=clock)
    install_error_handling(app)
    app.add_middleware(BodyLimit, max_bytes=config.web.max_body)
    twilio_url = config.provider.twilio.public_url if config.provider.twilio else ""
    app.add_middleware(SecurityHeaders, https=twilio_url.startswith("https:"))


def _lifespan(
    twilio: TwilioProvider | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What runs while the app serves: a Twilio line's connector."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if twilio is None:
            yield
            return
        async with twilio.running():
            yield

    return lifespan
