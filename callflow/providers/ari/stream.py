"""The event websocket: read it, fan events out to consumers, reconnect and resync when it drops.

Delivery: every consumer has its own queue (a :class:`Subscription`) and
receives every event in the order Asterisk sent it. The reader only
appends to queues, never waits for a consumer, so a slow or stuck consumer
delays nobody else and the socket is always drained (Asterisk drops a
websocket it cannot write to). :meth:`EventStream.add_handler` runs an async
handler over its own subscription, one event at a time; a handler that
raises is logged and gets the next event. The adapter routes events to its
per-call tasks from one such handler.

Reconnection: when the socket closes, fails or never opens, the stream
waits (capped exponential backoff with jitter; ``sleep``, ``clock`` and
``random`` are injectable) and connects again, for ever, until
:meth:`EventStream.stop`. Asterisk keeps no backlog: whatever happened
while we were away is lost, so after every connection — the first one
too — the ``on_connected`` hook runs (the adapter reads ``GET /channels``
and ``GET /bridges`` there) *before* any event of that connection is
delivered; events that arrive meanwhile are held, in order. If the hook
fails, the connection is dropped and retried, so a resync is never
skipped. Only a refusal of the very first connection (401, 400: wrong
password, no application) ends :meth:`EventStream.run` with an error —
that is a configuration to fix, not a fault to wait out.
"""

from __future__ import annotations

import asyncio
import contextlib
import random as random_module
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from callflow.errors import ProviderRejected
from callflow.providers.ari.events import ApplicationReplaced, Event, UnknownEvent, parse_event

log = structlog.get_logger("callflow.ari")

