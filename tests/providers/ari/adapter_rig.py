"""The Asterisk adapter running against the fake Asterisk, on a real database.

Both clocks run a hundred times fast: the fake's prompts, rings and talks
(``time_scale=0.01``) and the adapter's, so the engine's timers keep in step
with what the caller hears. Every sound the line can play is on the fake,
one (fast) second long.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from callflow.config.models import HotlineConfig
from callflow.engine.clock import AcceleratedClock
from callflow.engine.state import Phase
from callflow.providers.ari.adapter import AsteriskAdapter
from callflow.providers.ari.calls import InboundCall
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.live_sounds import LiveSounds
from callflow.providers.ari.sounds import sound_files
from callflow.service.rules import LineRules
from callflow.store.session import Database
from tests.fakes.ari_server import APP, PASSWORD, USERNAME, FakeAsterisk
from tests.store.helpers import T0

WAIT = 5.0
"""Real seconds any one expected thing may take (minutes of line time at this speed)."""


@dataclass
class AdapterRig:
    fake: FakeAsterisk
    line: AsteriskAdapter
    clock: AcceleratedClock

    async def until(self, condition: Callable[[], bool], what: str = "") -> None:
        try:
            async with asyncio.timeout(WAIT):
                while not condition():
                    await asyncio.sleep(0.002)
        except TimeoutError:
            _where_everything_was()
            raise AssertionError(f"never happened: {what or condition}") from None

    async def call_in(self, number: str = "+358401234567") -> str:
        """A caller dials in; the id of their channel in our application, once answered."""
        call = await self.fake.start_inbound_call(number=number)
        await self.until(lambda: call.channel_id in self.line.calls, "the call reached us")
        await self.until(
            lambda: self.fake.model.channels[call.channel_id].state == "Up", "answered"
        )
        return call.channel_id

    def call(self, channel_id: str) -> InboundCall:
        return self.line.calls[channel_id]

    async def in_phase(self, channel_id: str, phase: Phase) -> InboundCall:
        call = self.line.calls.get(channel_id)
        assert call is not None, f"{channel_id} is not a call of ours"
        await self.until(lambda: call.state.phase is phase, f"{channel_id} in {phase}")
        return call

    async def press(self, channel_id: str, digits: str) -> None:
        await self.fake.press_digits(channel_id, digits)


@asynccontextmanager
async def running_line(
    fake: FakeAsterisk,
    config: HotlineConfig,
    database: Database,
    start: datetime = T0,
    *,
    rules: LineRules | None = None,
    sounds: LiveSounds | None = None,
) -> AsyncIterator[AdapterRig]:
    """An adapter process on the (listening) fake, its clock from *start* (a Monday
    morning), under *rules* (*config*'s, unchanging, if none) with *sounds* (the files
    of *config* are on the fake); leaving stops the process, not Asterisk."""
    assert config.provider.ari is not None
    for sound in sound_files(config, config.provider.ari):
        fake.add_sound(sound.name, 1.0)
    clock = AcceleratedClock(start, speed=1 / fake.time_scale)
    async with AriClient(fake.url, USERNAME, PASSWORD, APP) as client:
        line = AsteriskAdapter(config, database, clock, client, rules=rules, sounds=sounds)
        task = asyncio.create_task(line.run())
        try:
            await fake.wait_until(fake.is_connected, WAIT)
            yield AdapterRig(fake, line, clock)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _where_everything_was() -> None:
    """Every thread's and every task's stack on stderr: a step that never came back under a
    loaded machine says where it waited (pytest shows it beside the failure)."""
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)
