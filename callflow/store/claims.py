"""Claiming due callbacks: each the next due request and the advisor to call it, atomically.

Due order is the deadline class (escalated, same day, next working day),
then the time the caller entered the queue: a caller who asked for a
callback keeps the place they had in line. The advisor is the longest-idle
one who is ready (available, or past their wrap-up), enabled, and has the
queue's skill *and* the caller's language; one who holds an assignment is
never ready.

Requests are served in that order; when no ready advisor can serve one's
topic and language, that pair is set aside and the walk goes on down the
line, so the request keeps its place without holding up the ones behind.
There are only a handful of such pairs, and each step of the walk is a plain
index scan whatever the table statistics say (a filter asking "could anyone
serve this?" of every row let the planner evaluate it for the whole backlog
before sorting: seconds per claim).

On PostgreSQL a dispatcher's batch of claims is one statement, walking the
line exactly as claims one after another would: a recursive CTE takes the
next due request ``FOR UPDATE SKIP LOCKED`` and the longest-idle ready
advisor able to serve it and not taken yet, ``FOR UPDATE SKIP LOCKED`` too,
step after step, locking only the requests it visits and the advisors it
chooses (plain SQL, no PL/pgSQL); data-modifying CTEs then update the rows
and insert the attempts and their log entries. Concurrent claimers pass
over each other's rows instead of queueing on their locks. The statement's
text never changes: the batch size is a parameter and the statuses are
written into it, so once psycopg prepares it PostgreSQL settles on a generic
plan, which still uses the partial indexes, and stops planning it. Claimed
one by one, planning the large statement cost more than running it; and
with the status as a parameter, its generic plan scanned and sorted the
whole backlog. SQLite has no row locks, but every
transaction there starts with ``BEGIN IMMEDIATE`` (one writer at a time),
so the same walk as separate statements, one claim at a time, is just as
atomic. Partial unique indexes keep one advisor to one assignment whatever
happens; a claim cut off before its commit leaves nothing behind, and one
cut off after it is returned by the lease reaper.
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
    Text,
    all_,
    and_,
    bindparam,
    case,
    cast,
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
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FromClause

from callflow.engine.vocabulary import CallbackStatus, EventKind
from callflow.store.base import Base
from callflow.store.models import AdvisorState
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
_LIMIT = bindparam("limit", type_=Integer())


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
    claimed = _claim(session, advisor_id, now, owner=owner, lease=lease, limit=1)
    return claimed[0] if claimed else None


def claim_callbacks(
    session: Session, now: datetime, *, owner: str, lease: timedelta, limit: int
) -> list[ClaimedCallback]:
    """Up to *limit* claims for any ready advisors, in line order: the same pairs, and
    the same effects, as that many calls of :func:`claim_next_callback` in a row."""
    return _claim(session, None, now, owner=owner, lease=lease, limit=limit)


def _claim(
    session: Session,
    advisor_id: int | None,
    now: datetime,
    *,
    owner: str,
    lease: timedelta,
    limit: int,
) -> list[ClaimedCallback]:
    one_advisor = advisor_id is not None
    parameters: dict[str, Any] = {
        "now": now,
        "advisor_id": advisor_id,
        "owner": owner,
        "lease_expires_at": now + lease,
    }
    if session.get_bind().dialect.name == "postgresql":
        statement = _claim_in_one_statement(one_advisor)
        rows = session.execute(statement, {**parameters, "limit": limit}).mappings()
        return [_claimed(row) for row in rows]
    # Never empty: SQLite cannot compare a row with an empty list.
    parameters["set_aside"] = [("", "")]
    claims: list[ClaimedCallback] = []
    while len(claims) < limit:
        outcome = _claim_step_by_step(session, one_advisor, parameters)
        if outcome is None:
            break  # nothing due at all
        if outcome["id"] is not None:
            claims.append(_claimed(outcome))
        else:
            # Nobody ready can serve this topic in this language: look past such requests.
            wanted = (outcome["wanted_topic"], outcome["wanted_language"])
            parameters["set_aside"] = [*parameters["set_aside"], wanted]
    return claims


def _claimed(taken: Mapping[Any, Any]) -> ClaimedCallback:
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
    """SQLite: one walk of the line and its writes as separate statements, serialized by
    ``BEGIN IMMEDIATE`` (SQLite has no data-modifying CTEs)."""
    request = session.execute(_next_request(), parameters).first()
    if request is None:
        return None
    chosen = {"skill": request.skill, "language": request.language}
    advisor = session.execute(
        _advisor_for_parameters(one_advisor), {**parameters, **chosen}
    ).first()
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


def _written(column: ColumnElement[Any], value: Any) -> ColumnElement[Any]:
    """*value* as part of the statement's text, not a parameter: a prepared statement's
    generic plan then knows it and can use the partial indexes that hold for it
    (``status = 'pending'``)."""
    return literal(value, column.type, literal_execute=True)


def _ready(advisor: FromClause, one_advisor: bool) -> ColumnElement[bool]:
    """An advisor who may be given a callback now: enabled and ready. One who holds an
    assignment never is (no ``ready_at``: busy, or waiting to record an outcome)."""
    condition = and_(
        advisor.c.enabled.is_(True),
        advisor.c.state.in_([_written(advisor.c.state, state) for state in READY_STATES]),
        advisor.c.ready_at <= _NOW,
    )
    return and_(condition, advisor.c.id == _ADVISOR_ID) if one_advisor else condition


@cache
def _next_request() -> Select[Any]:
    """SQLite: the first due request in line, its topic and language not set aside."""
    return (
        select(_requests.c.id, _requests.c.topic, _requests.c.language, _queues.c.skill)
        .join(_queues, _queues.c.name == _requests.c.topic)
        .where(_due(_requests), tuple_(_requests.c.topic, _requests.c.language).not_in(_SET_ASIDE))
        .order_by(*_line_order(_requests))
        .limit(1)
    )


def _line_order(requests: FromClause, id_column: str = "id") -> tuple[ColumnElement[Any], ...]:
    """Due order: deadline class, then place in line (the id breaks ties)."""
    return (requests.c.deadline_class, requests.c.queue_entered_at, requests.c[id_column])


def _due(requests: FromClause) -> ColumnElement[bool]:
    """Pending, and past its not-before and retry times."""
    return and_(
        requests.c.status == _written(requests.c.status, CallbackStatus.PENDING),
        requests.c.not_before <= _NOW,
        or_(requests.c.next_attempt_at.is_(None), requests.c.next_attempt_at <= _NOW),
    )


def _longest_idle_able(
    one_advisor: bool, skill: ColumnElement[str], language: ColumnElement[str]
) -> Select[Any]:
    """The longest-idle ready advisor with *skill* and *language*; locked on PostgreSQL,
    passing over those another claimer has locked."""
    # Looked up by primary key as scalar subqueries: as EXISTS, PostgreSQL weighs semi-join
    # plans for them, and planning took ten times longer than running the claim. Correlated
    # with whatever encloses them: the request may be a level or two further out.
    able = and_(
        select(true())
        .where(_skills.c.advisor_id == _advisors.c.id, _skills.c.skill == skill)
        .correlate_except(_skills)
        .scalar_subquery()
        .is_(True),
        select(true())
        .where(_languages.c.advisor_id == _advisors.c.id, _languages.c.language == language)
        .correlate_except(_languages)
        .scalar_subquery()
        .is_(True),
    )
    return (
        select(_advisors.c.id, _advisors.c.ready_at)
        .where(_ready(_advisors, one_advisor), able)
        .order_by(_advisors.c.ready_at, _advisors.c.id)
        .limit(literal_column("1", Integer()))
        .with_for_update(of=_advisors, skip_locked=True)
    )


@cache
def _advisor_for_parameters(one_advisor: bool) -> Select[Any]:
    """SQLite: the advisor for the ``skill`` and ``language`` parameters."""
    return _longest_idle_able(
        one_advisor, bindparam("skill", type_=String()), bindparam("language", type_=String())
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
        .where(
            _requests.c.id == request_id,
            _requests.c.status == _written(_requests.c.status, CallbackStatus.PENDING),
        )
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
    """PostgreSQL: up to ``limit`` claims in one statement (see the module docstring): a
    row per claim, in line order."""
    walk = _walk(one_advisor)
    pairs = (
        select(walk.c.step, walk.c.request_id, walk.c.advisor_id, walk.c.advisor_ready_at)
        .where(walk.c.advisor_id.is_not(None))
        .cte("pairs")
    )
    taken = _take_request(pairs.c.request_id, pairs.c.advisor_id).cte("taken")
    busy = _make_busy(taken.c.advisor_id).cte("busy")
    attempt = _record_attempt(taken.c.id, taken.c.attempts, taken.c.advisor_id).cte("attempt")
    data = _claim_data(taken.c.advisor_id, taken.c.attempts, _OWNER)
    keyed: Iterator[tuple[Any, Any]] = (
        (literal_column(f"'{key}'"), value) for key, value in data.items()
    )
    logged = (
        insert(_events)
        .from_select(
            ["at", "kind", "callback_id", "topic", "language", "data"],
            select(
                _NOW,
                _written(_events.c.kind, EventKind.CALLBACK_CLAIMED),
                taken.c.id,
                taken.c.topic,
                taken.c.language,
                func.jsonb_build_object(*itertools.chain.from_iterable(keyed)),
            ),
        )
        .cte("logged")
    )
    return (
        select(*taken.c, busy.c.dial_string, pairs.c.advisor_ready_at)
        .select_from(taken)
        .join(busy, busy.c.id == taken.c.advisor_id)
        .join(pairs, pairs.c.request_id == taken.c.id)
        .order_by(pairs.c.step)
        .add_cte(attempt, logged)
    )


_NOTHING_SET_ASIDE: ColumnElement[Any] = literal_column("ARRAY[]::record[]")
_NOTHING_TAKEN = postgresql.array([], type_=Integer())


def _walk(one_advisor: bool) -> FromClause:
    """The line walked as :func:`claim_next_callback` would walk it ``limit`` times over:
    a recursive CTE, a row per request visited, each the next one in line after the one
    before (its pair not set aside) with the longest-idle able advisor not yet taken,
    both locked as they are chosen; a request nobody can serve sets its pair aside for
    the rest of the walk. It ends after ``limit`` claims, or at the end of the line."""
    walk = _step(one_advisor, None).cte("walk", recursive=True)
    before = walk.alias("before")
    return walk.union_all(
        _step(one_advisor, before).where(
            before.c.claims < _LIMIT, _anyone_left(one_advisor, before)
        )
    )


def _anyone_left(one_advisor: bool, before: FromClause) -> ColumnElement[bool]:
    """Whether a ready advisor not taken yet could serve a pair not set aside: when none
    can, the walk stops rather than read the rest of the line for nothing (with every
    advisor busy, every claim would read the whole backlog)."""
    # Scalar subqueries that stop at the first hit: as EXISTS, PostgreSQL joined every
    # ready advisor's skills and languages by hash at each step (20 ms with 30,000 ready).
    could_serve = (
        select(true())
        .select_from(_skills)
        .join(_queues, _queues.c.skill == _skills.c.skill)
        .join(_languages, _languages.c.advisor_id == _skills.c.advisor_id)
        .where(
            _skills.c.advisor_id == _advisors.c.id,
            tuple_(cast(_queues.c.name, Text()), cast(_languages.c.language, Text()))
            != all_(before.c.set_aside),
        )
        .limit(literal_column("1", Integer()))
        .correlate_except(_skills, _queues, _languages)
        .scalar_subquery()
    )
    return (
        select(true())
        .where(
            _ready(_advisors, one_advisor),
            _advisors.c.id != all_(before.c.taken),
            could_serve.is_(True),
        )
        .limit(literal_column("1", Integer()))
        .correlate_except(_advisors)
        .scalar_subquery()
        .is_(True)
    )


def _step(one_advisor: bool, before: FromClause | None) -> Select[Any]:
    """One request of the walk and its advisor; the first if there is no row *before*."""
    in_line = select(
        _requests.c.id,
        _requests.c.topic,
        _requests.c.language,
        _requests.c.deadline_class,
        _requests.c.queue_entered_at,
        _queues.c.skill,
    ).join(_queues, _queues.c.name == _requests.c.topic)
    due = _due(_requests)
    if before is None:
        step: ColumnElement[int] = literal_column("1", Integer())
        set_aside: ColumnElement[Any] = _NOTHING_SET_ASIDE
        taken: ColumnElement[Any] = _NOTHING_TAKEN
        claims: ColumnElement[int] = literal_column("0", Integer())
    else:
        step, set_aside, taken, claims = (
            before.c.step + 1,
            before.c.set_aside,
            before.c.taken,
            before.c.claims,
        )
        due = and_(
            due,
            tuple_(*_line_order(_requests)) > tuple_(*_line_order(before, "request_id")),
            _pair(_requests) != all_(set_aside),
        )
    request_query = (
        in_line.where(due)
        .order_by(*_line_order(_requests))
        .limit(literal_column("1", Integer()))
        .with_for_update(of=_requests, skip_locked=True)
    )
    request = (
        request_query.lateral("request")
        if before is not None
        else request_query.subquery("request")
    )
    pick = (
        _longest_idle_able(one_advisor, request.c.skill, request.c.language)
        .where(_advisors.c.id != all_(taken))
        .lateral("pick")
    )
    served = pick.c.id.is_not(None)
    walked = select(
        step.label("step"),
        request.c.id.label("request_id"),
        request.c.deadline_class,
        request.c.queue_entered_at,
        pick.c.id.label("advisor_id"),
        pick.c.ready_at.label("advisor_ready_at"),
        case((served, set_aside), else_=func.array_append(set_aside, _pair(request))).label(
            "set_aside"
        ),
        case((served, func.array_append(taken, pick.c.id)), else_=taken).label("taken"),
        (claims + case((served, 1), else_=0)).label("claims"),
    )
    if before is None:
        return walked.select_from(request).outerjoin(pick, true())
    return walked.select_from(before).join(request, true()).outerjoin(pick, true())


def _pair(requests: FromClause) -> ColumnElement[Any]:
    """A request's topic and language as one value, as pairs are set aside."""
    return tuple_(cast(requests.c.topic, Text()), cast(requests.c.language, Text()))
