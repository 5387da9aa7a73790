"""Callback requests: one open per number across all queues, found, cancelled, counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from callflow.config.load import load_config
from callflow.engine.forecast import BacklogIndex
from callflow.engine.vocabulary import CallbackStatus, EventKind
from callflow.errors import DuplicatePendingCallback
from callflow.store.callbacks import (
    backlog_place,
    callbacks_ahead,
    cancel_by_admin,
    cancel_callback,
    open_backlog,
    open_callback,
)
from callflow.store.models import CallbackRequest, CallEvent
from callflow.store.queues import sync_queues
from callflow.store.session import Database
from callflow.store.wakeups import listen_in_process
from tests.conftest import EXAMPLE_CONFIG
from tests.store.helpers import T0, add_callback, finish

NUMBER = "+358401234567"


def test_a_second_open_request_for_a_number_is_refused_in_any_queue(database: Database) -> None:
    with database.transaction() as session:
        first = add_callback(session, NUMBER, topic="health")
    with database.transaction() as session, pytest.raises(DuplicatePendingCallback) as caught:
        add_callback(session, NUMBER, topic="social", language="sv")
    assert caught.value.callback_id == first
    with database.transaction() as session:
        found = open_callback(session, NUMBER)
        assert found is not None and (found.callback_id, found.topic) == (first, "health")


def test_the_database_itself_refuses_two_open_requests(database: Database) -> None:
    """Even code that skips the check cannot store a second open request for a number."""
    with database.transaction() as session:
        add_callback(session, NUMBER)
    with pytest.raises(IntegrityError), database.transaction() as session:
        session.execute(
            text(
                "INSERT INTO callback_requests (number_e164, topic, language, requested_at, "
                "queue_entered_at, not_before, due_at, expected_at, deadline_class, status, "
                "attempts, late, created_at, updated_at) SELECT number_e164, topic, language, "
                "requested_at, queue_entered_at, not_before, due_at, expected_at, deadline_class, "
                "'pending', 0, late, created_at, updated_at FROM callback_requests"
            )
        )


def test_a_finished_request_frees_the_number(database: Database) -> None:
    with database.transaction() as session:
        first = add_callback(session, NUMBER)
        finish(session, first, T0)
    with database.transaction() as session:
        second = add_callback(session, NUMBER)
    assert second != first


def test_cancelling(database: Database) -> None:
    with database.transaction() as session:
        callback_id = add_callback(session, NUMBER)
    with database.transaction() as session:
        assert cancel_callback(session, callback_id, T0, "cancelled by caller")
    with database.transaction() as session:
        request = session.get(CallbackRequest, callback_id)
        assert request is not None and request.status is CallbackStatus.CANCELLED
        assert request.closed_reason == "cancelled by caller"
        assert not cancel_callback(session, callback_id, T0, "again")
        assert open_callback(session, NUMBER) is None


def test_a_number_in_an_admins_reason_is_never_stored_whole(database: Database) -> None:
    """The reason is free text, kept past the retention purge: a number in it is masked
    before it is written, in the request and in its log."""
    with database.transaction() as session:
        callback_id = add_callback(session, NUMBER)
    with database.transaction() as session:
        cancel_by_admin(
            session, callback_id, T0, reason="asked us to call 0409 876 543 instead", admin="ada"
        )
    with database.transaction() as session:
        request = session.get(CallbackRequest, callback_id)
        assert request is not None
        assert request.closed_reason == "asked us to call **** *** 543 instead"
        (event,) = session.scalars(
            select(CallEvent).where(CallEvent.kind == EventKind.CALLBACK_CANCELLED)
        )
        assert event.data == {"by": "admin", "admin": "ada", "reason": request.closed_reason}


def test_counting_the_requests_ahead_keeps_class_and_place(database: Database) -> None:
    """Escalated first, then by class, then by the time callers entered the queue."""
    with database.transaction() as session:
        add_callback(session, "+358401000001", entered=T0, deadline_class=1)
        add_callback(session, "+358401000002", entered=T0 + timedelta(minutes=10))
        add_callback(session, "+358401000003", entered=T0 + timedelta(hours=1), deadline_class=0)
        add_callback(session, "+358401000004", entered=T0, deadline_class=2)
        add_callback(session, "+358401000005", entered=T0, language="sv")
        add_callback(session, "+358401000006", entered=T0, topic="social")
        done = add_callback(session, "+358401000007", entered=T0 - timedelta(hours=1))
        finish(session, done, T0)
    at = T0 + timedelta(minutes=5)
    expected = {("fi", 1): 2, ("fi", 2): 4, ("fi", 0): 0, ("sv", 1): 1}
    with database.reading() as session:
        index = open_backlog(session)  # the simulator's in-memory count
        counted = {  # the live line's count, in the database
            (language, cls): callbacks_ahead(session, "health", language, cls, at)
            for language, cls in expected
        }
    assert {(lang, cls): index.ahead("health", lang, cls, at) for lang, cls in expected} == expected
    assert counted == expected


def test_an_index_kept_one_request_at_a_time_counts_as_one_read_whole(
    database: Database,
) -> None:
    """The simulator puts or drops the one request that changed instead of reading the
    backlog again: the counts must be the same."""
    with database.transaction() as session:
        ids = [
            add_callback(session, "+358401000001", entered=T0, deadline_class=1),
            add_callback(session, "+358401000002", entered=T0 + timedelta(minutes=10)),
            add_callback(session, "+358401000003", entered=T0, deadline_class=2),
            add_callback(session, "+358401000004", entered=T0),  # the same place as the first
        ]
    kept = BacklogIndex()
    with database.reading() as session:
        for callback_id in ids:
            place = backlog_place(session, callback_id)
            assert place is not None
            kept.put(callback_id, place)
    with database.transaction() as session:
        finish(session, ids[0], T0)
    with database.reading() as session:
        place = backlog_place(session, ids[0])
        assert place is None
        kept.drop(ids[0])
        kept.drop(ids[0])  # told twice: nothing more changes
        whole = open_backlog(session)
    at = T0 + timedelta(minutes=5)
    for cls in (0, 1, 2):
        assert kept.ahead("health", "fi", cls, at) == whole.ahead("health", "fi", cls, at)
    assert kept.ahead("health", "fi", 1, T0) == 1  # the one left at the same place is ahead
    assert len(kept) == len(whole) == 3


def test_times_come_back_as_the_same_utc_instant(database: Database) -> None:
    helsinki = datetime(2026, 3, 29, 5, 30, tzinfo=ZoneInfo("Europe/Helsinki"))  # summer time
    with database.transaction() as session:
        callback_id = add_callback(session, NUMBER, entered=helsinki)
    with database.transaction() as session:
        request = session.get(CallbackRequest, callback_id)
        assert request is not None
        assert request.queue_entered_at == helsinki
        assert request.queue_entered_at.tzinfo is UTC


def test_a_naive_time_is_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), database.transaction() as session:
        add_callback(session, NUMBER, entered=datetime(2026, 1, 12, 10))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_new_request_wakes_the_dispatchers_once_committed(database_url: str) -> None:
    """On SQLite the word goes to this process's listeners (PostgreSQL's NOTIFY is
    pinned in test_wakeups); a request rolled back wakes nobody."""
    database = Database.connect(database_url)
    woken: list[str] = []
    stop = listen_in_process(lambda: woken.append("woken"))
    try:
        with pytest.raises(RuntimeError), database.transaction() as session:
            sync_queues(session, load_config(EXAMPLE_CONFIG), T0)
            add_callback(session, "+358401111111")
            raise RuntimeError("rolled back")
        assert woken == []
        with database.transaction() as session:
            sync_queues(session, load_config(EXAMPLE_CONFIG), T0)
            add_callback(session, "+358401111111")
        assert woken == ["woken"]
    finally:
        stop()
        database.close()
