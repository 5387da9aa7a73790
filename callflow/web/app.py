"""The one place the HTTP app is put together.

Each concern is its own router (advisors, admins, operations), mounted here
on one app with one way of answering errors; the providers' webhooks are
mounted the same way beside them (Twilio's when ``[provider.twilio]`` is
configured, its connector running for as long as the app serves). The
OpenAPI schema is at ``/openapi.json`` and readable at ``/docs``.
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
from callflow.web.errors import install_error_handling

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
    app = FastAPI(
        lifespan=_lifespan(twilio),
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
    if twilio is not None:
        twilio.mount(app)
    return app


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
