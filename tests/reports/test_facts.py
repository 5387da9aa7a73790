"""Facts: a call or a request, as its events tell it, placed on the line's clock and calendar."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.reports.dimensions import epoch_us
from callflow.reports.rollup import refresh_rollup
from callflow.store.report_models import ReportCallbackFact, ReportCallFact
from callflow.store.session import Database
from tests.reports.eventlog import EventLog, local

MONDAY, TUESDAY = "2026-01-12", "2026-01-13"


def test_a_call_keeps_its_first_queue_entry_and_its_last_coding(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    call = log.call(local(MONDAY, "23:50")).topic(local(MONDAY, "23:50:10"), "social")
    call.queued(local(MONDAY, "23:50:20")).queued(local(MONDAY, "23:55"), returning=True)
    call.answered(local(TUESDAY, "00:01"), 640)
    call.coded(local(TUESDAY, "00:05"), "social", "none", "simple_need")
    call.coded(local(TUESDAY, "00:06"), "billing", "other", "no_service_need")
    log.save()
    refresh_rollup(database, config)
    with database.engine.connect() as connection:
        fact = connection.execute(select(ReportCallFact.__table__)).one()
    assert (fact.local_date, fact.local_weekday, fact.local_hour) == (date(2026, 1, 12), 0, 23)
    assert fact.topic == "social" and fact.closed_hours is False
    assert fact.wait_us == 640_000_000  # from 23:50:20, the first entry
    assert (fact.reason, fact.referral, fact.resolution) == ("billing", "other", "no_service_need")


def test_a_request_knows_its_working_day_and_its_working_time(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Made Monday 20:00 (closed), dialled Tuesday 09:30: Tuesday's closing is its deadline,
    and 30 minutes of opening hours passed."""
    request = log.request(local(MONDAY, "20:00"), due=local(TUESDAY, "11:00"))
    request.dialled(local(TUESDAY, "09:30"), "busy").dialled(local(TUESDAY, "10:00"))
    log.save()
    refresh_rollup(database, config)
    with database.engine.connect() as connection:
        fact = connection.execute(select(ReportCallbackFact.__table__)).one()
    assert fact.working_day_closes_us == epoch_us(local(TUESDAY, "15:00"))
    assert fact.first_dialled_us == epoch_us(local(TUESDAY, "09:30"))
    assert fact.response_us == 13 * 3600 * 1_000_000 + 30 * 60 * 1_000_000
    assert fact.working_response_us == 30 * 60 * 1_000_000
    assert fact.due_us == epoch_us(local(TUESDAY, "11:00"))
    assert fact.final is None  # dialled twice, neither reached nor given up yet
