"""What counts as the database being out of reach: an outage is waited out and logged
once, a bug keeps its own error and traceback."""

from __future__ import annotations

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
