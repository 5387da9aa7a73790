"""A pass of work whenever something wakes it, and at least every so often: the loop both
connectors run (queued callers to free advisors), and the wait of a dialler for news.

``asyncio.wait_for(event.wait(), seconds)`` is not used for this: on Python 3.11 it
returns normally when the event is set in the same moment the task is cancelled,
swallowing the cancellation, so a stopping adapter kept sweeping until something else
gave up on it. ``asyncio.timeout`` does not lose it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from callflow.store.session import OutageLog


async def woken_or_after(woken: asyncio.Event, seconds: float) -> None:
    """Wait until *woken* is set or *seconds* have passed, then clear it for the next wait."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await woken.wait()
    woken.clear()


async def run_passes(
    one_pass: Callable[[], Awaitable[object]],
    woken: asyncio.Event,
    interval: float,
    outage: OutageLog,
    failed: str,
) -> None:
    """Run *one_pass* whenever *woken* is set and at least every *interval* seconds, until
    cancelled. A pass that fails (the database down) is logged through *outage* as
    *failed* — once for the outage, not once a pass — and the next pass tries again."""
    while True:
        await woken_or_after(woken, interval)
        try:
            await one_pass()
        except Exception as exc:
            outage.report(exc, failed)
        else:
            outage.succeeded()
