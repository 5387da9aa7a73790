"""A claimed callback's attempt: dialled, ended, retried or closed, and coded.

Each step is guarded by the lease: a worker that no longer owns the
callback (its lease was taken back and handed on) gets :class:`LeaseLost`
and touches nothing, so a slow worker can never overwrite a newer attempt.
Every transition is logged in the event log, which is what reports read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.vocabulary import (
    AttemptResult,
    CallbackStatus,
    EventKind,
    ReasonCategory,
    Referral,
    Resolution,
)
from callflow.errors import LeaseLost, NotYourAssignment, OutcomeNotAllowed, UnknownCallback
from callflow.store.advisors import begin_wrap_up
from callflow.store.models import CallbackAttempt, CallbackRequest, CallEvent
from callflow.store.wakeups import announce_dispatch_work

ADVISOR_HOLD = "advisor:"
"""Lease owners starting with this are advisors recording an outcome, not workers."""

ADVISOR_OUTCOMES = frozenset(
    {AttemptResult.REACHED, AttemptResult.NO_ANSWER, AttemptResult.WRONG_NUMBER}
)
"""What an advisor can say a conversation came to (the telephony knows the rest)."""

RETRYABLE = frozenset(
    {
        AttemptResult.NO_ANSWER,
        AttemptResult.BUSY,
        AttemptResult.FAILED,
        AttemptResult.CONGESTION,
        AttemptResult.MACHINE,
    }
)


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


@dataclass(frozen=True, slots=True)
class Coding:
    """The advisor's record of a conversation, in the seeds' categories."""

    reason: ReasonCategory
    referral: Referral
    resolution: Resolution


def renew_lease(
    session: Session, callback_id: int, now: datetime, *, owner: str, lease: timedelta
) -> None:
    """Keep holding a callback whose call goes on: the lease runs *lease* from *now*."""
    request = _leased(session, callback_id, owner)
    request.lease_expires_at = now + lease
    request.updated_at = now


def mark_dialled(
    session: Session, callback_id: int, attempt_no: int, now: datetime, *, owner: str
) -> None:
    """The resident is being dialled now: the callback has been *made*."""
    request = _leased(session, callback_id, owner)
    attempt = _current_attempt(session, request, attempt_no)
    if attempt.dialled_at is not None:
        raise LeaseLost(callback_id, "this attempt has already dialled the resident")
    attempt.dialled_at = now
    request.updated_at = now
    log_callback_event(
        session,
        request,
        EventKind.CALLBACK_DIALLED,
        now,
        attempt_no=attempt_no,
        advisor_id=attempt.advisor_id,
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
    request = _leased(session, callback_id, owner)
    attempt = _current_attempt(session, request, attempt_no)
    return end_attempt(
        session, request, attempt, result, now, policy, calendar, duration_s, wrap_up
    )


def end_attempt(
    session: Session,
    request: CallbackRequest,
    attempt: CallbackAttempt,
    result: AttemptResult,
    now: datetime,
    policy: RetryPolicy,
    calendar: Calendar,
    duration_s: float,
    wrap_up: timedelta,
) -> AttemptClosed:
    """:func:`finish_attempt` without the lease check, for those who outrank the lease
    holder: the assigned advisor, and the reaper once the lease has run out."""
    attempt_no = attempt.attempt_no
    callback_id = request.id
    attempt.ended_at = now
    attempt.result = result
    attempt.duration_s = round(duration_s, 3)
    next_attempt_at: datetime | None = None
    if result is AttemptResult.REACHED:
        _close(request, CallbackStatus.COMPLETED, now, "reached")
    elif result is AttemptResult.WRONG_NUMBER:
        _close(request, CallbackStatus.WRONG_NUMBER, now, "wrong number")
    elif result is AttemptResult.INTERRUPTED:
        request.status = CallbackStatus.PENDING
        next_attempt_at = now
    elif _counted_attempts(session, callback_id) >= policy.attempts:
        _close(request, CallbackStatus.FAILED, now, f"not reached in {policy.attempts} attempts")
    else:
        request.status = CallbackStatus.PENDING
        next_attempt_at = calendar.first_instant_within(
            max(now + policy.spacing, request.not_before), policy.window
        )
    request.next_attempt_at = next_attempt_at
    if attempt.advisor_id is not None:
        begin_wrap_up(session, attempt.advisor_id, now, wrap_up)
    if next_attempt_at is not None and next_attempt_at <= now:
        announce_dispatch_work(session)
    request.advisor_id = None
    request.lease_owner = None
    request.lease_expires_at = None
    request.updated_at = now
    log_callback_event(
        session,
        request,
        EventKind.CALLBACK_ATTEMPT_ENDED,
        now,
        attempt_no=attempt_no,
        result=result.value,
        duration_s=attempt.duration_s,
        next_attempt_at=next_attempt_at.isoformat() if next_attempt_at else None,
    )
    final = {
        CallbackStatus.COMPLETED: (EventKind.CALLBACK_COMPLETED, {"attempt_no": attempt_no}),
        CallbackStatus.WRONG_NUMBER: (EventKind.CALLBACK_WRONG_NUMBER, {"attempt_no": attempt_no}),
        CallbackStatus.FAILED: (EventKind.CALLBACK_FAILED, {"attempts": request.attempts}),
    }.get(request.status)
    if final is not None:
        log_callback_event(session, request, final[0], now, **final[1])
    return AttemptClosed(request.status, next_attempt_at)


def await_outcome(
    session: Session,
    callback_id: int,
    attempt_no: int,
    now: datetime,
    *,
    owner: str,
    until: datetime,
    duration_s: float,
    wrap_up: timedelta,
) -> None:
    """The resident answered and the call is over: only the advisor can tell whether it
    was them, so the callback waits for the advisor's outcome, held in their name until
    *until*. The advisor's wrap-up starts now."""
    request = _leased(session, callback_id, owner)
    attempt = _current_attempt(session, request, attempt_no)
    attempt.duration_s = round(duration_s, 3)
    request.lease_owner = f"{ADVISOR_HOLD}{attempt.advisor_id}"
    request.lease_expires_at = until
    request.updated_at = now
    if attempt.advisor_id is not None:
        begin_wrap_up(session, attempt.advisor_id, now, wrap_up)


