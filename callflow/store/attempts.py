"""A claimed callback's attempt, as the worker that holds it sees it: dialled,
ended, then retried in the dialling window or closed.

Each step is guarded by the lease: a worker that no longer owns the
callback (its lease was taken back and handed on) gets :class:`LeaseLost`
and touches nothing, so a slow worker can never overwrite a newer attempt.
Every transition is logged in the event log, which is what reports read.
What the advisor says the conversation came to, and its coding, is
:mod:`callflow.store.outcomes`; claiming the next callback is
:mod:`callflow.store.claims`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import BindParameter, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.vocabulary import AttemptResult, CallbackStatus, EventKind
from callflow.errors import LeaseLost
from callflow.store.advisors import begin_wrap_up
from callflow.store.base import Base
from callflow.store.models import CallbackAttempt
from callflow.store.wakeups import announce_dispatch_work

_requests = Base.metadata.tables["callback_requests"]
_attempts = Base.metadata.tables["callback_attempts"]
_events = Base.metadata.tables["call_events"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and when a resident who was not reached is tried again."""

    attempts: int
    spacing: timedelta
    window: tuple[int, int]
    """Daily dialling window, minutes after local midnight; also inside opening hours."""


def retry_policy(config: HotlineConfig) -> RetryPolicy:
    """The configured ``[callbacks.retry]`` policy."""
    retry = config.callbacks.retry
    window = retry.allowed_hours
    return RetryPolicy(retry.attempts, retry.spacing, (window.start_minute, window.end_minute))


@dataclass(frozen=True, slots=True)
class AttemptClosed:
    """Where the request stands after an attempt: its status, and when to try next."""

    status: CallbackStatus
    next_attempt_at: datetime | None


def renew_lease(
    session: Session, callback_id: int, now: datetime, *, owner: str, lease: timedelta
) -> None:
    """Keep holding a callback whose call goes on: the lease runs *lease* from *now*."""
    _held_lease(session, callback_id, owner)
    session.execute(
        _RENEW_LEASE,
        {"request_id": callback_id, "lease_expires_at": now + lease, "now": now},
    )


def mark_dialled(
    session: Session, callback_id: int, attempt_no: int, now: datetime, *, owner: str
) -> None:
    """The resident is being dialled now: the callback has been *made*."""
    request = held_attempt(session, callback_id, attempt_no, owner=owner)
    dialled = session.execute(
        _MARK_DIALLED, {"request_id": callback_id, "attempt": attempt_no, "now": now}
    ).first()
    if dialled is None:
        raise LeaseLost(callback_id, f"attempt {attempt_no} has already dialled the resident")
    log_callback_event(
        session,
        request,
        EventKind.CALLBACK_DIALLED,
        now,
        attempt_no=attempt_no,
        advisor_id=dialled.advisor_id,
    )


def finish_attempt(
    session: Session,
    callback_id: int,
    attempt_no: int,
    result: AttemptResult,
    now: datetime,
    *,
    owner: str,
    policy: RetryPolicy,
    calendar: Calendar,
    duration_s: float = 0.0,
    wrap_up: timedelta = timedelta(0),
) -> AttemptClosed:
    """Record how the attempt ended and move the request on.

    Reached closes it as completed (a machine never does); a wrong number
    closes it as such; any other result schedules the next attempt after the
    policy's spacing, inside the dialling window, or fails the request after
    the last one. An interrupted attempt (the worker stopped before it was
    over) returns the request to the queue at once and does not count. The
    advisor is ready for the next callback after *wrap_up*.
    """
    request = held_attempt(session, callback_id, attempt_no, owner=owner)
    return end_attempt(session, request, result, now, policy, calendar, duration_s, wrap_up)


class RequestState(Protocol):
    """What ending an attempt needs to know of its request (a row read ``FOR UPDATE``)."""

    id: int
    topic: str
    language: str
    attempts: int
    not_before: datetime


