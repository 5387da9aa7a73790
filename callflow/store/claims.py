"""Claiming the next callback: the next due request and the advisor to call it, atomically.

Due order is the deadline class (escalated, same day, next working day),
then the time the caller entered the queue: a caller who asked for a
callback keeps the place they had in line. The advisor is the longest-idle
one who is ready (available, or past their wrap-up), enabled, and has the
queue's skill *and* the caller's language; one who holds an assignment is
never ready.

The request is the first in line; when no ready advisor can serve its
topic and language, that pair is set aside for this claim and the line is
walked again. There are only a handful of such pairs, and each walk is a
plain index scan whatever the table statistics say (a filter asking "could
anyone serve this?" of every row let the planner evaluate it for the whole
backlog before sorting: seconds per claim).

On PostgreSQL each walk is one statement: the request ``FOR UPDATE SKIP
LOCKED``, its advisor ``FOR UPDATE SKIP LOCKED``, both rows updated and the
attempt and its log entry inserted in data-modifying CTEs — one round trip,
and concurrent claimers pass over each other's rows instead of queueing on
their locks. SQLite has no row locks, but every transaction there starts
with ``BEGIN IMMEDIATE`` (one writer at a time), so the same steps as
separate statements are just as atomic. Partial unique indexes keep one
advisor to one assignment whatever happens; a claim cut off before its
commit leaves nothing behind, and one cut off after it is returned by the
lease reaper.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FromClause

from callflow.engine.vocabulary import CallbackStatus, EventKind
from callflow.store.models import AdvisorState, Base
from callflow.store.types import UTCDateTime

READY_STATES = (AdvisorState.AVAILABLE, AdvisorState.WRAP_UP)
V = TypeVar("V")

# Core tables: the claim is the hottest statement there is, and the ORM layer would
# add more to each run than the database spends on it.
_requests = Base.metadata.tables["callback_requests"]
_advisors = Base.metadata.tables["advisors"]
_skills = Base.metadata.tables["advisor_skills"]
_languages = Base.metadata.tables["advisor_languages"]
_queues = Base.metadata.tables["queues"]
_attempts = Base.metadata.tables["callback_attempts"]
_events = Base.metadata.tables["call_events"]

_NOW = bindparam("now", type_=UTCDateTime())
_ADVISOR_ID = bindparam("advisor_id", type_=Integer())
_OWNER = bindparam("owner", type_=String())
_LEASE_EXPIRES_AT = bindparam("lease_expires_at", type_=UTCDateTime())
_SET_ASIDE: BindParameter[Any] = bindparam("set_aside", expanding=True)


@dataclass(frozen=True, slots=True)
class ClaimedCallback:
    callback_id: int
    attempt_no: int
    advisor_id: int
    number_e164: str | None
    topic: str
    language: str
    queue_entered_at: datetime
    due_at: datetime
    lease_expires_at: datetime
    dial_string: str | None
    """The advisor's phone, for providers that dial it."""
    possible_since: datetime
    """When this pair first became possible (the advisor ready, the request due): the
    dispatcher's wake-up latency is measured from here."""


def claim_next_callback(
    session: Session,
    advisor_id: int | None,
    now: datetime,
    *,
    owner: str,
    lease: timedelta,
) -> ClaimedCallback | None:
    """Take the next due callback and the longest-idle ready advisor who can serve it
    (only *advisor_id*, when given), leased to *owner* until ``now + lease``.

    The advisor becomes busy and the request in progress, with a new attempt
    and a ``callback.claimed`` entry in the log. None if no pair is possible.
    """
    one_advisor = advisor_id is not None
    one_statement = session.get_bind().dialect.name == "postgresql"
    parameters: dict[str, Any] = {
        "now": now,
        "advisor_id": advisor_id,
        "owner": owner,
        "lease_expires_at": now + lease,
        # Never empty: SQLite cannot compare a row with an empty list.
        "set_aside": [("", "")],
    }
    while True:
        if one_statement:
            row = session.execute(_claim_in_one_statement(one_advisor), parameters).first()
            outcome: Mapping[Any, Any] | None = None if row is None else row._mapping
        else:
            outcome = _claim_step_by_step(session, one_advisor, parameters)
        if outcome is None:
            return None  # nothing due at all
        if outcome["id"] is not None:
            return _claimed(outcome)
        # Nobody ready can serve this topic in this language: look past such requests.
        wanted = (outcome["wanted_topic"], outcome["wanted_language"])
        parameters["set_aside"] = [*parameters["set_aside"], wanted]


