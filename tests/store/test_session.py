"""What counts as the database being out of reach: an outage is waited out and logged
once, a bug keeps its own error and traceback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from callflow.errors import StoreError
from callflow.store.session import Database, is_unreachable
from tests.store.helpers import Restarting


class TestUnreachable:
    def test_a_database_refusing_connections_is_out_of_reach(self, database: Database) -> None:
        """A server restarting (PostgreSQL), a file whose volume went (SQLite): a store
        error that says the database is not available, to be waited out."""
        server = Restarting(database)
        server.stop()
        with pytest.raises(StoreError) as refused, database.transaction() as session:
            session.execute(text("SELECT 1"))
        server.start()
        assert is_unreachable(refused.value)
        assert f"is not available: {server.says}" in str(refused.value)

    def test_a_query_for_a_missing_table_is_a_bug_not_an_outage(self, database: Database) -> None:
        """SQLite says "no such table" with the same exception class as a lost file: it is
        not taken for an outage, so its traceback is kept."""
        with pytest.raises(DBAPIError) as failed, database.transaction() as session:
            session.execute(text("SELECT * FROM no_such_table"))
        assert not isinstance(failed.value, StoreError)
        assert not is_unreachable(failed.value)


class TestBatch:
    """A simulation's units of work, committed together."""

    def test_a_failed_unit_undoes_the_open_batch_and_keeps_what_was_committed(
        self, database: Database
    ) -> None:
        batch = database.batch(units_per_commit=2)
        for value in ("kept-1", "kept-2", "lost-3"):
            with batch.unit() as session:
                session.execute(_KEEP, {"value": value})
        with pytest.raises(ZeroDivisionError), batch.unit() as session:
            session.execute(_KEEP, {"value": "lost-4"})
            _ = 1 / 0
        with batch.unit() as session:  # the batch goes on, in a new transaction
            session.execute(_KEEP, {"value": "kept-5"})
        batch.commit()
        assert _kept(database) == ["kept-1", "kept-2", "kept-5"]

    def test_a_database_out_of_reach_in_a_unit_is_said_plainly(self, database: Database) -> None:
        batch = database.batch(units_per_commit=1)
        with batch.unit() as session:
            session.execute(text("SELECT 1"))
        server = Restarting(database)
        server.stop()
        try:
            with pytest.raises(StoreError, match="is not available"), batch.unit() as session:
                session.execute(text("SELECT 1"))
        finally:
            server.start()


_KEEP = text("INSERT INTO batch_probe (value) VALUES (:value)")


def _kept(database: Database) -> list[str]:
    with database.reading() as session:
        return list(session.scalars(text("SELECT value FROM batch_probe ORDER BY value")))


@pytest.fixture(autouse=True)
def _probe_table(database: Database) -> Iterator[None]:
    """A table of the test's own, dropped after it: PostgreSQL's database outlives the test,
    and a table left behind is a difference from the models for the schema test."""
    with database.transaction() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS batch_probe (value TEXT)"))
        session.execute(text("DELETE FROM batch_probe"))
    yield
    with database.transaction() as session:
        session.execute(text("DROP TABLE batch_probe"))
