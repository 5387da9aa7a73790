"""What the advisor says a callback came to, and how they code a conversation.

Once the resident answered, only the advisor can tell whether it was them: the
worker hands the callback over (:func:`await_outcome`) and the advisor's word
(:func:`record_outcome`) ends the attempt, whoever holds the lease then. The
coding (why they called, where they were referred, how it was resolved) goes on
the attempt for a callback and in the event log for a live call; reports read
both. The attempt's own lifecycle (dialled, ended, retried) is
:mod:`callflow.store.attempts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, bindparam, insert, select, update
from sqlalchemy.orm import Session

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
from callflow.store.advisors import hold_until_outcome
from callflow.store.attempts import (
    OPEN_ATTEMPT,
    AttemptClosed,
    LoggedRequest,
    RetryPolicy,
    end_attempt,
    held_attempt,
    lock_request,
    log_callback_event,
)
from callflow.store.base import Base
from callflow.store.models import CallEvent

_requests = Base.metadata.tables["callback_requests"]
_attempts = Base.metadata.tables["callback_attempts"]

ADVISOR_HOLD = "advisor:"
"""Lease owners starting with this are advisors recording an outcome, not workers."""

ADVISOR_OUTCOMES = frozenset(
    {AttemptResult.REACHED, AttemptResult.NO_ANSWER, AttemptResult.WRONG_NUMBER}
)
"""What an advisor can say a conversation came to (the telephony knows the rest)."""


@dataclass(frozen=True, slots=True)
class Coding:
    """The advisor's record of a conversation, in the seeds' categories."""

    reason: ReasonCategory
    referral: Referral
    resolution: Resolution


def await_outcome(
    session: Session,
    callback_id: int,
    attempt_no: int,
    now: datetime,
    *,
    owner: str,
    until: datetime,
    duration_s: float,
) -> None:
    """The resident answered and the call is over: only the advisor can tell whether it
    was them, so the callback waits for the advisor's outcome, held in their name until
    *until*. The advisor wraps up meanwhile, and is ready again once they have said it."""
    held_attempt(session, callback_id, attempt_no, owner=owner)
    ids = {"request_id": callback_id, "attempt": attempt_no}
    talked = session.execute(_RECORD_TALK, {**ids, "new_duration_s": round(duration_s, 3)}).first()
    if talked is None:
        raise LeaseLost(callback_id, f"attempt {attempt_no} has already ended")
    session.execute(
        _HOLD_FOR_ADVISOR,
        {**ids, "holder": f"{ADVISOR_HOLD}{talked.advisor_id}", "until": until, "now": now},
    )
    if talked.advisor_id is not None:
        hold_until_outcome(session, talked.advisor_id, now)


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
    request = lock_request(session, callback_id)
    if request is None:
        raise UnknownCallback(callback_id)
    attempt = (
        session.execute(_ATTEMPT, {"request_id": callback_id, "attempt": request.attempts}).first()
        if request.attempts
        else None
    )
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
    closed = end_attempt(session, request, result, now, policy, calendar, duration_s, wrap_up)
    if coding is not None and result is AttemptResult.REACHED:
        _code_attempt(session, request, request.attempts, coding, now)
    return closed


def record_callback_coding(
    session: Session, callback_id: int, attempt_no: int, coding: Coding, now: datetime
) -> None:
    """The advisor's coding of a callback conversation, on the attempt and in the log."""
    request = lock_request(session, callback_id)
    if request is None:
        raise UnknownCallback(callback_id)
    _code_attempt(session, request, attempt_no, coding, now)


def _code_attempt(
    session: Session, request: LoggedRequest, attempt_no: int, coding: Coding, now: datetime
) -> None:
    coded = session.execute(
        _CODE_ATTEMPT,
        {
            "request_id": request.id,
            "attempt": attempt_no,
            "new_reason": coding.reason,
            "new_referral": coding.referral,
            "new_resolution": coding.resolution,
        },
    ).first()
    if coded is None:
        raise LeaseLost(request.id, f"attempt {attempt_no} was never claimed")
    log_callback_event(
        session,
        request,
        EventKind.CONTACT_CODED,
        now,
        **_coding_data(coding, "callback", coded.advisor_id),
    )


def record_call_coding(
    session: Session,
    call_id: str,
    topic: str | None,
    language: str | None,
    coding: Coding,
    advisor: str | int,
    now: datetime,
    *,
    note: str | None = None,
) -> None:
    """The advisor's coding of a call they answered live (with their *note*, its numbers
    already masked)."""
    row = call_coding_row(call_id, topic, language, coding, advisor, now)
    if note is not None:
        row["data"] = {**row["data"], "note": note}
    session.execute(insert(CallEvent), row)


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


# Statements on Core tables, lean like the attempt's own (see callflow.store.attempts).
_REQUEST_ID: BindParameter[int] = bindparam("request_id")
_ATTEMPT_NO: BindParameter[int] = bindparam("attempt")

_RECORD_TALK = (
    update(_attempts)
    .where(OPEN_ATTEMPT)
    .values(duration_s=bindparam("new_duration_s"))
    .returning(_attempts.c.advisor_id)
)
_HOLD_FOR_ADVISOR = (
    update(_requests)
    .where(_requests.c.id == _REQUEST_ID)
    .values(
        lease_owner=bindparam("holder"),
        lease_expires_at=bindparam("until"),
        updated_at=bindparam("now"),
    )
)
_ATTEMPT = select(
    _attempts.c.advisor_id,
    _attempts.c.dialled_at,
    _attempts.c.ended_at,
    _attempts.c.duration_s,
).where(_attempts.c.callback_id == _REQUEST_ID, _attempts.c.attempt_no == _ATTEMPT_NO)
_CODE_ATTEMPT = (
    update(_attempts)
    .where(
        _attempts.c.callback_id == _REQUEST_ID,
        _attempts.c.attempt_no == _ATTEMPT_NO,
    )
    .values(
        reason=bindparam("new_reason"),
        referral=bindparam("new_referral"),
        resolution=bindparam("new_resolution"),
    )
    .returning(_attempts.c.advisor_id)
)
