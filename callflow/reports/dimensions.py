"""The calendar as tables, so SQL can answer local-time and working-time questions.

Two dimensions, filled from Python for the local dates the event log spans
(and the working day after), extended as the log grows, never shrunk:

- ``report_quarter_hours``: per UTC quarter-hour, the line's local date,
  weekday and hour (the time zone's rules live in Python, not in SQLite).
- ``report_open_spans``: every opening span of the line (opening hours,
  holidays, closures and special hours applied by
  :class:`~callflow.engine.calendar.Calendar`) under the calendar in force at
  each moment (:class:`~callflow.reports.timeline.CalendarTimeline`: the
  file's, with each stored calendar change from the moment it was made), with
  the open time accumulated before it and the closing of its day.

Each remembers a fingerprint of the file's settings it was built from; when
the time zone or the file's hours or calendar change, it is built again (and
so is the roll-up that used it). The open spans also remember the last
stored calendar change they include (``watermark``): a newer one rewrites
them, changing only the moments from when it was made on. Filling is
idempotent: a range already covered is left alone.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.reports.timeline import CalendarTimeline, latest_calendar_change, local_midnight
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


def ensure_quarter_hours(session: Session, config: HotlineConfig, first: date, last: date) -> None:
    """Make ``report_quarter_hours`` cover the local dates *first*..*last*."""
    tz = ZoneInfo(config.line.timezone)
    fingerprint = _fingerprint({"timezone": config.line.timezone})
    for start, end in _missing(session, QUARTER_HOURS, fingerprint, first, last, ReportQuarterHour):
        low = local_midnight(tz, start)
        high = local_midnight(tz, end + timedelta(days=1))
        rows = []
        for bucket in range(_bucket_of(low), _bucket_of(high)):
            local = datetime.fromtimestamp(bucket * QUARTER_HOUR_S, tz)
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


def ensure_open_spans(
    session: Session, timeline: CalendarTimeline, first: date, last: date
) -> datetime | None:
    """Make ``report_open_spans`` cover the local dates *first*..*last* under *timeline*;
    return the earliest moment whose spans may differ from those written before, because
    calendar changes were stored since (``None``: none were).

    The spans are written afresh over the whole covered range whenever it grows or a
    calendar change is new: the accumulated open time must run unbroken through it, and a
    few thousand rows cost nothing.
    """
    config = timeline.config
    settings = config.model_dump(mode="json", include={"hours", "calendar"})
    settings |= {"timezone": config.line.timezone, "holidays": HOLIDAYS_VERSION}
    missing = _missing(session, OPEN_SPANS, _fingerprint(settings), first, last, ReportOpenSpan)
    state = session.get(ReportState, OPEN_SPANS)
    assert state is not None and state.first_day is not None and state.last_day is not None
    changed_from = timeline.changed_after(state.watermark or 0)
    if not missing and changed_from is None:
        return None
    session.execute(delete(ReportOpenSpan))
    rows = []
    worked_us = 0
    day = state.first_day
    while day <= state.last_day:
        spans = timeline.spans(day)
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
    state.watermark = timeline.last_change
    return changed_from


def open_spans_behind(session: Session) -> bool:
    """Whether a calendar change was stored since ``report_open_spans`` were last written."""
    state = session.get(ReportState, OPEN_SPANS)
    included = state.watermark if state is not None else None
    return latest_calendar_change(session) > (included or 0)


def _missing(
    session: Session,
    part: str,
    fingerprint: str,
    first: date,
    last: date,
    table: type[ReportQuarterHour] | type[ReportOpenSpan],
) -> list[tuple[date, date]]:
    """The date ranges to add so *part* covers *first*..*last* in one unbroken range,
    recording the new coverage; a changed fingerprint empties *table* first (and forgets
    the stored changes it included)."""
    state = session.get(ReportState, part)
    if state is None:
        state = ReportState(part=part)
        session.add(state)
    if state.fingerprint != fingerprint or state.first_day is None or state.last_day is None:
        session.execute(delete(table))
        state.fingerprint, state.first_day, state.last_day = fingerprint, first, last
        state.watermark = None
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
