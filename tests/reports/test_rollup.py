"""The roll-up is exact: built in steps it equals a rebuild, and no event is ever skipped."""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import EventKind
from callflow.reports.rollup import rebuild_rollup, refresh_rollup
from callflow.store.models import CallEvent
from callflow.store.report_models import (
    ReportCallbackCell,
    ReportCallbackFact,
    ReportCallCell,
    ReportCallFact,
    ReportCodedCell,
)
from callflow.store.session import Database
from tests.conftest import _empty_postgres
from tests.reports.eventlog import EventLog, local, random_days

MONDAY = "2026-01-12"


def facts(database: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of the roll-up's facts and cells, in key order."""
    tables = {
        "calls": ReportCallFact.__table__,
        "callbacks": ReportCallbackFact.__table__,
        "call_cells": ReportCallCell.__table__,
        "callback_cells": ReportCallbackCell.__table__,
        "coded_cells": ReportCodedCell.__table__,
    }
    with database.engine.connect() as connection:
        return {
            name: [
                row._asdict()
                for row in connection.execute(select(table).order_by(*table.primary_key))
            ]
            for name, table in tables.items()
        }


@pytest.mark.slow
def test_building_in_steps_equals_a_rebuild(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Events of one call or request arrive across refreshes (a queue chosen, an answer, a
    coding, a dial): its fact and cells are recomputed each time and end up as a rebuild
    from the whole log makes them."""
    waiting = log.call(local(MONDAY, "10:00")).topic(local(MONDAY, "10:00:10"))
    waiting.queued(local(MONDAY, "10:00:20"))
    choosing = log.call(local(MONDAY, "10:02"))
    request = log.request(local(MONDAY, "10:30"), due=local(MONDAY, "15:00"))
    log.save()
    first = refresh_rollup(database, config)
    assert facts(database)["calls"][0]["answered_us"] is None

    waiting.answered(local(MONDAY, "10:05:20"), 300).coded(
        local(MONDAY, "10:10"), "health", "none", "no_service_need"
    )
    choosing.topic(local(MONDAY, "10:02:30"), "social").queued(local(MONDAY, "10:02:40"))
    choosing.abandoned(local(MONDAY, "10:04:40"), wait_s=120)
    request.dialled(local(MONDAY, "11:00"), "no_answer")
    random_days(log, config, date(2026, 1, 12), 3, seed=1)
    second = refresh_rollup(database, config)
    request.dialled(local(MONDAY, "11:30")).completed(local(MONDAY, "11:40"))
    random_days(log, config, date(2026, 1, 15), 2, seed=2)
    third = refresh_rollup(database, config)
    assert first < second < third

    stepwise = facts(database)
    assert rebuild_rollup(database, config) == third
    assert facts(database) == stepwise
    call = next(row for row in stepwise["calls"] if row["call_id"] == waiting.call_id)
    assert call["answered_us"] - call["queue_entered_us"] == 300_000_000
    assert call["reason"] == "health"
    callback = next(r for r in stepwise["callbacks"] if r["callback_id"] == request.callback_id)
    assert callback["first_dialled_us"] == int(local(MONDAY, "11:00").timestamp()) * 1_000_000
    assert callback["final"] == "completed"


def test_a_refresh_with_nothing_new_changes_nothing(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    log.call(local(MONDAY, "10:00"), closed=True)
    log.save()
    watermark = refresh_rollup(database, config)
    before = facts(database)
    assert refresh_rollup(database, config) == watermark
    assert facts(database) == before
    assert len(before["calls"]) == 1


def test_an_empty_log_has_no_facts(database: Database, config: HotlineConfig) -> None:
    assert refresh_rollup(database, config) == 0
    assert rebuild_rollup(database, config) == 0
    assert all(rows == [] for rows in facts(database).values())


@pytest.mark.postgres
def test_an_event_committed_late_under_a_lower_id_is_not_skipped(
    postgres_url: str, config: HotlineConfig
) -> None:
    """PostgreSQL hands out ids before commit. A refresh that starts while an event with a
    lower id is still uncommitted waits for it instead of moving the watermark past it.
    (SQLite has one writer at a time: nothing is ever in flight there.)"""
    _empty_postgres(postgres_url)
    database = Database.connect(postgres_url)
    log = EventLog(database)
    early = log.call(local(MONDAY, "10:00"), closed=True)
    late = log.call(local(MONDAY, "10:05"), closed=True)
    log.save()
    refresh_rollup(database, config)
    slow = database.engine.connect()
    slow_transaction = slow.begin()
    slow.execute(insert(CallEvent), [_topic_event(early.call_id, "health")])
    with database.transaction() as session:
        session.execute(insert(CallEvent), [_topic_event(late.call_id, "social")])
    refreshing = threading.Thread(target=refresh_rollup, args=(database, config))
    refreshing.start()
    _wait_until_blocked_on_the_event_table(database)
    slow_transaction.commit()
    slow.close()
    refreshing.join(timeout=30)
    assert not refreshing.is_alive()
    refresh_rollup(database, config)
    topics = {row["call_id"]: row["topic"] for row in facts(database)["calls"]}
    database.close()
    assert topics == {early.call_id: "health", late.call_id: "social"}


def _topic_event(call_id: str, topic: str) -> dict[str, Any]:
    data = {"topic": topic, "language": "fi", "by": "digit"}
    return {
        "at": local(MONDAY, "10:10"),
        "kind": EventKind.TOPIC_CHOSEN,
        "call_id": call_id,
        "topic": topic,
        "language": "fi",
        "data": data,
    }


def _wait_until_blocked_on_the_event_table(database: Database) -> None:
    """Poll the lock table (no sleeping on a guess) until the refresh waits for the writer."""
    waiting = (
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'call_events'::regclass"
    )
    deadline = time.monotonic() + 10
    with database.engine.connect() as connection:
        while time.monotonic() < deadline:
            if connection.execute(text(waiting)).scalar_one():
                return
            connection.rollback()
    raise AssertionError("the refresh never waited for the uncommitted event")


def test_rebuild_starts_from_an_empty_roll_up(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    log.call(local(MONDAY, "10:00"), closed=True)
    log.save()
    refresh_rollup(database, config)
    with database.transaction() as session:
        session.execute(update(ReportCallFact).values(topic="tampered"))
    rebuild_rollup(database, config)
    assert [row["topic"] for row in facts(database)["calls"]] == [None]
