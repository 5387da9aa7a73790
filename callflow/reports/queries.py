"""The report's SQL over the roll-up, the same statements for both databases.

Every statement returns whole numbers (counts and microsecond sums) or one
stored value, so the caller can divide exactly. Breakdowns add up the cells
of the period (queue × local hour) per section; percentiles walk one index in
order and stop at the rank asked for. The channels read the facts themselves
(a request's channel from its row in ``callback_requests``, which the log's
facts do not keep): a period's facts, not its events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute

from callflow.engine.vocabulary import Channel
from callflow.reports.cells import queue_of
from callflow.reports.sqlfunc import not_for_lookup
from callflow.store.models import CallbackRequest
from callflow.store.report_models import (
    ReportCallbackCell,
    ReportCallbackFact,
    ReportCallCell,
    ReportCallFact,
    ReportCodedCell,
)

SECTION_KEYS = ("section", "topic", "weekday", "hour")
CELL_KEYS = ("topic", "local_date", "local_hour", "local_weekday")


@dataclass(frozen=True)
class Scope:
    """What a report covers: local dates, maybe one queue, and the moment it is made."""

    first: date
    last: date
    queue: str | None
    now_us: int


def _within(scope: Scope, table: Any, *, ranked: bool = False) -> list[ColumnElement[bool]]:
    """The scope as conditions. *ranked*: for a walk in value order to one rank, where
    SQLite would rather find the period by date and sort all of it (ten times slower on
    a long log; PostgreSQL chooses well on its own)."""
    day = not_for_lookup(table.local_date) if ranked else table.local_date
    conditions = [day >= scope.first, day <= scope.last]
    if scope.queue is not None:
        conditions.append(table.topic == scope.queue)
    return conditions


def _measures(table: Any) -> list[str]:
    return [c.name for c in table.__table__.columns if c.name not in CELL_KEYS]


def call_sections(scope: Scope) -> CompoundSelect[Any]:
    cells = ReportCallCell
    return _sections(
        select(*(getattr(cells, name) for name in (*CELL_KEYS, *_measures(cells)))).where(
            *_within(scope, cells)
        ),
        _measures(cells),
    )


def callback_sections(scope: Scope) -> CompoundSelect[Any]:
    """The cells, plus what only the moment of the report decides: a request not dialled and
    not withdrawn counts in a share once its deadline has passed."""
    cells, fact = ReportCallbackCell, ReportCallbackFact
    measures = _measures(cells)
    waiting = {
        "same_day_decided": func.sum(
            case((fact.working_day_closes_us <= scope.now_us, 1), else_=0)
        ),
        "promise_decided": func.sum(case((fact.due_us <= scope.now_us, 1), else_=0)),
    }
    queue = queue_of(fact)
    undialled = (
        select(
            queue.label("topic"),
            fact.local_date,
            fact.local_hour,
            func.max(fact.local_weekday).label("local_weekday"),
            *(waiting.get(name, literal_column("0")).label(name) for name in measures),
        )
        .where(fact.first_dialled_us.is_(None), fact.cancelled_us.is_(None))
        .where(*_within(scope, fact))
        .group_by(queue, fact.local_date, fact.local_hour)
    )
    recorded = select(*(getattr(cells, name) for name in (*CELL_KEYS, *measures))).where(
        *_within(scope, cells)
    )
    return _sections(union_all(recorded, undialled), measures)


def _sections(grain: Select[Any] | CompoundSelect[Any], measures: list[str]) -> CompoundSelect[Any]:
    """The grain's sums for the whole scope, per queue, per local weekday and per local hour."""
    rows = grain.cte("grain")
    sums = [func.sum(rows.c[name]).label(name) for name in measures]
    no_text = cast(null(), String)
    no_number = cast(null(), Integer)
    r = rows.c
    return union_all(
        select(
            literal_column("'total'").label("section"),
            no_text.label("topic"),
            no_number.label("weekday"),
            no_number.label("hour"),
            *sums,
        ),
        select(literal_column("'queue'"), r.topic, no_number, no_number, *sums).group_by(r.topic),
        select(literal_column("'weekday'"), no_text, r.local_weekday, no_number, *sums).group_by(
            r.local_weekday
        ),
        select(literal_column("'hour'"), no_text, no_number, r.local_hour, *sums).group_by(
            r.local_hour
        ),
    )