Handler = Callable[[Event], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

LAG_WARNING_EVERY = 1000
"""A consumer this many events behind is logged (and again at each further multiple)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before the next connection attempt.

    The n-th consecutive failure waits between half and all of
    ``min(cap, initial * factor**(n-1))`` seconds: never zero (Asterisk is
    not hammered), spread (many workers do not reconnect in step), capped
    (a restarted Asterisk is found within ``cap`` seconds). A connection that
    stayed up ``stable_after`` seconds resets the count.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    stable_after: float = 30.0

    def delay(self, failures: int, rand: float) -> float:
        ceiling = min(self.cap, self.initial * self.factor ** max(failures - 1, 0))
        return ceiling * (0.5 + rand / 2)


@dataclass(frozen=True, slots=True)
class Connected:
    """Passed to the ``on_connected`` hook: which connection this is (1 = the first)."""

    number: int

    @property
    def is_reconnect(self) -> bool:
        return self.number > 1


OnConnected = Callable[[Connected], Awaitable[None]]


class Subscription:
    """One consumer's events, in arrival order: ``async for event in subscription``.

    Iteration ends when the subscription or its stream is closed.
    """

    def __init__(self, on_close: Callable[[Subscription], None]) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._on_close = on_close
        self.closed = False

    @property
    def backlog(self) -> int:
        """Events received but not yet taken."""
        return self._queue.qsize()

    def put(self, event: Event) -> None:
        if not self.closed:
            self._queue.put_nowait(event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)
            self._on_close(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item


class EventStream:
    """The ``/ari/events`` websocket of one Stasis application, kept open."""

    def __init__(
        self,
        *,
        url: str,
        authorization: str,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random_module.random,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
    ) -> None:
        self._url = url
        self._authorization = authorization
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._clock = clock
        self._random = random
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._subscriptions: list[Subscription] = []
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._socket: ClientConnection | None = None
        self._stopping = asyncio.Event()
        self.connections = 0
        """How many times the websocket has been opened."""
        self.received = 0
        """How many messages have been read from it."""

    def __repr__(self) -> str:
        return f"EventStream({self._url!r})"

    @property
    def connected(self) -> bool:
        return self._socket is not None

    # -- consumers -----------------------------------------------------------------------

    def subscribe(self) -> Subscription:
        """A new queue that receives every event from now on."""
        subscription = Subscription(self._subscriptions.remove)
        self._subscriptions.append(subscription)
        return subscription

    def add_handler(self, handler: Handler) -> Subscription:
        """Run *handler* for each event, one at a time, in order, in its own task.

        Close the returned subscription to stop it.
        """
        subscription = self.subscribe()
        task = asyncio.create_task(self._consume(subscription, handler))
        self._handler_tasks.add(task)
        task.add_done_callback(self._handler_tasks.discard)
        return subscription

    async def _consume(self, subscription: Subscription, handler: Handler) -> None:
        name = getattr(handler, "__qualname__", repr(handler))
        async for event in subscription:
            try:
                await handler(event)
            except Exception:
                log.exception("ari.handler_failed", handler=name, event_type=event.type)

    def _publish(self, event: Event) -> None:
        for subscription in self._subscriptions:
            subscription.put(event)
            backlog = subscription.backlog
            if backlog >= LAG_WARNING_EVERY and backlog % LAG_WARNING_EVERY == 0:
                log.warning("ari.consumer_lagging", backlog=backlog)

    # -- the connection ------------------------------------------------------------------

    async def run(self, on_connected: OnConnected | None = None) -> None:
        """Keep the websocket open until :meth:`stop`; see the module docstring."""
        failures = 0
        while not self._stopping.is_set():
            try:
                socket = await connect(
                    self._url,
                    additional_headers={"Authorization": self._authorization},
                    open_timeout=self._open_timeout,
                    ping_interval=self._ping_interval,
                    ping_timeout=self._ping_timeout,
                    max_size=None,
                )
            except InvalidStatus as exc:
                status = exc.response.status_code
                if self.connections == 0 and status in (400, 401, 403):
                    raise ProviderRejected(
                        "ari", status, _refusal(status), operation="GET /events"
                    ) from exc
                failures += 1
                log.warning("ari.connect_refused", url=self._url, status=status)
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                failures += 1
                log.warning("ari.connect_failed", url=self._url, error=type(exc).__name__)
            else:
                if self._stopping.is_set():  # stopped while the handshake was under way
                    await socket.close()
                    break
                self.connections += 1
                opened_at = self._clock()
                await self._serve(socket, Connected(self.connections), on_connected)
                if self._clock() - opened_at >= self.backoff.stable_after:
                    failures = 0
                failures += 1
            if self._stopping.is_set():
                break
            delay = self.backoff.delay(failures, self._random())
            log.info("ari.reconnect_scheduled", delay_s=round(delay, 3), failures=failures)
            await self._wait_or_stop(delay)

    async def _serve(
        self, socket: ClientConnection, info: Connected, on_connected: OnConnected | None
    ) -> None:
        """Read one connection until it closes; resync first, holding its events meanwhile."""
        self._socket = socket
        held: list[Event] = []
        live = False

        async def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for message in socket:
                    self.received += 1
                    event = parse_event(message)
                    _note(event)
                    if live:
                        self._publish(event)
                    else:
                        held.append(event)

        log.info("ari.connected" if info.number == 1 else "ari.reconnected", number=info.number)
        reader = asyncio.create_task(read())
        try:
            if on_connected is not None and not await self._resync(reader, on_connected, info):
                await socket.close()
                await reader
                return
            for event in held:
                self._publish(event)
            live = True
            await reader
            if not self._stopping.is_set():
                log.warning(
                    "ari.disconnected", code=socket.close_code, reason=socket.close_reason or ""
                )
        finally:
            self._socket = None
            reader.cancel()
            await socket.close()

    async def _resync(
        self, reader: asyncio.Task[None], on_connected: OnConnected, info: Connected
    ) -> bool:
        """Run the hook while the reader holds events; False when the connection must go."""
        hook: asyncio.Future[None] = asyncio.ensure_future(on_connected(info))
        try:
            await asyncio.wait({reader, hook}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            hook.cancel()
            raise
        if not hook.done():
            # the socket closed under the resync: its picture is already stale
            hook.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await hook
            return False
        error = asyncio.CancelledError() if hook.cancelled() else hook.exception()
        if error is not None:
            log.error(
                "ari.resync_failed",
                number=info.number,
                error=f"{type(error).__name__}: {error}",
            )
            return False
        return True

    async def _wait_or_stop(self, delay: float) -> None:
        sleeper: asyncio.Future[None] = asyncio.ensure_future(self._sleep(delay))
        stopper: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
        waiting: set[asyncio.Future[Any]] = {sleeper, stopper}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        """End :meth:`run`: close the websocket and do not reconnect."""
        self._stopping.set()
        if self._socket is not None:
            await self._socket.close()

    async def aclose(self) -> None:
        """Stop, end every subscription and wait for the handlers to finish."""
        await self.stop()
        for subscription in list(self._subscriptions):
            subscription.close()
        if self._handler_tasks:
            await asyncio.gather(*self._handler_tasks, return_exceptions=True)


def _refusal(status: int) -> str:
    if status == 400:
        return "the events websocket was refused: no such application parameter"
    return "the events websocket was refused: wrong username or password"


def _note(event: Event) -> None:
    if isinstance(event, UnknownEvent) and event.problem:
        log.warning("ari.event_unreadable", event_type=event.type, problem=event.problem)
    elif isinstance(event, ApplicationReplaced):
        log.error(
            "ari.application_replaced",
            application=event.application,
            detail="another websocket took this Stasis application over; "
            "this process hears no more of its calls",
        )
