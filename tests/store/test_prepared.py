"""Statements run on the driver store and read values exactly as SQLAlchemy does (on
Twilio's table of calls, whose webhooks run them most)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from callflow.store.base import Base
from callflow.store.prepared import Prepared
from callflow.store.session import Database
from callflow.store.twilio_tables import TwilioLeg
from tests.store.helpers import T0

CALLS = Base.metadata.tables["twilio_calls"]
CALL_ROWS = Base.metadata.tables["calls"]
INSERT = Prepared(insert(CALLS))
READ = Prepared(select(CALLS).where(CALLS.c.call_sid == bindparam("sid")))
HELSINKI = timezone(timedelta(hours=2))


def leg(call_sid: str = "CA1", **values: object) -> dict[str, object]:
    return {
        "call_sid": call_sid,
        "kind": TwilioLeg.ADVISOR,
        "status": "queued",
        "created_at": T0,
        "updated_at": T0,
        **values,
    }


def test_what_is_written_reads_back_through_sqlalchemy(database: Database) -> None:
    entered = datetime(2026, 1, 12, 10, 30, tzinfo=HELSINKI)
    with database.transaction() as session:
        INSERT.execute(session, leg(ready_at=entered, duration_s=12.5, topic="health"))
    with database.reading() as session:
        row = session.execute(select(CALLS)).mappings().one()
    assert row["kind"] is TwilioLeg.ADVISOR
    assert row["ready_at"] == entered
    assert row["ready_at"].tzinfo is UTC
    assert (row["duration_s"], row["topic"], row["sequence"]) == (12.5, "health", -1)


def test_what_is_read_is_typed_as_sqlalchemy_types_it(database: Database) -> None:
    with database.transaction() as session:
        INSERT.execute(session, leg(ready_at=T0 + timedelta(minutes=1)))
    with database.transaction() as session:
        found = READ.first(session, {"sid": "CA1"})
        missing = READ.first(session, {"sid": "CA2"})
    assert found is not None and missing is None
    assert found["kind"] is TwilioLeg.ADVISOR
    assert found["ready_at"] == T0 + timedelta(minutes=1)
    assert found["ready_at"].tzinfo is UTC
    assert found["callback_id"] is None


def test_a_json_document_round_trips(database: Database) -> None:
    document = {"phase": "ivr", "digits": "", "failures": 0, "nested": {"a": [1, None]}}
    row = {
        "id": "c1",
        "provider": "twilio",
        "provider_ref": "CA1",
        "started_at": T0,
        "withheld": False,
        "flow_state": document,
        "updated_at": T0,
    }
    read = Prepared(select(CALL_ROWS.c.flow_state).where(CALL_ROWS.c.id == bindparam("id")))
    with database.transaction() as session:
        Prepared(insert(CALL_ROWS)).execute(session, row)
        found = read.first(session, {"id": "c1"})
    assert found == {"flow_state": document}


def test_many_rows_in_one_go(database: Database) -> None:
    with database.transaction() as session:
        INSERT.execute_many(session, [leg("CA1"), leg("CA2"), leg("CA3")])
    with database.reading() as session:
        assert session.scalars(select(CALLS.c.call_sid)).all() == ["CA1", "CA2", "CA3"]


def test_a_broken_constraint_is_sqlalchemys_integrity_error(database: Database) -> None:
    """Callers that catch SQLAlchemy's errors (a race lost) catch them from here too."""
    with pytest.raises(IntegrityError), database.transaction() as session:
        INSERT.execute(session, leg())
        INSERT.execute(session, leg())
    with database.reading() as session:
        assert session.execute(select(CALLS)).first() is None  # rolled back whole


def test_a_naive_time_is_refused_as_the_column_type_refuses_it(database: Database) -> None:
    with pytest.raises(ValueError, match="naive"), database.transaction() as session:
        INSERT.execute(session, leg(created_at=datetime(2026, 1, 12, 10, 0)))