def nth_wait(scope: Scope, rank: int) -> Select[Any]:
    """The *rank*-th shortest wait (1 = shortest) of the answered calls in scope."""
    fact = ReportCallFact
    return (
        select(fact.wait_us)
        .where(fact.wait_us.is_not(None), *_within(scope, fact, ranked=True))
        .order_by(fact.wait_us)
        .limit(1)
        .offset(rank - 1)
    )


def nth_response(scope: Scope, rank: int) -> Select[Any]:
    """The *rank*-th shortest first-dial response of the requests in scope."""
    fact = ReportCallbackFact
    return (
        select(fact.response_us)
        .where(fact.response_us.is_not(None), *_within(scope, fact, ranked=True))
        .order_by(fact.response_us)
        .limit(1)
        .offset(rank - 1)
    )


def coded_contacts(scope: Scope) -> Select[str, str, int]:
    """Coded contacts of the period (its calls and its requests): (field, value, contacts)."""
    cells = ReportCodedCell
    return (
        select(cells.field, cells.value, func.sum(cells.contacts).label("contacts"))
        .where(*_within(scope, cells))
        .group_by(cells.field, cells.value)
    )


def channel_sums(scope: Scope) -> CompoundSelect[Any]:
    """Per channel (``phone``, ``callback``, ``web``): contacts that came, those an advisor
    took up, and their reaction times summed in microseconds.

    phone: calls offered while open, answered, arrival to answer. callback and web: requests
    made (on the phone, on the web page), dialled, request to first dial (the first
    ``callback.dialled``, logged as the attempt's ``dialled_at`` is set)."""
    call = ReportCallFact
    answered = _answered()
    phone = select(
        literal_column(f"'{Channel.PHONE}'", String).label("channel"),
        func.sum(case((call.closed_hours == false(), 1), else_=0)).label("contacts"),
        func.sum(case((answered, 1), else_=0)).label("taken_up"),
        func.sum(case((answered, _phone_reaction()))).label("reaction_us"),
    ).where(*_within(scope, call))
    request = ReportCallbackFact
    channel = _request_channel()
    made = (
        select(
            channel.label("channel"),
            func.count().label("contacts"),
            func.sum(case((request.response_us.is_not(None), 1), else_=0)).label("taken_up"),
            func.sum(request.response_us).label("reaction_us"),
        )
        .join(CallbackRequest, CallbackRequest.id == request.callback_id)
        .where(*_within(scope, request))
        .group_by(channel)
    )
    return union_all(phone, made)


def _answered() -> ColumnElement[bool]:
    call = ReportCallFact
    return and_(call.closed_hours == false(), call.answered_us.is_not(None))


def _phone_reaction() -> ColumnElement[Any]:
    return ReportCallFact.answered_us - ReportCallFact.arrived_us


def _request_channel() -> ColumnElement[Any]:
    """``web`` for a request made on the web page, else ``callback``. Written into the SQL,
    not bound: PostgreSQL must see the same expression in GROUP BY."""
    web: ColumnElement[Any] = literal_column(f"'{Channel.WEB}'")
    return case(
        (CallbackRequest.channel == web, web), else_=literal_column(f"'{Channel.CALLBACK}'")
    )


def nth_reaction(channel: Channel, scope: Scope, rank: int) -> Select[Any]:
    """The *rank*-th shortest reaction time (1 = shortest) of the contacts on *channel*
    an advisor took up."""
    reaction: ColumnElement[Any] | InstrumentedAttribute[Any]
    if channel is Channel.PHONE:
        reaction = _phone_reaction()
        taken = select(reaction).where(_answered(), *_within(scope, ReportCallFact))
    else:
        request = ReportCallbackFact
        reaction = request.response_us
        taken = (
            select(reaction)
            .join(CallbackRequest, CallbackRequest.id == request.callback_id)
            .where(
                reaction.is_not(None),
                _request_channel() == literal_column(f"'{channel}'"),
                *_within(scope, request, ranked=True),
            )
        )
    return taken.order_by(reaction).limit(1).offset(rank - 1)
