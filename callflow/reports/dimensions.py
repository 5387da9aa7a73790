"""The calendar as tables, so SQL can answer local-time and working-time questions.

Two dimensions, filled from Python for the local dates the event log spans
(and the working day after), extended as the log grows, never shrunk:

- ``report_quarter_hours``: per UTC quarter-hour, the line's local date,
  weekday and hour (the time zone's rules live in Python, not in SQLite).
- ``report_open_spans``: every opening span of the line (opening hours,
  holidays, closures and special hours applied by
  :class:`~callflow.engine.calendar.Calendar`), with the open time accumulated
  before it and the closing of its day.

Each remembers a fingerprint of the configuration it was built from; when the
time zone or the calendar changes, it is built again (and so is the roll-up
that used it). Filling is idempotent: a range already covered is left alone.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.store.report_models import ReportOpenSpan, ReportQuarterHour, ReportState

QUARTER_HOUR_S = 900
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

HOLIDAYS_VERSION = version("holidays")
"""Part of the calendar's fingerprint: a new release may know a holiday the last did not."""

QUARTER_HOURS = "quarter_hours"
OPEN_SPANS = "open_spans"


def epoch_us(at: datetime) -> int:
    """Whole microseconds since 1970, as the SQL side computes them."""
    return (at - EPOCH) // timedelta(microseconds=1)


def local_midnight(calendar: Calendar, day: date) -> datetime:
    """The UTC instant at which local date *day* begins."""
    return datetime(day.year, day.month, day.day, tzinfo=calendar.tz).astimezone(UTC)


def ensure_quarter_hours(session: Session, config: HotlineConfig, first: date, last: date) -> None:
    """Make ``report_quarter_hours`` cover the local dates *first*..*last*."""
    calendar = Calendar.from_config(config)
    fingerprint = _fingerprint({"timezone": config.line.timezone})
    for start, end in _missing(session, QUARTER_HOURS, fingerprint, first, last, ReportQuarterHour):
        low = local_midnight(calendar, start)
        high = local_midnight(calendar, end + timedelta(days=1))
        rows = []
        for bucket in range(_bucket_of(low), _bucket_of(high)):
            local = datetime.fromtimestamp(bucket * QUARTER_HOUR_S, calendar.tz)
            rows.append(
                {
                    "bucket": bucket,
                    "local_date": local.date(),
                    "weekday": local.weekday(),
                    "hour": local.hour,
                }
            )
        if rows:
            session.execute(insert(ReportQuarterHour), rows)


def ensure_open_spans(session: Session, config: HotlineConfig, first: date, last: date) -> None:
    """Make ``report_open_spans`` cover the local dates *first*..*last*.

    The spans are written afresh over the whole covered range whenever it
    grows: the accumulated open time must run unbroken through it, and a few
    thousand rows cost nothing.
    """
    calendar = Calendar.from_config(config)
    settings = config.model_dump(mode="json", include={"hours", "calendar"})
    settings |= {"timezone": config.line.timezone, "holidays": HOLIDAYS_VERSION}
    fingerprint = _fingerprint(settings)
    missing = _missing(session, OPEN_SPANS, fingerprint, first, last, ReportOpenSpan)
    if not missing:
        return
    state = session.get(ReportState, OPEN_SPANS)
    assert state is not None and state.first_day is not None and state.last_day is not None
    session.execute(delete(ReportOpenSpan))
    rows = []
    worked_us = 0
    day = state.first_day
    while day <= state.last_day:
        spans = calendar.day(day).spans
        for span in spans:
            start_us, end_us = epoch_us(span.start), epoch_us(span.end)
            rows.append(
                {
                    "end_us": end_us,
                    "start_us": start_us,
                    "day_closes_us": epoch_us(spans[-1].end),
                    "worked_before_us": worked_us,
                }
            )
            worked_us += end_us - start_us
        day += timedelta(days=1)
    if rows:
        session.execute(insert(ReportOpenSpan), rows)


def _missing(
    session: Session,
    part: str,
    fingerprint: str,
    first: date,
    last: date,
    table: type[ReportQuarterHour] | type[ReportOpenSpan],
) -> list[tuple[date, date]]:
    """The date ranges to add so *part* covers *first*..*last* in one unbroken range,
    recording the new coverage; a changed fingerprint empties *table* first."""
    state = session.get(ReportState, part)
    if state is None:
        state = ReportState(part=part)
        session.add(state)
    if state.fingerprint != fingerprint or state.first_day is None or state.last_day is None:
        session.execute(delete(table))
        state.fingerprint, state.first_day, state.last_day = fingerprint, first, last
        return [(first, last)]
    added = []
    if first < state.first_day:
        added.append((first, state.first_day - timedelta(days=1)))
        state.first_day = first
    if last > state.last_day:
        added.append((state.last_day + timedelta(days=1), last))
        state.last_day = last
    return added


def _bucket_of(at: datetime) -> int:
    return epoch_us(at) // 1_000_000 // QUARTER_HOUR_S


def _fingerprint(settings: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
