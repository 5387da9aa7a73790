"""A line on a Twilio number, put together: webhooks, REST client, connector, dialler.

:class:`TwilioProvider` implements :class:`~callflow.providers.port.Provider`.
Twilio's line is its webhooks: the line's HTTP app mounts them, and while it
serves them the connector calls advisors for queued callers (when ``[connect]
queued``). The callback dispatcher (``callflow worker``) gets its
:class:`TwilioDialler` from here too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from callflow.engine.clock import Clock
from callflow.providers.port import Webhooks
from callflow.providers.twilio.batches import WebhookBatches
from callflow.providers.twilio.calls import InboundCalls
from callflow.providers.twilio.connector import QueueConnector
from callflow.providers.twilio.dialler import TwilioDialler
from callflow.providers.twilio.legs import LegWatch, PlacedCalls
from callflow.providers.twilio.rest import HttpxTwilioClient, make_client
from callflow.providers.twilio.settings import TwilioSettings
from callflow.providers.twilio.signatures import WebhookVerifier
from callflow.providers.twilio.store import Writes
from callflow.providers.twilio.webhooks import twilio_webhooks
from callflow.service.rules import LineRules
from callflow.store.session import Database


class TwilioProvider:
    """Everything of one line's Twilio number, under *rules* (the line's rules in force;
    *settings*' configuration's, unchanging, if none)."""

    name = "twilio"

    def __init__(
        self,
        settings: TwilioSettings,
        database: Database,
        clock: Clock,
        *,
        http: HttpxTwilioClient | None = None,
        rules: LineRules | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock
        self.rules = rules or LineRules.fixed(settings.config)
        self.http = http or HttpxTwilioClient()
        self.rest: Any = make_client(settings.account, self.http)
        self.watch = LegWatch()
        self.verifier = WebhookVerifier(
            settings.account.auth_token,
            settings.twilio.public_url,
            enabled=settings.verify_signatures,
        )
        writes = Writes(database)  # the process's writers take turns on one queue
        self.connector = QueueConnector(
            settings, database, clock, self.rest, rules=self.rules, writes=writes
        )
        self.calls = InboundCalls(
            settings,
            database,
            clock,
            rules=self.rules,
            on_queue_joined=self.connector.wake,
            writes=writes,
        )
        self.placed = PlacedCalls(settings, database, clock, self.calls, self.watch)
        self.batches: WebhookBatches[str] = WebhookBatches(writes)

    def facts(self) -> Mapping[str, object]:
        return {"public_url": self.settings.twilio.public_url}

    def webhooks(self) -> Webhooks:
        """The webhooks (a refused one is 403, a malformed one 400), and the connector
        while they are served."""
        routes = twilio_webhooks(
            calls=self.calls,
            placed=self.placed,
            batches=self.batches,
            verifier=self.verifier,
            account_sid=self.settings.account.sid,
        )
        https = self.settings.twilio.public_url.startswith("https:")
        return Webhooks(routes=[routes], serving=self.serving, https=https)

    async def run(self) -> None:
        """Nothing runs beside the webhooks: Twilio's line is the app serving them."""
        await asyncio.Event().wait()

    def dialler(self) -> TwilioDialler:
        """Callbacks placed through this account."""
        return TwilioDialler(
            self.settings, self.database, self.clock, self.rest, self.watch, rules=self.rules
        )

    @asynccontextmanager
    async def dialling(self) -> AsyncIterator[TwilioDialler]:
        try:
            yield self.dialler()
        finally:
            await self.http.close()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """While the app serves: queued callers are connected with free advisors."""
        connecting = None
        if self.rules.config.connect.queued:
            connecting = asyncio.create_task(self.connector.run(), name="twilio-connector")
        try:
            yield
        finally:
            if connecting is not None:
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting
            await self.http.close()
