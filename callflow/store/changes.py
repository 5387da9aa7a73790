"""Noticing that what a live page shows has changed, whichever process changed it.

The line (``callflow serve``), the callback workers, the CLI and the web app
all write; the pages are in the web app. On PostgreSQL, triggers (migration
0010) send ``NOTIFY`` on :data:`CHANGES_CHANNEL` with the table's name from
each statement that writes to one of :data:`WATCHED_TABLES`; the server
delivers them at commit, never for a rollback, and folds repeats within a
transaction into one. They are heard through
:func:`~callflow.store.listening.listen`.

SQLite has no ``NOTIFY``, and hooks on this process's commits would miss the
workers', which run in processes of their own. Instead a connection of our
own reads SQLite's ``PRAGMA data_version`` every
:data:`SQLITE_POLL_INTERVAL`: it changes when any other connection, in any
process, commits a change to the file (never for a rollback or a read). It
cannot say which tables changed, so every change is reported as all of
:data:`WATCHED_TABLES`, and a write to any table counts.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

from callflow.store.listening import listen
from callflow.store.session import Database, OutageLog

CHANGES_CHANNEL = "callflow_changes"

WATCHED_TABLES = frozenset(
    {
        "advisors",
        "advisor_skills",
        "advisor_languages",
        "callback_requests",
        "callback_attempts",
        "queue_places",
        "calls",
        "call_events",
    }
)
"""The tables the live pages show. Sessions are left out: they are written as pages are
viewed, and would wake every page for it."""

SQLITE_POLL_INTERVAL = 0.2
"""Seconds between reads of SQLite's data version: how late a change may be noticed."""

OnChange = Callable[[frozenset[str]], None]
"""Told which of the watched tables changed (all of them when that is not known)."""


async def follow_changes(database: Database, on_change: OnChange, outage: OutageLog) -> None:
    """Call *on_change*, in this event loop, soon after each commit that changed what the
    pages show, whichever process made it; until cancelled. It is also called with every
    watched table once following has begun (what changed before was not heard), and on
    PostgreSQL after each reconnection (what changed meanwhile was not heard)."""
    if database.dialect == "postgresql":

        def heard(table: str | None) -> None:
            on_change(WATCHED_TABLES if table is None else frozenset({table}))

        await listen(database, CHANGES_CHANNEL, heard, outage)
        return
    # Read in the event loop, not a worker thread: a data version is a counter in SQLite's
    # shared memory, read in microseconds, and a read cancelled in a thread would still be
    # using the connection as it goes back to the pool.
    watch = CommitWatch(database)
    try:
        on_change(WATCHED_TABLES)
        while True:
            await asyncio.sleep(SQLITE_POLL_INTERVAL)
            try:
                changed = watch.changed()
            except sqlite3.OperationalError as exc:  # the file out of reach: try again
                outage.report(exc, "changes.unreadable")
                continue
            outage.succeeded()
            if changed:
                on_change(WATCHED_TABLES)
    finally:
        watch.close()


class CommitWatch:
    """Whether a change was committed to a SQLite database since this was last asked.

    Holds a connection of its own from *database*'s pool, since a data version compares
    only with an earlier one from the same connection. Ask from one thread at a time.
    """

    def __init__(self, database: Database) -> None:
        self._connection = database.engine.raw_connection()
        self._version = self._read()

    def changed(self) -> bool:
        version = self._read()
        changed, self._version = version != self._version, version
        return changed

    def close(self) -> None:
        self._connection.close()

    def _read(self) -> int:
        cursor = self._connection.cursor()
        try:
            cursor.execute("PRAGMA data_version")  # outside a transaction: the file as it is now
            row = cursor.fetchone()
        finally:
            cursor.close()
        assert row is not None
        return int(row[0])