def end_attempt(
    session: Session,
    request: RequestState,
    result: AttemptResult,
    now: datetime,
    policy: RetryPolicy,
    calendar: Calendar,
    duration_s: float,
    wrap_up: timedelta,
) -> AttemptClosed:
    """:func:`finish_attempt` without the lease check, for those who outrank the lease
    holder: the assigned advisor, and the reaper once the lease has run out. The
    attempt is the request's current one; if it has ended already, :class:`LeaseLost`."""
    attempt_no = request.attempts
    ids = {"request_id": request.id, "attempt": attempt_no}
    duration_s = round(duration_s, 3)
    ended = session.execute(
        _END_ATTEMPT, {**ids, "now": now, "new_result": result, "new_duration_s": duration_s}
    ).first()
    if ended is None:
        raise LeaseLost(request.id, f"attempt {attempt_no} has already ended")
    next_attempt_at: datetime | None = None
    if result is AttemptResult.REACHED:
        status, closed_reason = CallbackStatus.COMPLETED, "reached"
    elif result is AttemptResult.WRONG_NUMBER:
        status, closed_reason = CallbackStatus.WRONG_NUMBER, "wrong number"
    elif result is AttemptResult.INTERRUPTED:
        status, closed_reason, next_attempt_at = CallbackStatus.PENDING, None, now
    elif session.execute(_COUNTED_ATTEMPTS, ids).scalar_one() >= policy.attempts:
        status = CallbackStatus.FAILED
        closed_reason = f"not reached in {policy.attempts} attempts"
    else:
        status, closed_reason = CallbackStatus.PENDING, None
        next_attempt_at = calendar.first_instant_within(
            max(now + policy.spacing, request.not_before), policy.window
        )
    session.execute(
        _MOVE_ON,
        {
            **ids,
            "new_status": status,
            "new_next_attempt_at": next_attempt_at,
            "new_closed_at": None if closed_reason is None else now,
            "new_closed_reason": closed_reason,
            "now": now,
        },
    )
    if ended.advisor_id is not None:
        begin_wrap_up(session, ended.advisor_id, now, wrap_up)
    if next_attempt_at is not None and next_attempt_at <= now:
        announce_dispatch_work(session)
    log_callback_event(
        session,
        request,
        EventKind.CALLBACK_ATTEMPT_ENDED,
        now,
        attempt_no=attempt_no,
        result=result.value,
        duration_s=duration_s,
        next_attempt_at=next_attempt_at.isoformat() if next_attempt_at else None,
    )
    final = {
        CallbackStatus.COMPLETED: (EventKind.CALLBACK_COMPLETED, {"attempt_no": attempt_no}),
        CallbackStatus.WRONG_NUMBER: (EventKind.CALLBACK_WRONG_NUMBER, {"attempt_no": attempt_no}),
        CallbackStatus.FAILED: (EventKind.CALLBACK_FAILED, {"attempts": attempt_no}),
    }.get(status)
    if final is not None:
        log_callback_event(session, request, final[0], now, **final[1])
    return AttemptClosed(status, next_attempt_at)


def held_attempt(session: Session, callback_id: int, attempt_no: int, *, owner: str) -> Any:
    """The request, read ``FOR UPDATE``, if *owner* still holds its lease and
    *attempt_no* is its current attempt; else :class:`LeaseLost`."""
    request = _held_lease(session, callback_id, owner)
    _check_attempt_no(callback_id, request.attempts, attempt_no)
    return request


def lock_request(session: Session, callback_id: int) -> Any:
    """The request, read ``FOR UPDATE`` whoever holds its lease, or None if there is
    none: for those who outrank the lease holder (see :func:`end_attempt`)."""
    return session.execute(_LOCK_REQUEST, {"request_id": callback_id}).first()


def _held_lease(session: Session, callback_id: int, owner: str) -> Any:
    """The request, read ``FOR UPDATE``, if *owner* still holds its lease; else
    :class:`LeaseLost`.

    The row lock makes a worker, the advisor and the reaper take turns: without
    it, each could read the attempt as still open and each end it, the later
    write overwriting the earlier (or a newer attempt's lease). The row is read
    with Core, not loaded into the session: each step is a few statements, and
    the ORM's bookkeeping cost more than they did."""
    request = lock_request(session, callback_id)
    _check_lease(callback_id, request, owner)
    assert request is not None
    return request


