"""Hearing about new work: PostgreSQL ``LISTEN``, or this process's own commits on SQLite.

The sender side is :func:`callflow.store.wakeups.announce_dispatch_work`. A
dropped listening connection is re-opened with backoff, and the dispatcher is
woken once on reconnect: whatever was announced meanwhile was missed. A
connection that cannot be made is the worker's database outage, logged once
(:class:`~callflow.store.session.OutageLog`), not once a try.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from callflow.store.session import Database, OutageLog
from callflow.store.wakeups import CHANNEL, listen_in_process

RECONNECT_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0)


async def listen_for_work(database: Database, wake: Callable[[], None], outage: OutageLog) -> None:
    """Call *wake* whenever work is announced, until cancelled."""
    loop = asyncio.get_running_loop()
    if database.dialect != "postgresql":

        def ring() -> None:  # called in whichever thread committed
            loop.call_soon_threadsafe(wake)

        stop = listen_in_process(ring)
        try:
            await asyncio.Event().wait()
        finally:
            stop()
        return
    conninfo = (
        make_url(database.engine.url.render_as_string(hide_password=False))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    failures = 0
    while True:
        try:
            connection = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
            async with connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                outage.succeeded()
                failures = 0
                wake()
                async for _notice in connection.notifies():
                    wake()
        except psycopg.OperationalError as exc:
            delay = RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)]
            failures += 1
            outage.report(exc, "wakeups.disconnected", retry_in_s=delay)
            await asyncio.sleep(delay)
