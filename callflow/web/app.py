"""The one place the HTTP app is put together.

Each concern is its own router (the pages, the advisor and admin API, the
line's live settings, operations), mounted here on one app with one way of
answering errors; the store's changes are followed for the live pages while
it serves (:class:`~callflow.web.live.ChangeFeed`), and so are the line's
rules when the app keeps its own (``callflow web``: ``callflow serve`` hands
it the line's, which the line keeps current); a provider's webhooks, when it
has any, are mounted first (what runs while they are served running for as
long as the app serves). Which provider's they are, the app does not know:
it is handed :class:`~callflow.providers.port.Webhooks`. The OpenAPI schema
is at ``/openapi.json`` and readable at ``/docs`` and ``/redoc`` (served
whole by the app, see :mod:`callflow.web.docs`), unless ``[web] docs`` turns
them off.

Around it all, outermost first: security headers on every answer
(:mod:`callflow.web.security`), then the body limit
(:mod:`callflow.http.limits`), so no route or parser reads a body too large.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from importlib.metadata import version

import structlog
from fastapi import FastAPI

from callflow.config.layers import baseline_of
from callflow.config.models import HotlineConfig
from callflow.engine.clock import Clock
from callflow.errors import StoreError
from callflow.http.limits import BodyLimit
from callflow.providers.port import Webhooks
from callflow.service.rules import LineRules, RulesInForce, following
from callflow.store.session import Database, OutageLog
from callflow.web import WebContext, metrics
from callflow.web.api import admin, advisor, settings
from callflow.web.docs import docs_routes
from callflow.web.errors import install_error_handling
from callflow.web.live import ChangeFeed
from callflow.web.pages.routes import mount_pages
from callflow.web.security import SecurityHeaders

log = structlog.get_logger("callflow.web")

DESCRIPTION = """\
The hotline's advisor API. Send your token as `Authorization: Bearer <token>`.

Advisors sign in and out, take breaks, see the callback they hold and record how
it went. Admins manage advisors and callback requests, and change the line while
it runs: closures, special hours, emergency messages, queue thresholds and
prompts. Errors are always `{"error": slug, "detail": message}`; a refused change
of a setting adds `problems`, each with the setting's `key` and the `reason`.
"""


def create_app(
    config: HotlineConfig,
    database: Database,
    *,
    clock: Clock,
    webhooks: Webhooks | None = None,
    rules: LineRules | None = None,
) -> FastAPI:
    """The app; with a provider's *webhooks*, those too. It decides and shows under
    *rules*; without them, under its own: *config*'s file with the stored settings
    over it, followed while it serves (a configuration read from no file: as it is)."""
    title = f"callflow — {config.line.name}"
    changes = ChangeFeed()
    followed = None
    if rules is None and config.source is not None:
        rules = followed = _own_rules(config, database)
    elif rules is None:
        rules = LineRules.fixed(config)
    app = FastAPI(
        lifespan=_lifespan(webhooks, changes, followed, database, clock),
        title=title,
        version=version("callflow"),
        description=DESCRIPTION,
        openapi_url="/openapi.json" if config.web.docs else None,
        docs_url=None,  # FastAPI's own pages load their scripts from a CDN: see .docs
        redoc_url=None,
        openapi_tags=[
            {"name": "advisor", "description": "An advisor acting on themselves."},
            {"name": "admin", "description": "Managing advisors and callbacks (admins only)."},
            {
                "name": "settings",
                "description": "Changing the line while it runs, with every change kept "
                "and undoable (admins only).",
            },
            {"name": "operations", "description": "Metrics and health, without a token."},
        ],
    )
    _serve_line(app, config, rules, database, clock, https=webhooks is not None and webhooks.https)
    app.state.changes = changes
    app.include_router(advisor.router)
    app.include_router(admin.router)
    mount_pages(app)
    # After the pages: FastAPI builds a router's routes on the first request that reaches
    # it, and a page's request then has no need to build these.
    app.include_router(settings.router)
    app.include_router(metrics.router)
    if config.web.metrics_port is None:  # else served apart, by create_metrics_app
        app.include_router(metrics.scrape_router)
    if config.web.docs:
        app.router.routes.extend(docs_routes(title))
    if webhooks is not None:
        # First of the app's routes: every call's webhooks pass here, and would otherwise
        # be tried against each API route before.
        app.router.routes[:0] = webhooks.routes
    return app


def _own_rules(config: HotlineConfig, database: Database) -> LineRules:
    """*config* with the stored settings over it (``LineRules.load``); with the database
    away, *config* alone for now: the app starts, answers 503 where it needs the
    database, and its lifespan puts the stored settings in force once it answers."""
    try:
        return LineRules.load(config, database)
    except StoreError as exc:
        log.warning("web.settings_unread", error=str(exc), keeping="the file's rules")
        rules = RulesInForce.of(config)
        return LineRules(rules, path=config.source, raw_file=baseline_of(config), database=database)


def create_metrics_app(
    config: HotlineConfig, database: Database, *, clock: Clock, https: bool = False
) -> FastAPI:
    """``/metrics`` alone, for the address of its own that ``[web] metrics_port`` gives it
    (*https* as for the app beside it)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    _serve_line(app, config, LineRules.fixed(config), database, clock, https=https)
    app.include_router(metrics.scrape_router)
    return app


def _serve_line(
    app: FastAPI,
    config: HotlineConfig,
    rules: LineRules,
    database: Database,
    clock: Clock,
    *,
    https: bool,
) -> None:
    """What every app of the line has: its context, its errors, its guards (sized by
    *config*, as the server started); *https* when its public address is (HSTS on every
    answer)."""
    app.state.context = WebContext(rules=rules, database=database, clock=clock)
    install_error_handling(app)
    app.add_middleware(BodyLimit, max_bytes=config.web.max_body)
    app.add_middleware(SecurityHeaders, https=https)


def _lifespan(
    webhooks: Webhooks | None,
    changes: ChangeFeed,
    followed: LineRules | None,
    database: Database,
    clock: Clock,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What runs while the app serves: the store's changes followed for the live pages,
    the line's rules when the app keeps its own (*followed*: another process's change
    is in force here within seconds), and what the webhooks need running (a
    connector)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as running:
            await running.enter_async_context(changes.running(database, OutageLog(clock)))
            if followed is not None:
                await running.enter_async_context(following(followed, database, OutageLog(clock)))
            if webhooks is not None:
                await running.enter_async_context(webhooks.serving())
            yield

    return lifespan