def _check_lease(callback_id: int, request: _LeaseState | None, owner: str) -> None:
    if request is None:
        raise LeaseLost(callback_id, "no such callback request")
    if request.status is not CallbackStatus.IN_PROGRESS or request.lease_owner != owner:
        raise LeaseLost(
            callback_id, f"it is {request.status.value}, leased to {request.lease_owner}"
        )


def attempt_row(session: Session, callback_id: int, attempt_no: int) -> CallbackAttempt:
    """The attempt as an ORM row, for pages that show it; :class:`LeaseLost` if it
    was never claimed."""
    attempt = session.scalars(
        select(CallbackAttempt).where(
            CallbackAttempt.callback_id == callback_id, CallbackAttempt.attempt_no == attempt_no
        )
    ).one_or_none()
    if attempt is None:
        raise LeaseLost(callback_id, f"attempt {attempt_no} was never claimed")
    return attempt


def _check_attempt_no(callback_id: int, current: int, attempt_no: int) -> None:
    if attempt_no > current:
        raise LeaseLost(callback_id, f"attempt {attempt_no} was never claimed")
    if attempt_no < current:
        raise LeaseLost(callback_id, f"attempt {attempt_no} is over; {current} is current")


class _LeaseState(Protocol):
    status: CallbackStatus
    lease_owner: str | None


class LoggedRequest(Protocol):
    """What the event log records of the request an event is about."""

    id: int
    topic: str
    language: str


def log_callback_event(
    session: Session, request: LoggedRequest, kind: EventKind, now: datetime, **data: object
) -> None:
    """One event in the log reports read, tagged with the request's topic and language."""
    session.execute(
        insert(_events),
        {
            "at": now,
            "kind": kind,
            "callback_id": request.id,
            "topic": request.topic,
            "language": request.language,
            "data": data,
        },
    )


# The lean steps' statements, on Core tables (see _held_lease).
_REQUEST_ID: BindParameter[int] = bindparam("request_id")
_ATTEMPT_NO: BindParameter[int] = bindparam("attempt")

_LOCK_REQUEST = (
    select(
        _requests.c.id,
        _requests.c.status,
        _requests.c.lease_owner,
        _requests.c.attempts,
        _requests.c.topic,
        _requests.c.language,
        _requests.c.not_before,
    )
    .where(_requests.c.id == _REQUEST_ID)
    .with_for_update()
)
_RENEW_LEASE = (
    update(_requests)
    .where(_requests.c.id == _REQUEST_ID)
    .values(lease_expires_at=bindparam("lease_expires_at"), updated_at=bindparam("now"))
)
OPEN_ATTEMPT = and_(  # the request's attempt :attempt, not ended yet
    _attempts.c.callback_id == _REQUEST_ID,
    _attempts.c.attempt_no == _ATTEMPT_NO,
    _attempts.c.ended_at.is_(None),
)
_MARK_DIALLED = (
    update(_attempts)
    .where(OPEN_ATTEMPT, _attempts.c.dialled_at.is_(None))
    .values(dialled_at=bindparam("now"))
    .returning(_attempts.c.advisor_id)
)
_END_ATTEMPT = (
    update(_attempts)
    .where(OPEN_ATTEMPT)
    .values(
        ended_at=bindparam("now"),
        result=bindparam("new_result"),
        duration_s=bindparam("new_duration_s"),
    )
    .returning(_attempts.c.advisor_id)
)
# The attempts that count against the limit: all but the interrupted ones (the worker
# stopped, so the resident gets that try back).
_COUNTED_ATTEMPTS = select(func.count()).where(
    _attempts.c.callback_id == _REQUEST_ID,
    or_(_attempts.c.result.is_(None), _attempts.c.result != AttemptResult.INTERRUPTED),
)
_MOVE_ON = (
    update(_requests)
    .where(_requests.c.id == _REQUEST_ID)
    .values(
        status=bindparam("new_status"),
        next_attempt_at=bindparam("new_next_attempt_at"),
        closed_at=bindparam("new_closed_at"),
        closed_reason=bindparam("new_closed_reason"),
        advisor_id=None,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=bindparam("now"),
    )
)
