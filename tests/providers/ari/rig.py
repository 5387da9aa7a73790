"""A connected ARI client and the fake Asterisk it talks to, for one test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from callflow.providers.ari.client import AriClient
from callflow.providers.ari.events import Event, StasisStart
from callflow.providers.ari.stream import Connected, Subscription
from tests.fakes.ari_server import APP, PASSWORD, USERNAME, FakeAsterisk

E = TypeVar("E", bound=Event)
T = TypeVar("T")

WAIT = 2.0
"""Seconds any single expected thing may take; the fake answers in milliseconds."""


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def until(condition: Callable[[], bool]) -> None:
    """Wait for a condition on the client's side (the fake has :meth:`~FakeAsterisk.wait_until`)."""
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.001)


@dataclass
class Rig:
    fake: FakeAsterisk
    ari: AriClient
    events: Subscription
    connections: list[Connected] = field(default_factory=list)

    async def next(self, kind: type[E]) -> E:
        """The very next event, which must be a *kind*."""
        event = await asyncio.wait_for(anext(self.events), WAIT)
        assert isinstance(event, kind), f"expected {kind.__name__}, got {event!r}"
        return event

    async def until(self, kind: type[E]) -> E:
        """Skip events up to the next *kind*."""
        while True:
            event = await asyncio.wait_for(anext(self.events), WAIT)
            if isinstance(event, kind):
                return event

    async def inbound_call(self) -> str:
        """A caller dials in; the id of the channel our application controls."""
        call = await self.fake.start_inbound_call()
        started = await self.next(StasisStart)
        assert started.channel.id == call.channel_id
        return call.channel_id

    hooked: asyncio.Event = field(default_factory=asyncio.Event)

    async def connected(self, count: int) -> None:
        """Until the websocket has been opened *count* times and the fake serves it."""
        async with asyncio.timeout(WAIT):
            while len(self.connections) < count:
                self.hooked.clear()
                await self.hooked.wait()
        await self.fake.wait_until(self.fake.is_connected, WAIT)


@asynccontextmanager
async def rig(
    fake: FakeAsterisk,
    *,
    on_connected: Callable[[Connected], Awaitable[None]] | None = None,
    **options: Any,
) -> AsyncIterator[Rig]:
    """The fake listening, a client with its event stream running and connected once."""
    async with fake, AriClient(fake.url, USERNAME, PASSWORD, APP, **options) as ari:
        the_rig = Rig(fake, ari, ari.events.subscribe())

        async def connected(info: Connected) -> None:
            if on_connected is not None:
                await on_connected(info)
            the_rig.connections.append(info)
            the_rig.hooked.set()

        runner = asyncio.create_task(ari.events.run(on_connected=connected))
        try:
            await the_rig.connected(1)
            yield the_rig
        finally:
            await ari.events.stop()
            await asyncio.wait_for(runner, WAIT)
