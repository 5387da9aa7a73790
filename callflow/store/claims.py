"""Claiming the next callback for an advisor: one atomic statement with a lease.

The choice and the marking happen in a single ``UPDATE … WHERE id = (SELECT
… LIMIT 1) … RETURNING``. On PostgreSQL the inner select takes the row with
``FOR UPDATE SKIP LOCKED``, so concurrent claimers pass over each other's
rows instead of queueing behind them; SQLite has no row locks (and silently
ignores ``FOR UPDATE``), but it runs one writer at a time, so the same
statement is atomic there too. The outer ``WHERE`` re-checks the row is still
pending and the advisor holds no other assignment; a partial unique index
makes the latter a database fact even across races.

Order: deadline class first (escalated, same day, next working day), then the
time the caller entered the queue: a caller who asked for a callback keeps
the place they had in line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, Update, bindparam, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from callflow.engine.vocabulary import CallbackStatus, EventKind
from callflow.store.models import (
    Advisor,
    AdvisorLanguage,
    AdvisorSkill,
    CallbackAttempt,
    CallbackRequest,
    CallEvent,
    Queue,
)
from callflow.store.types import UTCDateTime


@dataclass(frozen=True, slots=True)
class ClaimedCallback:
    callback_id: int
    attempt_no: int
    number_e164: str | None
    topic: str
    language: str
    queue_entered_at: datetime
    due_at: datetime
    lease_expires_at: datetime


def claim_next_callback(
    session: Session,
    advisor_id: int,
    now: datetime,
    *,
    owner: str,
    lease: timedelta,
) -> ClaimedCallback | None:
    """Give *advisor_id* the next due callback they can serve, leased to *owner* until
    ``now + lease``; None if there is none (or the advisor already holds one)."""
    dialect = session.get_bind().dialect.name
    statement = _claim_statement(dialect)
    lease_expires_at = now + lease
    parameters = {
        "advisor_id": advisor_id,
        "now": now,
        "owner": owner,
        "lease_expires_at": lease_expires_at,
    }
    if dialect == "postgresql":
        # Two claims for one advisor can race past the NOT EXISTS check; the partial
        # unique index stops the second, and the savepoint keeps the transaction usable.
        try:
            with session.begin_nested():
                row = session.execute(statement, parameters).one_or_none()
        except IntegrityError:
            return None
    else:
        row = session.execute(statement, parameters).one_or_none()  # one writer at a time
    if row is None:
        return None
    claimed = ClaimedCallback(
        callback_id=row.id,
        attempt_no=row.attempts,
        number_e164=row.number_e164,
        topic=row.topic,
        language=row.language,
        queue_entered_at=row.queue_entered_at,
        due_at=row.due_at,
        lease_expires_at=lease_expires_at,
    )
    session.execute(
        insert(CallbackAttempt),
        {
            "callback_id": claimed.callback_id,
            "attempt_no": claimed.attempt_no,
            "advisor_id": advisor_id,
            "claimed_at": now,
        },
    )
    session.execute(
        insert(CallEvent),
        {
            "at": now,
            "kind": EventKind.CALLBACK_CLAIMED,
            "callback_id": claimed.callback_id,
            "topic": claimed.topic,
            "language": claimed.language,
            "data": {"advisor_id": advisor_id, "attempt_no": claimed.attempt_no, "owner": owner},
        },
    )
    return claimed


_STATEMENTS: dict[str, Update] = {}


def _claim_statement(dialect: str) -> Update:
    """The claim, built once per dialect (building it costs more than running it)."""
    statement = _STATEMENTS.get(dialect)
    if statement is not None:
        return statement
    cb = CallbackRequest
    held = aliased(CallbackRequest, name="held")
    advisor_id = bindparam("advisor_id", type_=Integer())
    now = bindparam("now", type_=UTCDateTime())
    candidate = (
        select(cb.id)
        .join(Queue, Queue.name == cb.topic)
        .where(
            cb.status == CallbackStatus.PENDING,
            cb.not_before <= now,
            or_(cb.next_attempt_at.is_(None), cb.next_attempt_at <= now),
            exists().where(
                AdvisorSkill.advisor_id == advisor_id, AdvisorSkill.skill == Queue.skill
            ),
            exists().where(
                AdvisorLanguage.advisor_id == advisor_id, AdvisorLanguage.language == cb.language
            ),
        )
        .order_by(cb.deadline_class, cb.queue_entered_at, cb.id)
        .limit(1)
    )
    if dialect == "postgresql":
        candidate = candidate.with_for_update(of=cb, skip_locked=True)
    statement = (
        update(cb)
        .where(
            cb.id == candidate.scalar_subquery(),
            cb.status == CallbackStatus.PENDING,
            ~exists().where(
                held.advisor_id == advisor_id, held.status == CallbackStatus.IN_PROGRESS
            ),
            exists().where(Advisor.id == advisor_id, Advisor.enabled.is_(True)),
        )
        .values(
            status=CallbackStatus.IN_PROGRESS,
            advisor_id=advisor_id,
            lease_owner=bindparam("owner", type_=String()),
            lease_expires_at=bindparam("lease_expires_at", type_=UTCDateTime()),
            attempts=cb.attempts + 1,
            updated_at=now,
        )
        .returning(
            cb.id,
            cb.attempts,
            cb.number_e164,
            cb.topic,
            cb.language,
            cb.queue_entered_at,
            cb.due_at,
            cb.lease_expires_at,
        )
        .execution_options(synchronize_session=False)
    )
    _STATEMENTS[dialect] = statement
    return statement
