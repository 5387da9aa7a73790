"""A line on Asterisk, put together: the adapter on the line's Stasis application, and
the callback dialler on a worker's own.

:class:`AriProvider` implements :class:`~callflow.providers.port.Provider`.
Asterisk calls the line over its websocket, not over HTTP, so the line's app
gets no webhooks from it: ``callflow serve`` runs the adapter beside the app
(advisor API, metrics) on the same event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from callflow.engine.clock import Clock
from callflow.providers.ari.adapter import AsteriskAdapter
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.dialler import AriDialler
from callflow.providers.ari.live_sounds import LiveSounds
from callflow.providers.ari.settings import AriSettings
from callflow.providers.ari.speech import ASTERISK_SOUNDS
from callflow.providers.port import Webhooks
from callflow.service.rules import LineRules
from callflow.store.session import Database


class AriProvider:
    """One line's Asterisk, reached with *settings* (its password checked already), under
    *rules* (the line's rules in force; *settings*' configuration, unchanging, if none).
    Prompts changed while it runs are rendered into *sounds_dir* where that is Asterisk's
    sounds directory on this host."""

    name = "ari"

    def __init__(
        self,
        settings: AriSettings,
        database: Database,
        clock: Clock,
        *,
        rules: LineRules | None = None,
        sounds_dir: Path = ASTERISK_SOUNDS,
    ) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock
        self.rules = rules or LineRules.fixed(settings.config)
        self.sounds_dir = sounds_dir

    def facts(self) -> Mapping[str, object]:
        return {"asterisk": self.settings.ari.url, "app": self.settings.ari.app}

    def webhooks(self) -> Webhooks | None:
        return None

    async def run(self) -> None:
        """The line's calls, until cancelled (a restarted process takes over those
        still up)."""
        sounds = LiveSounds(self.rules, self.settings.ari, self.sounds_dir)
        async with self.settings.client() as client:
            adapter = AsteriskAdapter(
                self.settings.config,
                self.database,
                self.clock,
                client,
                rules=self.rules,
                sounds=sounds,
            )
            await adapter.run()

    @asynccontextmanager
    async def dialling(self) -> AsyncIterator[AriDialler]:
        """A dialler on a Stasis application of its own (the line's belongs to the
        adapter), hearing its legs' events while the context lasts."""
        ari = self.settings.ari
        application = AriDialler.application(ari.app)
        client = AriClient(ari.url, ari.username, self.settings.password, application)
        dialler = AriDialler(self.settings.config, client, self.clock, rules=self.rules)
        hearing = asyncio.create_task(dialler.run(), name="ari-dialler")
        try:
            yield dialler
        finally:
            hearing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hearing
            await client.aclose()