def _claimed(taken: Mapping[str, Any]) -> ClaimedCallback:
    due_since = max(
        taken["created_at"], taken["not_before"], taken["next_attempt_at"] or taken["created_at"]
    )
    return ClaimedCallback(
        callback_id=taken["id"],
        attempt_no=taken["attempts"],
        advisor_id=taken["advisor_id"],
        number_e164=taken["number_e164"],
        topic=taken["topic"],
        language=taken["language"],
        queue_entered_at=taken["queue_entered_at"],
        due_at=taken["due_at"],
        lease_expires_at=taken["lease_expires_at"],
        dial_string=taken["dial_string"],
        possible_since=max(due_since, taken["advisor_ready_at"]),
    )


def _claim_step_by_step(
    session: Session, one_advisor: bool, parameters: dict[str, Any]
) -> Mapping[str, Any] | None:
    """SQLite: the same walk and writes as separate statements, serialized by
    ``BEGIN IMMEDIATE`` (SQLite has no data-modifying CTEs)."""
    request = session.execute(_next_request(), parameters).first()
    if request is None:
        return None
    chosen = {"skill": request.skill, "language": request.language}
    advisor = session.execute(_advisor_for(one_advisor), {**parameters, **chosen}).first()
    if advisor is None:
        return {"id": None, "wanted_topic": request.topic, "wanted_language": request.language}
    parameters = {**parameters, "request_id": request.id, "chosen_id": advisor.id}
    writes = _writes_by_parameter()
    taken = session.execute(writes.take_request, parameters).one()._mapping
    dial_string = session.execute(writes.make_busy, parameters).one().dial_string
    session.execute(writes.record_attempt, {**parameters, "attempt_no": taken["attempts"]})
    session.execute(
        insert(_events),
        {
            "at": parameters["now"],
            "kind": EventKind.CALLBACK_CLAIMED,
            "callback_id": taken["id"],
            "topic": taken["topic"],
            "language": taken["language"],
            "data": _claim_data(advisor.id, taken["attempts"], parameters["owner"]),
        },
    )
    return {**taken, "dial_string": dial_string, "advisor_ready_at": advisor.ready_at}


def _claim_data(advisor_id: V, attempt_no: V, owner: V) -> dict[str, V]:
    """The ``callback.claimed`` entry's data: values on SQLite, columns on PostgreSQL."""
    return {"advisor_id": advisor_id, "attempt_no": attempt_no, "owner": owner}


# -- the statements, built once (building one costs more than running it) ---------------------


def _ready(advisor: FromClause, one_advisor: bool) -> ColumnElement[bool]:
    """An advisor who may be given a callback now: enabled and ready. One who holds an
    assignment never is (no ``ready_at``: busy, or waiting to record an outcome)."""
    condition = and_(
        advisor.c.enabled.is_(True),
        advisor.c.state.in_(READY_STATES),
        advisor.c.ready_at <= _NOW,
    )
    return and_(condition, advisor.c.id == _ADVISOR_ID) if one_advisor else condition


@cache
def _next_request() -> Select[Any]:
    """The first due request in line, its topic and language not set aside; locked (and
    passed over if another claimer has it locked) on PostgreSQL."""
    return (
        select(_requests.c.id, _requests.c.topic, _requests.c.language, _queues.c.skill)
        .join(_queues, _queues.c.name == _requests.c.topic)
        .where(
            _requests.c.status == CallbackStatus.PENDING,
            _requests.c.not_before <= _NOW,
            or_(_requests.c.next_attempt_at.is_(None), _requests.c.next_attempt_at <= _NOW),
            tuple_(_requests.c.topic, _requests.c.language).not_in(_SET_ASIDE),
        )
        .order_by(_requests.c.deadline_class, _requests.c.queue_entered_at, _requests.c.id)
        .limit(1)
        .with_for_update(of=_requests, skip_locked=True)
    )


@cache
def _advisor_for(one_advisor: bool, request: FromClause | None = None) -> Select[Any]:
    """The longest-idle ready advisor with the request's skill and language (the
    ``skill`` and ``language`` parameters, or the columns of *request*), locked on
    PostgreSQL unless another claimer has them."""
    if request is None:
        skill: ColumnElement[str] = bindparam("skill", type_=String())
        language: ColumnElement[str] = bindparam("language", type_=String())
        chosen = select(_advisors.c.id, _advisors.c.ready_at)
    else:
        skill, language = request.c.skill, request.c.language
        chosen = select(
            _advisors.c.id, _advisors.c.ready_at, request.c.id.label("request_id")
        ).join_from(request, _advisors, true())  # one request: no product to fear
    # Looked up by primary key as scalar subqueries: as EXISTS, PostgreSQL weighs semi-join
    # plans for them, and planning took ten times longer than running the claim.
    able = and_(
        select(true())
        .where(_skills.c.advisor_id == _advisors.c.id, _skills.c.skill == skill)
        .scalar_subquery()
        .is_(True),
        select(true())
        .where(_languages.c.advisor_id == _advisors.c.id, _languages.c.language == language)
        .scalar_subquery()
        .is_(True),
    )
    return (
        chosen.where(_ready(_advisors, one_advisor), able)
        .order_by(_advisors.c.ready_at, _advisors.c.id)
        .limit(1)
        .with_for_update(of=_advisors, skip_locked=True)
    )