def record_outcome(
    session: Session,
    advisor_id: int,
    callback_id: int,
    result: AttemptResult,
    coding: Coding | None,
    now: datetime,
    *,
    policy: RetryPolicy,
    calendar: Calendar,
    wrap_up: timedelta,
) -> AttemptClosed:
    """The assigned advisor's word on the conversation: reached (with its coding), not
    reached after all, or a wrong number. It ends the attempt, whoever holds the lease:
    the advisor's word outranks the worker's (which lets go at its next step)."""
    if result not in ADVISOR_OUTCOMES:
        raise ValueError(f"an advisor records one of {sorted(ADVISOR_OUTCOMES)}, not {result}")
    request = _locked(session, callback_id)
    if request is None:
        raise UnknownCallback(callback_id)
    attempt = attempt_row(session, callback_id, request.attempts) if request.attempts else None
    if attempt is None or attempt.advisor_id != advisor_id:
        raise NotYourAssignment(callback_id)
    if request.status is not CallbackStatus.IN_PROGRESS or attempt.ended_at is not None:
        raise OutcomeNotAllowed(callback_id, f"the attempt is over ({request.status.value})")
    if attempt.dialled_at is None:
        raise OutcomeNotAllowed(callback_id, "the resident has not been dialled yet")
    if result is AttemptResult.REACHED and coding is None:
        raise OutcomeNotAllowed(callback_id, "a reached resident needs the contact's coding")
    duration_s = attempt.duration_s
    if duration_s is None:
        duration_s = (now - attempt.dialled_at).total_seconds()
    closed = end_attempt(
        session, request, attempt, result, now, policy, calendar, duration_s, wrap_up
    )
    if coding is not None and result is AttemptResult.REACHED:
        record_callback_coding(session, callback_id, attempt.attempt_no, coding, now)
    return closed


def record_callback_coding(
    session: Session, callback_id: int, attempt_no: int, coding: Coding, now: datetime
) -> None:
    """The advisor's coding of a callback conversation, on the attempt and in the log."""
    attempt = attempt_row(session, callback_id, attempt_no)
    attempt.reason = coding.reason
    attempt.referral = coding.referral
    attempt.resolution = coding.resolution
    request = session.get(CallbackRequest, callback_id)
    assert request is not None
    log_callback_event(
        session,
        request,
        EventKind.CONTACT_CODED,
        now,
        **_coding_data(coding, "callback", attempt.advisor_id),
    )


