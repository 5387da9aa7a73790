"""From events to facts: one row per call and per callback request, by SQL.

Each statement groups the events of the calls (or requests) in scope and
computes the fact of each from them alone, placed on the line's local clock
(``report_quarter_hours``) and, for a request, in its calendar
(``report_open_spans``): its working day's closing and its working response
time. Instants are converted to epoch microseconds once per group, after
grouping: on SQLite the conversion costs more than the grouping itself.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select
from sqlalchemy.orm import aliased

from callflow.engine.vocabulary import EventKind
from callflow.reports.sqlfunc import MICROSECONDS, epoch_us, iso_epoch_us
from callflow.store.models import CallEvent
from callflow.store.report_models import ReportOpenSpan, ReportQuarterHour

QUARTER_HOUR_US = 900 * MICROSECONDS
CODING_FIELDS = ("reason", "referral", "resolution")

FINAL_EVENTS = {
    # A request has one final event; if a log ever held two, the first listed wins.
    EventKind.CALLBACK_COMPLETED: "completed",
    EventKind.CALLBACK_WRONG_NUMBER: "wrong_number",
    EventKind.CALLBACK_FAILED: "failed",
    EventKind.CALLBACK_EXPIRED: "expired",
    EventKind.CALLBACK_CANCELLED: "cancelled",
}

# The events a fact is made of; the others (announcements, claims, ...) are skipped early.
CALL_FACT_EVENTS = (
    EventKind.CALL_ARRIVED,
    EventKind.CALL_CLOSED_HOURS,
    EventKind.TOPIC_CHOSEN,
    EventKind.QUEUE_ENTERED,
    EventKind.ANSWERED,
    EventKind.ABANDONED,
    EventKind.DROPPED,
    EventKind.CONTACT_CODED,
)
CALLBACK_FACT_EVENTS = (
    EventKind.CALLBACK_REQUESTED,
    EventKind.CALLBACK_DIALLED,
    *FINAL_EVENTS,
    EventKind.CONTACT_CODED,
)


def _first_at(kind: EventKind) -> ColumnElement[Any]:
    return func.min(case((CallEvent.kind == kind, CallEvent.at)))


def _has(kind: EventKind) -> ColumnElement[Any]:
    return func.max(case((CallEvent.kind == kind, 1), else_=0))


def _coded_on(channel: str) -> ColumnElement[Any]:
    """The id of the last outcome coding of a contact on *channel*: a correction wins."""
    return func.max(
        case(
            (
                and_(
                    CallEvent.kind == EventKind.CONTACT_CODED,
                    CallEvent.data["channel"].as_string() == channel,
                ),
                CallEvent.id,
            )
        )
    )


def _coding(coded: type[CallEvent]) -> list[ColumnElement[Any]]:
    return [coded.data[field].as_string().label(field) for field in CODING_FIELDS]


def _local_time(clock: type[ReportQuarterHour]) -> list[ColumnElement[Any]]:
    return [
        clock.local_date.label("local_date"),
        clock.weekday.label("local_weekday"),
        clock.hour.label("local_hour"),
    ]


def call_facts(scope: ColumnElement[bool]) -> Select[Any]:
    """One row per call in *scope* that has arrived."""
    kind = CallEvent.kind
    per_call = (
        select(
            CallEvent.call_id.label("call_id"),
            epoch_us(_first_at(EventKind.CALL_ARRIVED)).label("arrived_us"),
            _has(EventKind.CALL_CLOSED_HOURS).label("closed_hours"),
            func.max(
                case((kind.in_([EventKind.TOPIC_CHOSEN, EventKind.QUEUE_ENTERED]), CallEvent.topic))
            ).label("topic"),
            epoch_us(_first_at(EventKind.QUEUE_ENTERED)).label("queue_entered_us"),
            epoch_us(_first_at(EventKind.ANSWERED)).label("answered_us"),
            epoch_us(_first_at(EventKind.ABANDONED)).label("abandoned_us"),
            func.max(
                case((kind == EventKind.ABANDONED, CallEvent.data["stage"].as_string()))
            ).label("abandoned_stage"),
            epoch_us(_first_at(EventKind.DROPPED)).label("dropped_us"),
            _coded_on("call").label("coded_id"),
        )
        .where(scope, kind.in_(CALL_FACT_EVENTS))
        .group_by(CallEvent.call_id)
        .having(_first_at(EventKind.CALL_ARRIVED).is_not(None))
        .subquery("per_call")
    )
    c = per_call.c
    clock = aliased(ReportQuarterHour, name="clock")
    coded = aliased(CallEvent, name="coded")
    offered_and_queued = and_(c.closed_hours == 0, c.queue_entered_us.is_not(None))
    return (
        select(
            c.call_id,
            c.arrived_us,
            *_local_time(clock),
            (c.closed_hours == literal(1)).label("closed_hours"),
            c.topic,
            c.queue_entered_us,
            c.answered_us,
            case((offered_and_queued, c.answered_us - c.queue_entered_us)).label("wait_us"),
            c.abandoned_us,
            c.abandoned_stage,
            c.dropped_us,
            *_coding(coded),
        )
        .select_from(per_call)
        .outerjoin(clock, clock.bucket == c.arrived_us // QUARTER_HOUR_US)
        .outerjoin(coded, coded.id == c.coded_id)
    )


def callback_facts(scope: ColumnElement[bool]) -> Select[Any]:
    """One row per callback request in *scope* that has been requested."""
    requested = CallEvent.kind == EventKind.CALLBACK_REQUESTED
    per_request = (
        select(
            CallEvent.callback_id.label("callback_id"),
            func.max(case((requested, CallEvent.call_id))).label("call_id"),
            func.max(case((requested, CallEvent.topic))).label("topic"),
            func.max(case((requested, CallEvent.language))).label("language"),
            _first_at(EventKind.CALLBACK_REQUESTED).label("requested_at"),
            func.max(case((requested, CallEvent.data["due_at"].as_string()))).label("due_at"),
            _first_at(EventKind.CALLBACK_DIALLED).label("first_dialled_at"),
            _first_at(EventKind.CALLBACK_CANCELLED).label("cancelled_at"),
            *(_has(event).label(f"is_{name}") for event, name in FINAL_EVENTS.items()),
            _coded_on("callback").label("coded_id"),
        )
        .where(scope, CallEvent.kind.in_(CALLBACK_FACT_EVENTS))
        .group_by(CallEvent.callback_id)
        .having(_first_at(EventKind.CALLBACK_REQUESTED).is_not(None))
        .subquery("per_request")
    )
    p = per_request.c
    requested_us = epoch_us(p.requested_at)
    first_dialled_us = epoch_us(p.first_dialled_at)
    timed = select(
        p.callback_id,
        p.call_id,
        p.topic,
        p.language,
        requested_us.label("requested_us"),
        iso_epoch_us(p.due_at).label("due_us"),
        first_dialled_us.label("first_dialled_us"),
        epoch_us(p.cancelled_at).label("cancelled_us"),
        case(*((p[f"is_{name}"] == 1, name) for name in FINAL_EVENTS.values())).label("final"),
        p.coded_id,
        _span_ending_after(requested_us).label("request_span"),
        _span_ending_after(first_dialled_us).label("dial_span"),
    ).subquery("timed")
    t = timed.c
    clock = aliased(ReportQuarterHour, name="clock")
    at_request = aliased(ReportOpenSpan, name="at_request")
    at_dial = aliased(ReportOpenSpan, name="at_dial")
    coded = aliased(CallEvent, name="coded")
    return (
        select(
            t.callback_id,
            t.call_id,
            t.topic,
            t.language,
            t.requested_us,
            *_local_time(clock),
            t.due_us,
            t.first_dialled_us,
            t.cancelled_us,
            t.final,
            (t.first_dialled_us - t.requested_us).label("response_us"),
            (
                _worked_until(at_dial, t.first_dialled_us)
                - _worked_until(at_request, t.requested_us)
            ).label("working_response_us"),
            at_request.day_closes_us.label("working_day_closes_us"),
            *_coding(coded),
        )
        .select_from(timed)
        .outerjoin(clock, clock.bucket == t.requested_us // QUARTER_HOUR_US)
        .outerjoin(at_request, at_request.end_us == t.request_span)
        .outerjoin(at_dial, at_dial.end_us == t.dial_span)
        .outerjoin(coded, coded.id == t.coded_id)
    )


def _span_ending_after(instant: ColumnElement[Any]) -> ColumnElement[Any]:
    """The end of the first opening span that ends after *instant*: the span it falls in, or
    the next one when the line is closed then (NULL for a NULL instant). Its day is the
    request's working day: the day it was made if made while open, else the day that
    opens next."""
    span = aliased(ReportOpenSpan)
    return select(func.min(span.end_us)).where(span.end_us > instant).scalar_subquery()


def _worked_until(span: type[ReportOpenSpan], instant: ColumnElement[Any]) -> ColumnElement[Any]:
    """Open time from the spans' origin to *instant*, given the first span ending after it."""
    return span.worked_before_us + case((instant > span.start_us, instant - span.start_us), else_=0)