_TAKEN = (
    _requests.c.id,
    _requests.c.attempts,
    _requests.c.advisor_id,
    _requests.c.number_e164,
    _requests.c.topic,
    _requests.c.language,
    _requests.c.queue_entered_at,
    _requests.c.due_at,
    _requests.c.lease_expires_at,
    _requests.c.created_at,
    _requests.c.not_before,
    _requests.c.next_attempt_at,
)


def _take_request(request_id: ColumnElement[int], advisor_id: ColumnElement[int]) -> Any:
    return (
        update(_requests)
        .where(_requests.c.id == request_id, _requests.c.status == CallbackStatus.PENDING)
        .values(
            status=CallbackStatus.IN_PROGRESS,
            advisor_id=advisor_id,
            lease_owner=_OWNER,
            lease_expires_at=_LEASE_EXPIRES_AT,
            attempts=_requests.c.attempts + 1,
            updated_at=_NOW,
        )
        .returning(*_TAKEN)
    )


def _make_busy(advisor_id: ColumnElement[int]) -> Any:
    return (
        update(_advisors)
        .where(_advisors.c.id == advisor_id)
        .values(state=AdvisorState.BUSY, state_since=_NOW, ready_at=None)
        .returning(_advisors.c.id, _advisors.c.dial_string)
    )


def _record_attempt(
    request_id: ColumnElement[int], attempt_no: ColumnElement[int], advisor_id: ColumnElement[int]
) -> Any:
    return insert(_attempts).from_select(
        ["callback_id", "attempt_no", "advisor_id", "claimed_at"],
        select(request_id, attempt_no, advisor_id, _NOW),
    )


@dataclass(frozen=True, slots=True)
class _Writes:
    take_request: Any
    make_busy: Any
    record_attempt: Any


@cache
def _writes_by_parameter() -> _Writes:
    """SQLite's writes, the request and advisor chosen given as parameters."""
    request_id = bindparam("request_id", type_=Integer())
    advisor_id = bindparam("chosen_id", type_=Integer())
    return _Writes(
        _take_request(request_id, advisor_id),
        _make_busy(advisor_id),
        _record_attempt(request_id, bindparam("attempt_no", type_=Integer()), advisor_id),
    )


@cache
def _claim_in_one_statement(one_advisor: bool) -> Select[Any]:
    """PostgreSQL: one walk of the line as one statement (see the module docstring).

    Each step reads the one before, so when one comes up empty the rest do
    nothing. The row says which request was first in line, and what was taken
    for it (all empty when no ready advisor could serve it); no row, nothing due.
    """
    request = _next_request().cte("next_request")
    chosen = _advisor_for(one_advisor, request).cte("chosen_advisor")
    taken = _take_request(chosen.c.request_id, chosen.c.id).cte("taken")
    busy = _make_busy(taken.c.advisor_id).cte("busy")
    attempt = _record_attempt(taken.c.id, taken.c.attempts, taken.c.advisor_id).cte("attempt")
    data = _claim_data(taken.c.advisor_id, taken.c.attempts, _OWNER)
    pairs: Iterator[tuple[Any, Any]] = (
        (literal_column(f"'{key}'"), value) for key, value in data.items()
    )
    logged = (
        insert(_events)
        .from_select(
            ["at", "kind", "callback_id", "topic", "language", "data"],
            select(
                _NOW,
                literal(EventKind.CALLBACK_CLAIMED, _events.c.kind.type),
                taken.c.id,
                taken.c.topic,
                taken.c.language,
                func.jsonb_build_object(*itertools.chain.from_iterable(pairs)),
            ),
        )
        .cte("logged")
    )
    pair = taken.join(busy, busy.c.id == taken.c.advisor_id).join(
        chosen, chosen.c.id == taken.c.advisor_id
    )
    return (
        select(
            request.c.topic.label("wanted_topic"),
            request.c.language.label("wanted_language"),
            *taken.c,
            busy.c.dial_string,
            chosen.c.ready_at.label("advisor_ready_at"),
        )
        .select_from(request)
        .outerjoin(pair, true())
        .add_cte(attempt, logged)
    )
