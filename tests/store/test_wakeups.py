"""Waking the dispatchers: the word goes out when the work is committed, never before,
and never for work rolled back. In-process listeners on SQLite, ``NOTIFY`` on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from callflow.store.advisors import set_advisor_state
from callflow.store.claims import claim_next_callback
from callflow.store.models import AdvisorState
from callflow.store.session import Database
from callflow.store.upkeep import claim_period
from callflow.store.wakeups import CHANNEL, announce_dispatch_work, listen_in_process
from tests.store.helpers import T0, add_advisor, add_callback, number


class Rings:
    """An in-process listener that counts how often it was called."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def rings() -> Iterator[Rings]:
    listener = Rings()
    stop = listen_in_process(listener)
    yield listener
    stop()


def lose_a_race(session: Session) -> None:
    """A savepoint released, then one rolled back while the transaction goes on: what a
    claim or a new callback does when it loses a race to another process."""
    assert claim_period(session, "job", "period", owner="a", now=T0)
    assert not claim_period(session, "job", "period", owner="b", now=T0)


ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@ON_SQLITE
class TestInProcessListeners:
    """How SQLite's dispatchers (in this process) are woken."""

    def test_they_ring_after_the_commit(self, database: Database, rings: Rings) -> None:
        with database.transaction() as session:
            announce_dispatch_work(session)
            announce_dispatch_work(session)
            assert rings.count == 0
        assert rings.count == 1  # once per commit, however often it was said

    def test_not_after_a_rollback(self, database: Database, rings: Rings) -> None:
        with pytest.raises(RuntimeError), database.transaction() as session:
            announce_dispatch_work(session)
            raise RuntimeError("the work failed")
        assert rings.count == 0
        with database.transaction():
            pass
        assert rings.count == 0  # nothing left over for the next transaction

    def test_not_for_a_commit_that_announced_nothing(
        self, database: Database, rings: Rings
    ) -> None:
        with database.transaction() as session:
            add_advisor(session, "nurse")
        assert rings.count == 0

    def test_a_released_savepoint_is_not_yet_the_commit(
        self, database: Database, rings: Rings
    ) -> None:
        """An advisor becomes available, then the same transaction claims for them (the
        claim works in a savepoint): the listeners wait for the real commit."""
        with database.transaction() as session:
            nurse = add_advisor(session, "nurse")
            set_advisor_state(session, nurse, AdvisorState.BREAK, T0)
        with database.transaction() as session:
            add_callback(session, number(1))
            set_advisor_state(session, nurse, AdvisorState.AVAILABLE, T0)
            claimed = claim_next_callback(session, None, T0, owner="w", lease=timedelta(seconds=90))
            assert claimed is not None
            assert rings.count == 0
        assert rings.count == 1

    def test_a_savepoint_rolled_back_later_does_not_take_back_earlier_work(
        self, database: Database, rings: Rings
    ) -> None:
        with database.transaction() as session:
            announce_dispatch_work(session)
            with suppress(RuntimeError), session.begin_nested():
                raise RuntimeError("this part failed")
            lose_a_race(session)
            assert rings.count == 0
        assert rings.count == 1

    def test_work_announced_in_a_savepoint_rolled_back_is_taken_back(
        self, database: Database, rings: Rings
    ) -> None:
        with (
            database.transaction() as session,
            pytest.raises(RuntimeError),
            session.begin_nested(),
        ):
            announce_dispatch_work(session)
            raise RuntimeError("this part failed")
        assert rings.count == 0

    def test_work_announced_in_a_savepoint_released_is_kept(
        self, database: Database, rings: Rings
    ) -> None:
        with database.transaction() as session:
            with session.begin_nested():
                announce_dispatch_work(session)
            lose_a_race(session)
            assert rings.count == 0
        assert rings.count == 1

    def test_a_listener_stopped_hears_nothing(self, database: Database) -> None:
        listener = Rings()
        stop = listen_in_process(listener)
        stop()
        stop()  # stopping twice is harmless
        with database.transaction() as session:
            announce_dispatch_work(session)
        assert listener.count == 0


# -- PostgreSQL: NOTIFY ------------------------------------------------------------------------

MARKER = "marker"


@pytest.fixture
def listener(database: Database) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A separate connection LISTENing on the dispatchers' channel, as a worker's is."""
    url = database.engine.url.render_as_string(hide_password=False)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f"LISTEN {CHANNEL}")
        yield connection


def heard_before_marker(
    database: Database, connection: psycopg.Connection[tuple[object, ...]]
) -> int:
    """How many wake-ups arrived before a marker sent now. Notifications arrive in commit
    order, so the marker proves any earlier one would have come: no waiting for silence."""
    with database.engine.connect() as sender:
        sender.exec_driver_sql(f"NOTIFY {CHANNEL}, '{MARKER}'")
        sender.commit()
    for heard, notice in enumerate(connection.notifies(timeout=10)):
        if notice.payload == MARKER:
            return heard
        assert notice.channel == CHANNEL
    raise AssertionError("the marker never arrived")


@ON_POSTGRESQL
class TestNotify:
    """How PostgreSQL's dispatchers, in any process on any host, are woken."""

    def test_a_listener_hears_it_after_the_commit(
        self, database: Database, listener: psycopg.Connection[tuple[object, ...]]
    ) -> None:
        with database.transaction() as session:
            announce_dispatch_work(session)
        assert heard_before_marker(database, listener) == 1

    def test_not_after_a_rollback(
        self, database: Database, listener: psycopg.Connection[tuple[object, ...]]
    ) -> None:
        with pytest.raises(RuntimeError), database.transaction() as session:
            announce_dispatch_work(session)
            raise RuntimeError("the work failed")
        assert heard_before_marker(database, listener) == 0

    def test_savepoints_are_honoured_as_on_sqlite(
        self, database: Database, listener: psycopg.Connection[tuple[object, ...]]
    ) -> None:
        with (
            database.transaction() as session,
            pytest.raises(RuntimeError),
            session.begin_nested(),
        ):
            announce_dispatch_work(session)
            raise RuntimeError("this part failed")
        assert heard_before_marker(database, listener) == 0
        with database.transaction() as session:
            announce_dispatch_work(session)
            lose_a_race(session)
        assert heard_before_marker(database, listener) == 1

    def test_an_advisor_becoming_available_is_heard(
        self, database: Database, listener: psycopg.Connection[tuple[object, ...]]
    ) -> None:
        with database.transaction() as session:
            nurse = add_advisor(session, "nurse")
            set_advisor_state(session, nurse, AdvisorState.BREAK, T0)
        assert heard_before_marker(database, listener) == 0
        with database.transaction() as session:
            set_advisor_state(session, nurse, AdvisorState.AVAILABLE, T0)
        assert heard_before_marker(database, listener) == 1
