"""A line on a Twilio number, put together: webhooks, REST client, connector, dialler.

:func:`callflow.web.app.create_app` mounts the webhooks on the one HTTP app
when ``[provider.twilio]`` is configured; the app's lifespan runs the
connector that calls advisors for queued callers. The callback dispatcher
(``callflow worker``) gets its :class:`TwilioDialler` from here too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from callflow.config.models import HotlineConfig
from callflow.engine.clock import Clock
from callflow.errors import InputError, MalformedWebhook, WebhookSignatureInvalid
from callflow.providers.twilio.batches import WebhookBatches
from callflow.providers.twilio.calls import InboundCalls
from callflow.providers.twilio.connector import QueueConnector
from callflow.providers.twilio.dialler import TwilioDialler
from callflow.providers.twilio.legs import LegWatch, PlacedCalls
from callflow.providers.twilio.rest import HttpxTwilioClient, make_client
from callflow.providers.twilio.settings import TwilioAccount, TwilioSettings, twilio_settings
from callflow.providers.twilio.signatures import WebhookVerifier
from callflow.providers.twilio.store import Writes
from callflow.providers.twilio.webhooks import twilio_webhooks
from callflow.store.session import Database
from callflow.web.errors import error_response

log = structlog.get_logger("callflow.twilio")

STATUS_OF_INPUT = {WebhookSignatureInvalid: 403, MalformedWebhook: 400}


class TwilioProvider:
    """Everything of one line's Twilio number."""

    def __init__(
        self,
        settings: TwilioSettings,
        database: Database,
        clock: Clock,
        *,
        http: HttpxTwilioClient | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock
        self.http = http or HttpxTwilioClient()
        self.rest: Any = make_client(settings.account, self.http)
        self.watch = LegWatch()
        self.verifier = WebhookVerifier(
            settings.account.auth_token,
            settings.twilio.public_url,
            enabled=settings.verify_signatures,
        )
        writes = Writes(database)  # the process's writers take turns on one queue
        self.connector = QueueConnector(settings, database, clock, self.rest, writes=writes)
        self.calls = InboundCalls(
            settings, database, clock, on_queue_joined=self.connector.wake, writes=writes
        )
        self.placed = PlacedCalls(settings, database, clock, self.calls, self.watch)
        self.batches: WebhookBatches[str] = WebhookBatches(writes)

    @classmethod
    def from_environment(
        cls,
        config: HotlineConfig,
        database: Database,
        clock: Clock,
        *,
        verify_signatures: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> TwilioProvider:
        """The provider for *config*'s Twilio line, with the secrets from the environment."""
        account = TwilioAccount.from_environment(environ)
        return cls(
            twilio_settings(config, account, verify_signatures=verify_signatures), database, clock
        )

    def dialler(self) -> TwilioDialler:
        """Callbacks placed through this account (for the callback dispatcher)."""
        return TwilioDialler(self.settings, self.database, self.clock, self.rest, self.watch)

    def mount(self, app: FastAPI) -> None:
        """Add the webhooks to *app*: a refused webhook is 403, a malformed one 400."""
        if not self.settings.verify_signatures:
            log.warning(
                "twilio.signatures_not_checked",
                why="development flag: any request to /twilio/ is believed; never in production",
            )
        # First of the app's routes: every call's webhooks pass here, and would otherwise
        # be tried against each API route before.
        app.router.routes.insert(0, twilio_webhooks(self))
        for kind in STATUS_OF_INPUT:
            app.add_exception_handler(kind, _refuse)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While the app serves: queued callers are connected with free advisors."""
        connecting = None
        if self.settings.twilio.connect_queued:
            connecting = asyncio.create_task(self.connector.run(), name="twilio-connector")
        try:
            yield
        finally:
            if connecting is not None:
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting
            await self.http.close()


async def _refuse(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)
    status = STATUS_OF_INPUT[type(exc)]
    log.warning("twilio.refused_webhook", path=request.url.path, slug=exc.slug, why=str(exc))
    return error_response(status, exc.slug, str(exc))
