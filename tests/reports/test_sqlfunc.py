"""Epoch microseconds in SQL: exactly Python's figure, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import insert, literal, select

from callflow.engine.vocabulary import EventKind
from callflow.reports.dimensions import epoch_us as python_epoch_us
from callflow.reports.sqlfunc import epoch_us, iso_epoch_us
from callflow.store.models import CallEvent
from callflow.store.session import Database

INSTANTS = [
    datetime(2026, 1, 12, 8, 0, tzinfo=UTC),
    datetime(2026, 1, 12, 12, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 59, 59, 1, tzinfo=UTC),
    datetime(2027, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]


def test_a_stored_instant_to_the_microsecond(database: Database) -> None:
    with database.transaction() as session:
        session.execute(
            insert(CallEvent),
            [{"at": at, "kind": EventKind.CALL_ARRIVED, "data": {}} for at in INSTANTS],
        )
    with database.engine.connect() as connection:
        found = connection.execute(select(epoch_us(CallEvent.at)).order_by(CallEvent.id))
        assert found.scalars().all() == [python_epoch_us(at) for at in INSTANTS]


def test_an_iso_string_from_event_data(database: Database) -> None:
    """``datetime.isoformat`` leaves out a zero fraction and writes the offset as +HH:MM."""
    zones = [timezone(timedelta(hours=hours)) for hours in (0, 2, 3)]
    written = [at.astimezone(zone).isoformat() for at in INSTANTS for zone in zones]
    with database.engine.connect() as connection:
        found = [
            connection.execute(select(iso_epoch_us(literal(text)))).scalar_one() for text in written
        ]
    assert found == [python_epoch_us(at) for at in INSTANTS for _ in zones]
