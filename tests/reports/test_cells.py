"""Cells: the facts of one queue and local hour, summed, with calls that chose no queue apart."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.reports.rollup import refresh_rollup
from callflow.store.report_models import ReportCallCell, ReportCodedCell
from callflow.store.session import Database
from tests.reports.eventlog import EventLog, local

MONDAY = "2026-01-12"


def test_a_local_hour_of_calls_adds_up(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Monday 10–11: two health calls answered after 20 s and 700 s, one hang-up in the menu."""
    for minute, wait in (("10:00", 20), ("10:20", 700)):
        at = local(MONDAY, minute)
        call = log.call(at).topic(at).queued(at)
        call.answered(at + timedelta(seconds=wait), wait).coded(at, "health", "none", "simple_need")
    log.call(local(MONDAY, "10:40")).abandoned(local(MONDAY, "10:40:05"))
    log.save()
    refresh_rollup(database, config)
    with database.engine.connect() as connection:
        cells = {row.topic: row for row in connection.execute(select(ReportCallCell.__table__))}
        coded = connection.execute(select(ReportCodedCell.__table__)).all()
    assert set(cells) == {"health", ""}
    health = cells["health"]
    assert (health.local_hour, health.local_weekday) == (10, 0)
    assert (health.offered, health.answered, health.waits) == (2, 2, 2)
    assert health.wait_us == 720_000_000
    assert (health.answered_within_service_level, health.answered_immediately) == (1, 1)
    assert (health.waited_30s, health.waited_1200s) == (1, 1)
    assert (cells[""].offered, cells[""].abandoned_ivr) == (1, 1)
    assert sorted((c.field, c.value, c.contacts) for c in coded) == [
        ("reason", "health", 2),
        ("referral", "none", 2),
        ("resolution", "simple_need", 2),
    ]
