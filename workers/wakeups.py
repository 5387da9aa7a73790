"""Hearing about new work: PostgreSQL ``LISTEN``, or this process's own commits on SQLite.

The sender side is :func:`callflow.store.wakeups.announce_dispatch_work`. On
PostgreSQL the dispatcher is also woken each time the listening connection is
(re)made, since whatever was announced while it was down was missed
(:func:`callflow.store.listening.listen`). On SQLite, work committed by other
processes is found at the next sweep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callflow.store.listening import listen
from callflow.store.session import Database, OutageLog
from callflow.store.wakeups import CHANNEL, listen_in_process


async def listen_for_work(database: Database, wake: Callable[[], None], outage: OutageLog) -> None:
    """Call *wake* whenever work is announced, until cancelled."""
    if database.dialect == "postgresql":
        await listen(database, CHANNEL, lambda _payload: wake(), outage)
        return
    loop = asyncio.get_running_loop()

    def ring() -> None:  # called in whichever thread committed
        loop.call_soon_threadsafe(wake)

    stop = listen_in_process(ring)
    try:
        await asyncio.Event().wait()
    finally:
        stop()
