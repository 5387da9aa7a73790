"""Changes reach the live pages' follower within a second, whichever process committed them;
rollbacks and reads are not changes. PostgreSQL by ``NOTIFY``, SQLite by its data version."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select, text

from callflow.engine.clock import SystemClock
from callflow.store import listening
from callflow.store.advisors import register_advisor
from callflow.store.changes import (
    CHANGES_CHANNEL,
    WATCHED_TABLES,
    CommitWatch,
    follow_changes,
)
from callflow.store.models import Advisor
from callflow.store.session import Database, OutageLog
from callflow.store.sign_ins import open_session
from tests.store.helpers import T0, add_advisor, add_callback, number

WITHIN = 1.0  # seconds: what the live pages promise

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def elsewhere(database: Database, database_url: str) -> Iterator[Database]:
    """The same database as another process sees it: an engine and connections of its own."""
    other = Database.connect(database_url)
    yield other
    other.close()


class Heard:
    """What the follower was told, in order."""

    def __init__(self) -> None:
        self._told: asyncio.Queue[frozenset[str]] = asyncio.Queue()

    def __call__(self, tables: frozenset[str]) -> None:
        self._told.put_nowait(tables)

    async def next(self) -> frozenset[str]:
        return await asyncio.wait_for(self._told.get(), WITHIN)


@asynccontextmanager
async def following(database: Database) -> AsyncIterator[Heard]:
    """follow_changes running on *database*, past its first word (everything may have
    changed before it began), so that whatever is committed next is heard."""
    heard = Heard()
    follower = asyncio.create_task(follow_changes(database, heard, OutageLog(SystemClock())))
    try:
        assert await heard.next() == WATCHED_TABLES
        yield heard
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


def test_a_change_committed_by_another_process_arrives_within_a_second(
    database: Database, elsewhere: Database
) -> None:
    async def scenario() -> frozenset[str]:
        async with following(database) as heard:
            with elsewhere.transaction() as session:
                add_advisor(session, "nurse")
            tables = await heard.next()
            while "advisors" not in tables:  # PostgreSQL says each table on its own
                tables = await heard.next()
            return tables

    assert "advisors" in asyncio.run(scenario())


# -- SQLite: its data version ----------------------------------------------------------------


@ON_SQLITE
class TestCommitWatch:
    """What counts as a change on SQLite: a commit that wrote, from any connection."""

    def test_a_committed_write_is_a_change_once(self, database: Database) -> None:
        watch = CommitWatch(database)
        with database.transaction() as session:
            add_advisor(session, "nurse")
        assert watch.changed()
        assert not watch.changed()  # nothing since
        watch.close()

    def test_a_write_by_another_program_is_a_change(self, database: Database) -> None:
        with database.transaction() as session:
            add_advisor(session, "nurse")
        watch = CommitWatch(database)
        path = database.engine.url.database
        assert path is not None
        with sqlite3.connect(path) as other:  # commits as it leaves
            other.execute("UPDATE advisors SET name = 'doctor'")
        assert watch.changed()
        watch.close()

    def test_a_rollback_is_not_a_change(self, database: Database) -> None:
        watch = CommitWatch(database)
        with pytest.raises(RuntimeError), database.transaction() as session:
            add_advisor(session, "nurse")
            raise RuntimeError("the work failed")
        assert not watch.changed()
        watch.close()

    def test_reading_is_not_a_change(self, database: Database) -> None:
        watch = CommitWatch(database)
        with database.reading() as session:
            session.scalars(select(Advisor)).all()
        with database.transaction() as session:  # a transaction that only read
            session.scalars(select(Advisor)).all()
        assert not watch.changed()
        watch.close()


# -- PostgreSQL: NOTIFY from triggers -------------------------------------------------------


@ON_POSTGRESQL
class TestNotify:
    """What the triggers say, and what the follower hears, on PostgreSQL."""

    def test_each_table_changed_is_said_once_a_transaction(
        self, database: Database, elsewhere: Database
    ) -> None:
        async def scenario() -> list[frozenset[str]]:
            async with following(database) as heard:
                with elsewhere.transaction() as session:
                    for name in ("nurse", "doctor", "midwife"):
                        register_advisor(session, name, ("nurse",), ("fi", "sv"), T0)
                with elsewhere.transaction() as session:  # a marker: heard after all before it
                    add_callback(session, number(1))
                told = []
                while (tables := await heard.next()) != {"callback_requests"}:
                    told.append(tables)
                return told

        assert sorted(asyncio.run(scenario()), key=sorted) == [
            {"advisor_languages"},
            {"advisor_skills"},
            {"advisors"},
        ]

    def test_not_a_rollback_nor_a_table_the_pages_do_not_show(
        self, database: Database, elsewhere: Database
    ) -> None:
        with database.transaction() as session:
            nurse = add_advisor(session, "nurse")

        async def scenario() -> frozenset[str]:
            async with following(database) as heard:
                with pytest.raises(RuntimeError), elsewhere.transaction() as session:
                    add_advisor(session, "doctor")
                    raise RuntimeError("the work failed")
                with elsewhere.transaction() as session:
                    open_session(session, nurse, T0)  # a sign-in: sessions are not shown
                with elsewhere.transaction() as session:  # the marker
                    add_callback(session, number(1))
                return await heard.next()

        assert asyncio.run(scenario()) == {"callback_requests"}

    def test_a_dropped_listening_connection_is_made_again(
        self, database: Database, elsewhere: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(listening, "RECONNECT_BACKOFF", (0.01,))

        async def scenario() -> list[frozenset[str]]:
            async with following(database) as heard:
                with elsewhere.engine.begin() as connection:
                    dropped = connection.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND query LIKE :listening"
                        ),
                        {"listening": f"LISTEN %{CHANGES_CHANNEL}%"},
                    ).scalars()
                    assert list(dropped) == [True]
                again = await heard.next()  # listening again: anything may have been missed
                with elsewhere.transaction() as session:
                    add_callback(session, number(1))
                return [again, await heard.next()]

        assert asyncio.run(scenario()) == [WATCHED_TABLES, {"callback_requests"}]

    def test_every_table_the_pages_show_has_its_trigger(self, database: Database) -> None:
        """Migration 0010 lists the tables itself (a migration must not change when the
        code does): the two lists must agree."""
        with database.engine.connect() as connection:
            tables = connection.execute(
                text(
                    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE t.tgname = 'callflow_notify_change'"
                )
            ).scalars()
            assert set(tables) == WATCHED_TABLES
