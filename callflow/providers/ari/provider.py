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
import gc
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


def freeze_what_start_made() -> None:
    """Collect once, then keep every object made so far out of the garbage collector's
    walks (:func:`gc.freeze`).

    What a process made before its line opens (modules, the configuration, the web
    app, the database engine, the adapter) lives as long as the process. A full
    collection walks every object it tracks while holding the interpreter, and with
    those in its walk each one stopped the line's event loop for 80–120 ms under a
    stampede of callers (``bench/ari.py --profile stampede``); frozen, under 20 ms.
    """
    gc.collect()
    gc.freeze()


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
            freeze_what_start_made()
            await adapter.run()

    @asynccontextmanager
    async def dialling(self) -> AsyncIterator[AriDialler]:
        """A dialler on a Stasis application of its own (the line's belongs to the
        adapter), hearing its legs' events while the context lasts."""
        ari = self.settings.ari
        application = AriDialler.application(ari.app)
        client = AriClient(ari.url, ari.username, self.settings.password, application)
        dialler = AriDialler(
            self.settings.config, client, self.clock, rules=self.rules, database=self.database
        )
        hearing = asyncio.create_task(dialler.run(), name="ari-dialler")
        try:
            yield dialler
        finally:
            hearing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hearing
            await client.aclose()
