"""Claiming the next callback: the next due request and the advisor to call it, atomically.

The pair is chosen in one ``SELECT`` and taken in the same transaction.
Due order is the deadline class (escalated, same day, next working day),
then the time the caller entered the queue: a caller who asked for a
callback keeps the place they had in line. The advisor is the longest-idle
one who is ready (available, or past their wrap-up), enabled, holds no other
assignment, and has the queue's skill *and* the caller's language.

On PostgreSQL both rows are chosen ``FOR UPDATE SKIP LOCKED``, so concurrent
claimers pass over each other's callbacks and advisors instead of queueing
behind them. SQLite has no row locks, but every transaction there starts
with ``BEGIN IMMEDIATE`` (one writer at a time), so the same steps are
atomic. Whatever the interleaving, partial unique indexes keep one advisor to
one assignment; a claim cut off before its commit leaves nothing behind, and
one cut off after it is returned by the lease reaper.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from callflow.engine.vocabulary import CallbackStatus, EventKind
from callflow.store.models import (
    Advisor,
    AdvisorLanguage,
    AdvisorSkill,
    AdvisorState,
    CallbackAttempt,
    CallbackRequest,
    CallEvent,
    Queue,
)
from callflow.store.types import UTCDateTime

READY_STATES = (AdvisorState.AVAILABLE, AdvisorState.WRAP_UP)


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
    dialect = session.get_bind().dialect.name
    parameters = {"now": now, "advisor_id": advisor_id}
    picked = session.execute(_pair_statement(dialect, advisor_id is not None), parameters).first()
    if picked is None:
        return None
    callback_id, chosen, advisor_ready_at = int(picked[0]), int(picked[1]), picked[2]
    lease_expires_at = now + lease
    try:
        # Another claim can race past the checks on PostgreSQL only through a row it did
        # not lock; the partial unique index stops it, and the savepoint keeps us usable.
        with session.begin_nested():
            row = session.execute(
                update(CallbackRequest)
                .where(
                    CallbackRequest.id == callback_id,
                    CallbackRequest.status == CallbackStatus.PENDING,
                )
                .values(
                    status=CallbackStatus.IN_PROGRESS,
                    advisor_id=chosen,
                    lease_owner=owner,
                    lease_expires_at=lease_expires_at,
                    attempts=CallbackRequest.attempts + 1,
                    updated_at=now,
                )
                .returning(
                    CallbackRequest.attempts,
                    CallbackRequest.number_e164,
                    CallbackRequest.topic,
                    CallbackRequest.language,
                    CallbackRequest.queue_entered_at,
                    CallbackRequest.due_at,
                    CallbackRequest.created_at,
                    CallbackRequest.not_before,
                    CallbackRequest.next_attempt_at,
                )
                .execution_options(synchronize_session=False)
            ).one_or_none()
    except IntegrityError:
        return None
    if row is None:
        return None
    dial_string = session.execute(
        update(Advisor)
        .where(Advisor.id == chosen)
        .values(state=AdvisorState.BUSY, state_since=now, ready_at=None)
        .returning(Advisor.dial_string)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    due_since = max(row.created_at, row.not_before, row.next_attempt_at or row.created_at)
    claimed = ClaimedCallback(
        callback_id=callback_id,
        attempt_no=row.attempts,
        advisor_id=chosen,
        number_e164=row.number_e164,
        topic=row.topic,
        language=row.language,
        queue_entered_at=row.queue_entered_at,
        due_at=row.due_at,
        lease_expires_at=lease_expires_at,
        dial_string=dial_string,
        possible_since=max(due_since, advisor_ready_at),
    )
    session.execute(
        insert(CallbackAttempt),
        {
            "callback_id": callback_id,
            "attempt_no": claimed.attempt_no,
            "advisor_id": chosen,
            "claimed_at": now,
        },
    )
    session.execute(
        insert(CallEvent),
        {
            "at": now,
            "kind": EventKind.CALLBACK_CLAIMED,
            "callback_id": callback_id,
            "topic": claimed.topic,
            "language": claimed.language,
            "data": {"advisor_id": chosen, "attempt_no": claimed.attempt_no, "owner": owner},
        },
    )
    return claimed


def ready_advisor_condition(
    advisor: type[Advisor], now: ColumnElement[datetime]
) -> ColumnElement[bool]:
    """An advisor who may be given a callback at *now*: enabled, ready, holding none."""
    held = aliased(CallbackRequest, name="held")
    return and_(
        advisor.enabled.is_(True),
        advisor.state.in_(READY_STATES),
        advisor.ready_at <= now,
        ~exists().where(held.advisor_id == advisor.id, held.status == CallbackStatus.IN_PROGRESS),
    )


_STATEMENTS: dict[tuple[str, bool], Select[Any]] = {}


def _pair_statement(dialect: str, one_advisor: bool) -> Select[Any]:
    """The pair's choice, built once per dialect (building it costs more than running it)."""
    key = (dialect, one_advisor)
    statement = _STATEMENTS.get(key)
    if statement is not None:
        return statement
    cb = CallbackRequest
    now = bindparam("now", type_=UTCDateTime())
    advisor_id = bindparam("advisor_id", type_=Integer())
    # Two aliases of one table: the guard below must not correlate with the choice.
    anyone = aliased(Advisor, name="anyone")
    candidate = aliased(Advisor, name="candidate")

    def ready(advisor: type[Advisor]) -> ColumnElement[bool]:
        condition = ready_advisor_condition(advisor, now)
        return and_(condition, advisor.id == advisor_id) if one_advisor else condition

    # The skill and language checks look through the advisor's choice to the callback row.
    able = and_(
        ready(candidate),
        exists()
        .where(AdvisorSkill.advisor_id == candidate.id, AdvisorSkill.skill == Queue.skill)
        .correlate_except(AdvisorSkill),
        exists()
        .where(AdvisorLanguage.advisor_id == candidate.id, AdvisorLanguage.language == cb.language)
        .correlate_except(AdvisorLanguage),
    )
    pick = (
        select(candidate.id, candidate.ready_at)
        .where(able)
        .correlate(cb, Queue)
        .order_by(candidate.ready_at, candidate.id)
        .limit(1)
    )
    due = and_(
        cb.status == CallbackStatus.PENDING,
        cb.not_before <= now,
        or_(cb.next_attempt_at.is_(None), cb.next_attempt_at <= now),
        # Evaluated once: with nobody ready, the walk over the backlog is skipped.
        exists().where(ready(anyone)),
    )
    order = (cb.deadline_class, cb.queue_entered_at, cb.id)
    if dialect == "postgresql":
        chosen = pick.with_for_update(skip_locked=True).lateral("chosen")
        statement = (
            select(cb.id, chosen.c.id, chosen.c.ready_at)
            .join(Queue, Queue.name == cb.topic)
            .join(chosen, true())
            .where(due)
            .order_by(*order)
            .limit(1)
            .with_for_update(of=cb, skip_locked=True)
        )
    else:
        advisor = pick.with_only_columns(candidate.id).scalar_subquery()
        ready_at = pick.with_only_columns(candidate.ready_at).scalar_subquery()
        statement = (
            select(cb.id, advisor, ready_at)
            .join(Queue, Queue.name == cb.topic)
            .where(due, advisor.is_not(None))
            .order_by(*order)
            .limit(1)
        )
    _STATEMENTS[key] = statement
    return statement
