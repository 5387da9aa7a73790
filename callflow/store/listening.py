"""Hearing PostgreSQL ``NOTIFY`` on a channel, for as long as a process runs.

A notification sent while nobody listened is lost for good, so a dropped
listening connection is re-opened with backoff and the listener is told,
once connected again, that it may have missed something (as it also is on
first connecting: whatever happened before, it has not heard). A connection
that cannot be made is the process's database outage, logged once
(:class:`~callflow.store.session.OutageLog`), not once a try.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from callflow.store.session import Database, OutageLog

RECONNECT_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Seconds between tries to listen again: quick for a blip, then gentle on a server that
is down."""

OnNotice = Callable[[str | None], None]
"""Told each notification's payload, or None where notifications may have been missed."""


async def listen(database: Database, channel: str, on_notice: OnNotice, outage: OutageLog) -> None:
    """Call *on_notice* with the payload of each notification on *channel*, and with None
    on each (re)connection, until cancelled. *database* must be PostgreSQL."""
    failures = 0
    while True:
        try:
            connection = await psycopg.AsyncConnection.connect(_conninfo(database), autocommit=True)
            async with connection:
                await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                outage.succeeded()
                failures = 0
                on_notice(None)
                async for notice in connection.notifies():
                    on_notice(notice.payload)
        except psycopg.OperationalError as exc:
            delay = RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)]
            failures += 1
            outage.report(exc, "listen.disconnected", channel=channel, retry_in_s=delay)
            await asyncio.sleep(delay)


def _conninfo(database: Database) -> str:
    """psycopg's own connection string for *database* (its URL without SQLAlchemy's driver
    name): a listening connection is psycopg's, outside the engine's pool."""
    url = make_url(database.engine.url.render_as_string(hide_password=False))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
