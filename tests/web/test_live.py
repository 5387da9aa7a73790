"""The live pages' feed: every open page is woken soon after a change, a few times a second
at most however busy the line, and a slow page holds up no other."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from callflow.engine.clock import SystemClock
from callflow.store.changes import WATCHED_TABLES
from callflow.store.session import Database, OutageLog
from callflow.web.live import FOLD_WINDOW, ChangeFeed, Subscription
from tests.store.helpers import add_advisor

WITHIN = 1.0  # seconds: what the live pages promise

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class FoldWindow:
    """The feed's sleep through its fold window, over only when the test ends it: the
    feed's time stands still otherwise."""

    def __init__(self) -> None:
        self._opened = asyncio.Event()
        self._end: asyncio.Future[None] | None = None

    async def sleep(self, seconds: float) -> None:
        assert seconds == FOLD_WINDOW
        self._end = asyncio.get_running_loop().create_future()
        self._opened.set()
        await self._end

    async def end(self) -> None:
        """End the window the feed is in (once it is in one)."""
        await asyncio.wait_for(self._opened.wait(), WITHIN)
        self._opened.clear()
        assert self._end is not None
        self._end.set_result(None)


async def woken(page: Subscription) -> frozenset[str]:
    """The page's next wake: the tables changed since its last."""
    return await asyncio.wait_for(anext(page), WITHIN)


Scenario = Callable[[ChangeFeed, FoldWindow, list[Subscription]], Awaitable[None]]


def run_with_pages(database: Database, pages: int, scenario: Scenario) -> None:
    """*scenario* run on a feed with a fold window of the test's, *pages* subscribed and
    past the feed's first wake (everything may have changed before it started following)
    and its window."""

    async def run() -> None:
        window = FoldWindow()
        feed = ChangeFeed(sleep=window.sleep)
        async with AsyncExitStack() as stack:
            subscribed = [await stack.enter_async_context(feed.subscribe()) for _ in range(pages)]
            await stack.enter_async_context(feed.running(database, OutageLog(SystemClock())))
            for page in subscribed:
                assert await woken(page) == WATCHED_TABLES
            await window.end()
            await scenario(feed, window, subscribed)

    asyncio.run(run())


@ON_SQLITE
class TestWaking:
    """How the pages are woken, with the feed's time in the test's hands."""

    def test_every_page_is_woken_by_a_change(self, database: Database) -> None:
        async def scenario(
            feed: ChangeFeed, _window: FoldWindow, pages: list[Subscription]
        ) -> None:
            version = feed.version
            feed.notice(frozenset({"advisors"}))
            assert [await woken(page) for page in pages] == [{"advisors"}] * len(pages)
            assert feed.version == version + 1

        run_with_pages(database, 50, scenario)

    def test_changes_soon_after_a_wake_are_folded_into_one_wake(self, database: Database) -> None:
        async def scenario(feed: ChangeFeed, window: FoldWindow, pages: list[Subscription]) -> None:
            (page,) = pages
            feed.notice(frozenset({"advisors"}))
            assert await woken(page) == {"advisors"}  # at once: the window was not open
            version = feed.version
            for _ in range(200):
                feed.notice(frozenset({"calls"}))
                feed.notice(frozenset({"call_events"}))
            await window.end()
            assert await woken(page) == {"calls", "call_events"}
            assert feed.version == version + 1
            await window.end()
            feed.notice(frozenset({"callback_requests"}))  # after a quiet window: at once
            assert await woken(page) == {"callback_requests"}

        run_with_pages(database, 1, scenario)

    def test_a_page_slow_to_take_its_wakes_holds_up_no_other_and_gets_one(
        self, database: Database
    ) -> None:
        async def scenario(feed: ChangeFeed, window: FoldWindow, pages: list[Subscription]) -> None:
            slow, quick = pages
            for table in ("advisors", "calls", "queue_places"):
                feed.notice(frozenset({table}))
                assert await woken(quick) == {table}
                await window.end()
            assert await woken(slow) == {"advisors", "calls", "queue_places"}  # one, not three
            feed.notice(frozenset({"call_events"}))
            assert await woken(slow) == {"call_events"}  # nothing left over from before

        run_with_pages(database, 2, scenario)

    def test_a_page_closed_is_forgotten(self, database: Database) -> None:
        """A client that goes away cancels its stream mid-wait."""

        async def scenario(
            feed: ChangeFeed, _window: FoldWindow, pages: list[Subscription]
        ) -> None:
            ready = asyncio.Event()

            async def stream() -> None:
                async with feed.subscribe() as page:
                    ready.set()
                    await woken(page)

            client = asyncio.create_task(stream())
            await ready.wait()
            assert feed.subscribers == len(pages) + 1
            client.cancel()
            await asyncio.gather(client, return_exceptions=True)
            assert feed.subscribers == len(pages)

        run_with_pages(database, 1, scenario)

    def test_the_pages_streams_end_when_the_feed_stops(self, database: Database) -> None:
        """The app shutting down closes every page's stream, and opens none."""

        async def scenario() -> tuple[list[frozenset[str]], list[frozenset[str]]]:
            feed = ChangeFeed()
            async with feed.subscribe() as page:
                async with feed.running(database, OutageLog(SystemClock())):
                    assert await woken(page) == WATCHED_TABLES
                rest = [tables async for tables in page]
            async with feed.subscribe() as late:
                return rest, [tables async for tables in late]

        assert asyncio.run(scenario()) == ([], [])


def test_a_change_committed_elsewhere_reaches_an_open_page_within_a_second(
    database: Database, database_url: str
) -> None:
    """The real thing: the store's changes, the real fold window."""
    elsewhere = Database.connect(database_url)

    async def scenario() -> frozenset[str]:
        feed = ChangeFeed()
        async with feed.subscribe() as page, feed.running(database, OutageLog(SystemClock())):
            assert await woken(page) == WATCHED_TABLES  # following now
            with elsewhere.transaction() as session:
                add_advisor(session, "nurse")
            tables = await woken(page)
            while "advisors" not in tables:
                tables = await woken(page)
            return tables

    try:
        assert "advisors" in asyncio.run(scenario())
    finally:
        elsewhere.close()