def record_call_coding(
    session: Session,
    call_id: str,
    topic: str | None,
    language: str | None,
    coding: Coding,
    advisor: str | int,
    now: datetime,
) -> None:
    """The advisor's coding of a call they answered live."""
    session.execute(
        insert(CallEvent), call_coding_row(call_id, topic, language, coding, advisor, now)
    )


def call_coding_row(
    call_id: str,
    topic: str | None,
    language: str | None,
    coding: Coding,
    advisor: str | int,
    now: datetime,
) -> dict[str, Any]:
    """The event-log row for a live call's coding."""
    return {
        "at": now,
        "kind": EventKind.CONTACT_CODED,
        "call_id": call_id,
        "callback_id": None,
        "topic": topic,
        "language": language,
        "data": _coding_data(coding, "call", advisor),
    }


def _coding_data(coding: Coding, channel: str, advisor: str | int | None) -> dict[str, object]:
    return {
        "channel": channel,
        "reason": coding.reason.value,
        "referral": coding.referral.value,
        "resolution": coding.resolution.value,
        "advisor_id": advisor,
    }


def _leased(session: Session, callback_id: int, owner: str) -> CallbackRequest:
    request = _locked(session, callback_id)
    if request is None:
        raise LeaseLost(callback_id, "no such callback request")
    if request.status is not CallbackStatus.IN_PROGRESS or request.lease_owner != owner:
        raise LeaseLost(
            callback_id, f"it is {request.status.value}, leased to {request.lease_owner}"
        )
    return request


def _locked(session: Session, callback_id: int) -> CallbackRequest | None:
    """The request as committed now, held until this transaction ends.

    Without the lock, a worker, the advisor and the reaper could each read the
    attempt as still open and each end it: the later write would overwrite the
    earlier (or a newer attempt's lease). On PostgreSQL the row lock makes the
    later one wait and then see the truth; SQLite's writers are serialized anyway.
    """
    return session.get(CallbackRequest, callback_id, populate_existing=True, with_for_update=True)


def attempt_row(session: Session, callback_id: int, attempt_no: int) -> CallbackAttempt:
    attempt = session.scalars(
        select(CallbackAttempt).where(
            CallbackAttempt.callback_id == callback_id, CallbackAttempt.attempt_no == attempt_no
        )
    ).one_or_none()
    if attempt is None:
        raise LeaseLost(callback_id, f"attempt {attempt_no} was never claimed")
    return attempt


def _current_attempt(
    session: Session, request: CallbackRequest, attempt_no: int
) -> CallbackAttempt:
    """The attempt the lease is for: a late word about an earlier one changes nothing."""
    if attempt_no > request.attempts:
        raise LeaseLost(request.id, f"attempt {attempt_no} was never claimed")
    if attempt_no < request.attempts:
        raise LeaseLost(request.id, f"attempt {attempt_no} is over; {request.attempts} is current")
    attempt = attempt_row(session, request.id, attempt_no)
    if attempt.ended_at is not None:
        raise LeaseLost(request.id, f"attempt {attempt_no} has already ended")
    return attempt


def _counted_attempts(session: Session, callback_id: int) -> int:
    """Attempts that count against the limit: all but the interrupted ones (the worker
    stopped, so the resident gets that try back)."""
    results = session.scalars(
        select(CallbackAttempt.result).where(CallbackAttempt.callback_id == callback_id)
    )
    return sum(1 for result in results if result is not AttemptResult.INTERRUPTED)


def _close(request: CallbackRequest, status: CallbackStatus, now: datetime, reason: str) -> None:
    request.status = status
    request.closed_at = now
    request.closed_reason = reason


def log_callback_event(
    session: Session, request: CallbackRequest, kind: EventKind, now: datetime, **data: object
) -> None:
    session.execute(
        insert(CallEvent),
        {
            "at": now,
            "kind": kind,
            "callback_id": request.id,
            "topic": request.topic,
            "language": request.language,
            "data": data,
        },
    )
