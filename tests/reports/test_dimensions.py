"""The calendar as tables: local hours through clock changes, opening spans that follow
the configuration, coverage that only grows."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from sqlalchemy import select

from callflow.config.models import Closure, HotlineConfig
from callflow.reports.dimensions import ensure_open_spans, ensure_quarter_hours, epoch_us
from callflow.reports.kpis import compute_report
from callflow.reports.timeline import CalendarTimeline
from callflow.store.report_models import ReportOpenSpan, ReportQuarterHour
from callflow.store.session import Database
from tests.reports.eventlog import EventLog, local


def quarter_hours(database: Database) -> dict[int, tuple[date, int, int]]:
    with database.engine.connect() as connection:
        rows = connection.execute(select(ReportQuarterHour.__table__))
        return {row.bucket: (row.local_date, row.weekday, row.hour) for row in rows}


def bucket(at: datetime) -> int:
    return epoch_us(at) // 900_000_000


def test_local_hours_through_the_spring_and_autumn_clock_changes(
    database: Database, config: HotlineConfig
) -> None:
    """Sun 2026-03-29 has 23 local hours (no 03), Sun 2026-10-25 has 25 (03 twice)."""
    with database.transaction() as session:
        ensure_quarter_hours(session, config, date(2026, 3, 29), date(2026, 3, 29))
        ensure_quarter_hours(session, config, date(2026, 10, 25), date(2026, 10, 25))
    rows = quarter_hours(database)
    spring = Counter(hour for day, _, hour in rows.values() if day == date(2026, 3, 29))
    autumn = Counter(hour for day, _, hour in rows.values() if day == date(2026, 10, 25))
    assert 3 not in spring and sum(spring.values()) == 23 * 4
    assert autumn[3] == 8 and sum(autumn.values()) == 25 * 4
    assert rows[bucket(local("2026-03-29", "04:00"))] == (date(2026, 3, 29), 6, 4)
    assert rows[bucket(local("2026-03-29", "02:45"))] == (date(2026, 3, 29), 6, 2)


def test_coverage_grows_to_take_in_a_gap_and_is_filled_once(
    database: Database, config: HotlineConfig
) -> None:
    with database.transaction() as session:
        ensure_quarter_hours(session, config, date(2026, 1, 12), date(2026, 1, 12))
        ensure_quarter_hours(session, config, date(2026, 1, 15), date(2026, 1, 15))
        ensure_quarter_hours(session, config, date(2026, 1, 13), date(2026, 1, 14))
    days = Counter(day for day, _, _ in quarter_hours(database).values())
    assert days == {date(2026, 1, d): 96 for d in (12, 13, 14, 15)}


def test_open_spans_accumulate_open_time(database: Database, config: HotlineConfig) -> None:
    """Fri 2026-01-16 and Mon 2026-01-19 are 6 h each; the weekend has no span."""
    with database.transaction() as session:
        timeline = CalendarTimeline.read(session, config)
        ensure_open_spans(session, timeline, date(2026, 1, 16), date(2026, 1, 19))
    with database.engine.connect() as connection:
        spans = connection.execute(
            select(ReportOpenSpan.__table__).order_by(ReportOpenSpan.end_us)
        ).all()
    assert [(s.start_us, s.end_us, s.day_closes_us, s.worked_before_us) for s in spans] == [
        (
            epoch_us(local("2026-01-16", "09:00")),
            epoch_us(local("2026-01-16", "15:00")),
            epoch_us(local("2026-01-16", "15:00")),
            0,
        ),
        (
            epoch_us(local("2026-01-19", "09:00")),
            epoch_us(local("2026-01-19", "15:00")),
            epoch_us(local("2026-01-19", "15:00")),
            6 * 3600 * 1_000_000,
        ),
    ]


def test_a_closure_added_later_counts_in_the_next_report(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Mon 14:00 → Tue 10:00 is 2 h of opening hours; with the line closed for training on
    Tuesday 09:00–09:30, added after the fact, it is 1 h 30 min."""
    monday, tuesday = "2026-01-12", "2026-01-13"
    log.request(local(monday, "14:00"), due=local(tuesday, "15:00")).dialled(
        local(tuesday, "10:00")
    )
    log.save()
    now = local(tuesday, "16:00")
    before = compute_report(database, config, date(2026, 1, 12), date(2026, 1, 12), now=now)
    training = Closure(
        start=datetime(2026, 1, 13, 9), end=datetime(2026, 1, 13, 9, 30), reason="training"
    )
    calendar = config.calendar.model_copy(
        update={"closures": [*config.calendar.closures, training]}
    )
    closed = config.model_copy(update={"calendar": calendar})
    after = compute_report(database, closed, date(2026, 1, 12), date(2026, 1, 12), now=now)
    assert before["callback_response_mean_working_s"] == 2 * 3600.0
    assert after["callback_response_mean_working_s"] == 1.5 * 3600.0
