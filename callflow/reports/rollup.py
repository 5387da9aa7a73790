"""The roll-up: facts per call and per callback request, and cells summing them, kept exact.

A report over a million calls cannot regroup ten million events each time, so
the roll-up is kept up to date incrementally: events after the watermark name
the calls and requests they touch, exactly those facts are recomputed from
*all* their events up to the new watermark (``INSERT … SELECT … GROUP BY``),
then the cells of the local hours (and dates) those facts fall in are summed
again, and the watermark moves. A rebuild does the same from an empty
roll-up; both end with identical rows, because a fact is a function of its
events alone, and a cell of its facts.

Facts and cells also depend on the configuration: the time zone places them
in local hours, the calendar gives a request's working day and working time,
the thresholds sort the calls. The roll-up remembers a fingerprint of the
file's settings among those and is rebuilt when it changes: an edited file is
the baseline changed for all time, so a closure written into it after the
fact counts in the next report. A calendar change stored while the line runs
is in force only from the moment it was made (:mod:`.timeline`), so it
alters no moment before: the facts already folded stay, and a refresh
recomputes, besides those with new events, just the callback requests whose
working day or working time it may move (:func:`_retimed`). A call's facts
never depend on the calendar: whether it came while the line was closed is
an event, logged under the rules then in force.

The new watermark must be an id below which no event can still appear. On
SQLite the refresh holds the write lock, so nothing is in flight. On
PostgreSQL ids are handed out before commit, so id 100 may become visible
after id 101: the highest id is read under a ``SHARE`` lock on the event
table, which waits for the transactions inserting events to finish and is
released at once. Refreshes themselves are serialised with an advisory lock.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    union,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import EventKind
from callflow.errors import StoreError
from callflow.reports.cells import call_cells, callback_cells, coded_cells
from callflow.reports.dimensions import (
    EPOCH,
    HOLIDAYS_VERSION,
    ensure_open_spans,
    ensure_quarter_hours,
    epoch_us,
    open_spans_behind,
)
from callflow.reports.facts import call_facts, callback_facts
from callflow.reports.timeline import CalendarTimeline, local_midnight
from callflow.store.models import CallEvent
from callflow.store.report_models import (
    ReportCallbackCell,
    ReportCallbackFact,
    ReportCallCell,
    ReportCallFact,
    ReportCodedCell,
    ReportOpenSpan,
    ReportState,
)
from callflow.store.session import Database, unreachable_as_store_error

ROLLUP = "rollup"
_LOCK_KEY = 0x72707274  # "rprt": one advisory lock id for roll-up refreshes
LARGE_FOLD = 100_000
"""Events folded at once beyond which the facts are vacuumed and analysed straight away."""
LOCK_TIMEOUT = "5s"
"""How long a refresh on PostgreSQL waits for event writers to finish before giving up."""

_FACTS_AND_CELLS = (
    ReportCallFact,
    ReportCallbackFact,
    ReportCallCell,
    ReportCallbackCell,
    ReportCodedCell,
)


def refresh_rollup(database: Database, config: HotlineConfig) -> int:
    """Fold every settled event into the roll-up; return the new watermark.

    *config* is the file's configuration, without the stored settings laid over it: the
    stored calendar changes are read from the database, each in force from when it was
    made (:mod:`.timeline`).
    """
    settled = _settled_event_id(database)
    with database.transaction() as session:
        _serialise(session)
        state = session.get(ReportState, ROLLUP)
        if state is None:
            state = ReportState(part=ROLLUP, watermark=0)
            session.add(state)
        fingerprint = rollup_fingerprint(config)
        if state.fingerprint != fingerprint:
            if state.fingerprint is not None:
                structlog.get_logger("callflow.reports").info(
                    "report.rollup_rebuilt",
                    reason="the file's time zone, hours, calendar or thresholds changed",
                )
            state.fingerprint, state.watermark = fingerprint, 0
        watermark = state.watermark or 0
        if settled is None:  # SQLite: this transaction holds the write lock
            settled = _highest_event_id(session)
        settled = max(settled, watermark)
        if settled > watermark or (watermark and open_spans_behind(session)):
            if watermark == 0:
                _empty(session)
            changed_from = _cover_calendar(session, config)
            retimed = None
            if watermark and changed_from is not None:
                structlog.get_logger("callflow.reports").info(
                    "report.rollup_retimed", calendar_changed_from=changed_from.isoformat()
                )
                retimed = _retimed(session, config, changed_from)
            _fold(session, config, watermark, settled, retimed)
            state.watermark = settled
    if settled - watermark >= LARGE_FOLD:
        _tidy(database)
    return settled


def rebuild_rollup(database: Database, config: HotlineConfig) -> int:
    """Empty the roll-up and build it again from the whole event log."""
    with database.transaction() as session:
        _serialise(session)
        _empty(session)
        session.execute(delete(ReportState))
    return refresh_rollup(database, config)


def rollup_fingerprint(config: HotlineConfig) -> str:
    """What the facts and cells depend on besides the events, where a change alters the
    past: the file's settings. Not the calendar changes stored while the line runs, which
    alter only the moments after they were made (:func:`_retimed`)."""
    settings = config.model_dump(mode="json", include={"hours", "calendar", "reports"})
    settings |= {"timezone": config.line.timezone, "holidays": HOLIDAYS_VERSION}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _tidy(database: Database) -> None:
    """After a large fold on PostgreSQL, vacuum and analyse the facts at once rather than
    when autovacuum comes round: percentiles walk an index, which is quick only once the
    visibility map says the rows need no visit."""
    if database.dialect != "postgresql":
        return
    with (
        unreachable_as_store_error(database.engine),
        database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
    ):
        tables = f"{ReportCallFact.__tablename__}, {ReportCallbackFact.__tablename__}"
        connection.execute(text(f"VACUUM (ANALYZE) {tables}"))


def _empty(session: Session) -> None:
    for table in _FACTS_AND_CELLS:
        session.execute(delete(table))


def _highest_event_id(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(CallEvent.id), 0))) or 0


def _settled_event_id(database: Database) -> int | None:
    """PostgreSQL: the highest event id below which every event is committed or never will be."""
    if database.dialect != "postgresql":
        return None
    with database.transaction() as session:
        session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        try:
            session.execute(text("LOCK TABLE call_events IN SHARE MODE"))
        except OperationalError as exc:
            raise StoreError(
                f"the event log stayed busy for {LOCK_TIMEOUT}; run the report again"
            ) from exc
        return _highest_event_id(session)


def _serialise(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _cover_calendar(session: Session, config: HotlineConfig) -> datetime | None:
    """Make the dimensions cover every event, and the working day after the last: a request
    made after the last closing needs the next day's spans. Returns the earliest moment
    from which the open spans changed for calendar changes stored since the last refresh
    (``None``: none were)."""
    # Two queries: SQLite answers a lone min() or max() from the index, not both at once.
    first_at = session.scalar(select(func.min(CallEvent.at)))
    last_at = session.scalar(select(func.max(CallEvent.at)))
    if first_at is None or last_at is None:
        return None
    timeline = CalendarTimeline.read(session, config)
    first, last = timeline.local_date(first_at), timeline.local_date(last_at)
    ensure_quarter_hours(session, config, first, last)
    return ensure_open_spans(session, timeline, first, timeline.next_working_day(last))


def _retimed(session: Session, config: HotlineConfig, since: datetime) -> Select[Any]:
    """The callback requests whose facts the calendar changed from *since* on may move.

    The spans before *since* are as they were, and so is every day before *since*'s local
    date, whole. A request's working day (and its closing) is the first opening span that
    ends after it, so only a request made since the line's last closing before that date
    can have a working day that changed; the working time up to an instant before *since*
    is as it was, so only a dial since then can change a working response. The requests
    made or dialled since that closing are recomputed from their events, as if their
    events were new: a few more than strictly change (a working day that came out the
    same, a dial between that closing and *since*), never fewer.
    """
    tz = ZoneInfo(config.line.timezone)
    day = local_midnight(tz, since.astimezone(tz).date())
    last_closing_us = session.scalar(
        select(func.max(ReportOpenSpan.day_closes_us)).where(
            ReportOpenSpan.day_closes_us <= epoch_us(day)
        )
    )
    timed = select(CallEvent.callback_id).where(
        CallEvent.kind.in_([EventKind.CALLBACK_REQUESTED, EventKind.CALLBACK_DIALLED])
    )
    if last_closing_us is None:  # the change reaches back before the first covered closing
        return timed
    return timed.where(CallEvent.at >= EPOCH + timedelta(microseconds=last_closing_us))


# -- folding events into facts, facts into cells ---------------------------------------------


def _fold(
    session: Session,
    config: HotlineConfig,
    after: int,
    upto: int,
    retimed: Select[Any] | None = None,
) -> None:
    """Recompute the facts of every call and request with an event in (*after*, *upto*],
    and of the *retimed* requests, then the cells they fall in; from an empty roll-up,
    everything."""
    new = and_(CallEvent.id > after, CallEvent.id <= upto)
    calls = select(CallEvent.call_id).where(new, CallEvent.call_id.is_not(None))
    callbacks: Select[Any] | CompoundSelect[Any] = select(CallEvent.callback_id).where(
        new, CallEvent.callback_id.is_not(None)
    )
    if retimed is not None:
        callbacks = union(callbacks, retimed)
    if after:
        session.execute(delete(ReportCallFact).where(ReportCallFact.call_id.in_(calls)))
        session.execute(
            delete(ReportCallbackFact).where(ReportCallbackFact.callback_id.in_(callbacks))
        )
    call_scope = CallEvent.call_id.in_(calls) if after else CallEvent.call_id.is_not(None)
    callback_scope = (
        CallEvent.callback_id.in_(callbacks) if after else CallEvent.callback_id.is_not(None)
    )
    _insert(session, ReportCallFact, call_facts(and_(call_scope, CallEvent.id <= upto)))
    _insert(session, ReportCallbackFact, callback_facts(and_(callback_scope, CallEvent.id <= upto)))

    call, request = ReportCallFact, ReportCallbackFact
    call_hours: ColumnElement[bool] | None = None
    request_hours: ColumnElement[bool] | None = None
    coded_days: list[ColumnElement[bool]] | None = None
    if after:
        # A fact's local hour is that of its arrival or request, so it never moves:
        # the cells to sum again are those of the facts just recomputed.
        touched_hours = select(call.local_date, call.local_hour).where(call.call_id.in_(calls))
        touched_request_hours = select(request.local_date, request.local_hour).where(
            request.callback_id.in_(callbacks)
        )
        touched_days = union(
            select(call.local_date).where(call.call_id.in_(calls)),
            select(request.local_date).where(request.callback_id.in_(callbacks)),
        )
        for cells, touched in (
            (ReportCallCell, touched_hours),
            (ReportCallbackCell, touched_request_hours),
        ):
            hour = tuple_(cells.local_date, cells.local_hour)
            session.execute(delete(cells).where(hour.in_(touched)))
        session.execute(delete(ReportCodedCell).where(ReportCodedCell.local_date.in_(touched_days)))
        call_hours = tuple_(call.local_date, call.local_hour).in_(touched_hours)
        request_hours = tuple_(request.local_date, request.local_hour).in_(touched_request_hours)
        coded_days = [call.local_date.in_(touched_days), request.local_date.in_(touched_days)]
    _insert(session, ReportCallCell, call_cells(config, call_hours))
    _insert(session, ReportCallbackCell, callback_cells(request_hours))
    _insert(session, ReportCodedCell, coded_cells(coded_days))


def _insert(session: Session, table: type[Any], rows: Select[Any]) -> None:
    session.execute(insert(table).from_select(list(rows.selected_columns.keys()), rows))
