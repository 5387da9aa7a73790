"""The live pages' one source of "something changed": a :class:`ChangeFeed` per app.

The app follows the store's changes once per process
(:func:`callflow.store.changes.follow_changes`) and fans each out to every
open page. A busy line commits hundreds of times a second; re-rendering every
open page for each would cost more than the pages are worth. So the feed
wakes its subscribers at once for a change after a quiet spell, and folds
the changes that come within :data:`FOLD_WINDOW` after a wake into one wake
at the window's end: a page learns of a change within that window (well
inside the second the pages promise) and is rendered a few times a second
at most. A page that is slow to take its wake (a slow client) holds one
pending wake with every table changed meanwhile, never a queue, and never
holds up the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog

from callflow.store.changes import follow_changes
from callflow.store.session import Database, OutageLog

log = structlog.get_logger("callflow.web")

FOLD_WINDOW = 0.15
"""Seconds after a wake within which further changes are folded into the next wake."""

Sleep = Callable[[float], Awaitable[None]]


class Subscription:
    """One open page's wake-ups: iterate for the tables changed since the last wake.

    Iteration ends when the feed stops (the app shuts down), so the page's stream closes.
    """

    def __init__(self) -> None:
        self._woken = asyncio.Event()
        self._tables: set[str] = set()
        self._ended = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> frozenset[str]:
        await self._woken.wait()
        if self._ended:
            raise StopAsyncIteration
        self._woken.clear()
        tables, self._tables = frozenset(self._tables), set()
        return tables

    def _wake(self, tables: frozenset[str]) -> None:
        self._tables |= tables
        self._woken.set()

    def _end(self) -> None:
        self._ended = True
        self._woken.set()


class ChangeFeed:
    """Fans the store's changes out to the open pages; one per app.

    Run it for as long as the app serves (``async with feed.running(database, outage):``
    in the app's lifespan); each page streams from ``async with feed.subscribe() as
    changes: async for tables in changes: …``. Everything but :meth:`running`'s follower
    happens in the app's event loop. *sleep* waits out the fold window (injected in tests).
    """

    def __init__(self, *, fold_window: float = FOLD_WINDOW, sleep: Sleep = asyncio.sleep) -> None:
        self._fold_window = fold_window
        self._sleep = sleep
        self._arrived = asyncio.Event()
        self._pending: set[str] = set()
        self._subscriptions: set[Subscription] = set()
        self._version = 0
        self._stopped = False

    @property
    def version(self) -> int:
        """How many times the pages have been woken: what a shared read of the store
        (the wallboard's, see :class:`~callflow.web.pages.board.BoardCache`) is keyed on,
        so pages woken together read once. It starts at 0 in each process."""
        return self._version

    @property
    def subscribers(self) -> int:
        """How many pages are subscribed now."""
        return len(self._subscriptions)

    def notice(self, tables: frozenset[str]) -> None:
        """Take note that *tables* changed: the pages are woken now, or at the end of the
        fold window if they were woken within it."""
        self._pending |= tables
        self._arrived.set()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A page's subscription, for as long as the page is open (leaving the ``with``
        forgets it, whether the client left or the stream failed)."""
        subscription = Subscription()
        if self._stopped:
            subscription._end()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    @asynccontextmanager
    async def running(self, database: Database, outage: OutageLog) -> AsyncIterator[None]:
        """Follow *database*'s changes and wake the pages while inside; on leaving, stop
        and end every subscription."""
        tasks = [
            asyncio.create_task(follow_changes(database, self.notice, outage), name="changes"),
            asyncio.create_task(self._wake_pages(), name="change-feed"),
        ]
        for task in tasks:
            task.add_done_callback(_log_failure)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._stopped = True
            for subscription in self._subscriptions:
                subscription._end()

    async def _wake_pages(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            tables, self._pending = frozenset(self._pending), set()
            self._version += 1
            for subscription in self._subscriptions:
                subscription._wake(tables)
            await self._sleep(self._fold_window)


def _log_failure(task: asyncio.Task[None]) -> None:
    """A feed task that failed leaves every page still: say so, loudly, once."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("changes.feed_failed", task=task.get_name(), exc_info=error)
