"""A page's live sections, as server-sent events.

On connecting, the client gets every section; then, whenever the store changed
(:class:`callflow.web.live.ChangeFeed`) or :data:`REFRESH` passed (waits grow
while nothing is written), the sections are rendered again and only those
that differ are sent. A session that ended (signed out, expired, disabled)
ends the stream with ``signed-out``, and the page goes to sign in. The
browser's EventSource reconnects by itself after a dropped connection or a
restart (``retry`` says how soon), and a reconnect starts with every section.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from callflow.web.live import ChangeFeed, Subscription

Sections = dict[str, str]
"""Element id → its inner HTML."""

REFRESH = 5.0
"""Seconds between renders when nothing changed."""
RENDERS_AT_ONCE = 2
"""Live renders running at once in one app. A change wakes every open page together;
fifty renders at once would share the cores, the GIL and the database's connections
and each take as long as all of them, while a few at a time each finish in their own
few milliseconds, and the last page is not served later."""
RECONNECT_MS = 1000
PING_S = 15


def live_stream(request: Request, render: Callable[[], Sections | None]) -> EventSourceResponse:
    """The stream of *render*'s sections; *render* returns None once the person's session
    is over. It runs in a worker thread (it reads the store)."""
    feed: ChangeFeed = request.app.state.changes
    slots = _render_slots(request)

    async def events() -> AsyncIterator[ServerSentEvent]:
        sent: Sections = {}
        first = True
        async with feed.subscribe() as changes:
            while True:
                async with slots:
                    sections = await run_in_threadpool(render)
                if sections is None:
                    yield ServerSentEvent(data="", event="signed-out")
                    return
                changed = {key: html for key, html in sections.items() if sent.get(key) != html}
                if changed or first:
                    sent.update(changed)
                    yield ServerSentEvent(
                        data=json.dumps(changed),
                        event="sections",
                        retry=RECONNECT_MS if first else None,
                    )
                    first = False
                if not await _next_change(changes):
                    return  # the app is shutting down

    headers: dict[str, Any] = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return EventSourceResponse(events(), ping=PING_S, headers=headers)


async def _next_change(changes: Subscription) -> bool:
    """Until the store changed or :data:`REFRESH` passed; False once the feed has ended."""
    try:
        # Not wait_for: on Python 3.11 it can lose a cancellation that meets the change.
        async with asyncio.timeout(REFRESH):
            await anext(changes)
    except TimeoutError:
        pass
    except StopAsyncIteration:
        return False
    return True


def _render_slots(request: Request) -> asyncio.Semaphore:
    """The app's :data:`RENDERS_AT_ONCE` slots (made in the app's event loop, once)."""
    slots: asyncio.Semaphore | None = getattr(request.app.state, "render_slots", None)
    if slots is None:
        slots = request.app.state.render_slots = asyncio.Semaphore(RENDERS_AT_ONCE)
    return slots
