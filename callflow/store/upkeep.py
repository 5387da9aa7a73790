"""What the scheduled jobs do, decided in SQL so that any number of processes may run them.

Each function is an idempotent tick: run twice, or by four processes at
once, it has the effect of running once. Leases and flags are guarded by
their own conditions (on PostgreSQL, rows are taken ``FOR UPDATE SKIP
LOCKED``); once-a-period jobs first claim their period in ``job_runs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, insert, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callflow.engine.calendar import Calendar
from callflow.engine.vocabulary import (
    OPEN_CALLBACK_STATUSES,
    AttemptResult,
    CallbackStatus,
    CallOutcome,
    EventKind,
)
from callflow.store.attempts import RetryPolicy, end_attempt, log_callback_event
from callflow.store.models import (
    Advisor,
    AdvisorState,
    Call,
    CallbackAttempt,
    CallbackRequest,
    JobRun,
    Survey,
)
from callflow.store.outcomes import ADVISOR_HOLD
from callflow.store.queue_places import QueuePlace
from callflow.store.twilio_tables import TwilioCall, TwilioStep
from callflow.store.wakeups import announce_dispatch_work

ESCALATED = 0
"""The deadline class served before all others."""


@dataclass(frozen=True, slots=True)
class ReleasedLease:
    callback_id: int
    owner: str
    attempt_no: int
    result: AttemptResult


def claim_period(session: Session, job: str, period: str, *, owner: str, now: datetime) -> bool:
    """True for the one process that runs *job* for *period*; False for every other."""
    try:
        with session.begin_nested():
            session.execute(
                insert(JobRun), {"job": job, "period": period, "owner": owner, "ran_at": now}
            )
    except IntegrityError:
        return False
    return True


def release_expired_leases(
    session: Session, now: datetime, *, policy: RetryPolicy, calendar: Calendar
) -> list[ReleasedLease]:
    """Take back every callback whose lease ran out.

    A worker's lease: the worker stopped (crashed, was killed, lost the
    database), so the attempt is marked interrupted and the request goes back
    to the queue at its place, not counted as an attempt. An advisor's hold
    (the resident answered, the advisor never recorded the outcome): the
    resident was reached, so the request is completed, not dialled again.
    """
    query = (
        select(
            CallbackRequest.id,
            CallbackRequest.topic,
            CallbackRequest.language,
            CallbackRequest.attempts,
            CallbackRequest.not_before,
            CallbackRequest.lease_owner,
            CallbackRequest.lease_expires_at,
            CallbackAttempt.advisor_id,
            CallbackAttempt.duration_s,
        )
        .join(
            CallbackAttempt,
            and_(
                CallbackAttempt.callback_id == CallbackRequest.id,
                CallbackAttempt.attempt_no == CallbackRequest.attempts,
            ),
        )
        .where(
            CallbackRequest.status == CallbackStatus.IN_PROGRESS,
            CallbackRequest.lease_expires_at < now,
        )
        .order_by(CallbackRequest.lease_expires_at)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=CallbackRequest, skip_locked=True)
    released = []
    for request in session.execute(query).all():
        owner = request.lease_owner or ""
        held_by_advisor = owner.startswith(ADVISOR_HOLD)
        result = AttemptResult.REACHED if held_by_advisor else AttemptResult.INTERRUPTED
        log_callback_event(
            session,
            request,
            EventKind.CALLBACK_LEASE_EXPIRED,
            now,
            attempt_no=request.attempts,
            owner=owner,
            expired_at=request.lease_expires_at.isoformat() if request.lease_expires_at else None,
        )
        end_attempt(
            session,
            request,
            result,
            now,
            policy,
            calendar,
            request.duration_s or 0.0,
            timedelta(0),
        )
        if not held_by_advisor and request.advisor_id is not None:
            # Their worker is gone mid-attempt: whatever the phone did, the desk is free again.
            _make_ready(session, request.advisor_id, now)
        released.append(ReleasedLease(request.id, owner, request.attempts, result))
    if released:
        announce_dispatch_work(session)
    return released


def _make_ready(session: Session, advisor_id: int, now: datetime) -> None:
    session.execute(
        update(Advisor)
        .where(
            Advisor.id == advisor_id, Advisor.state.in_((AdvisorState.BUSY, AdvisorState.WRAP_UP))
        )
        .values(state=AdvisorState.AVAILABLE, state_since=now, ready_at=now)
        .execution_options(synchronize_session=False)
    )


def flag_callbacks_at_risk(session: Session, now: datetime, margin: timedelta) -> list[int]:
    """Open requests due within *margin* (or already overdue) and not yet flagged are
    flagged, logged and escalated to the front of the line; returns their ids."""
    query = select(CallbackRequest).where(
        CallbackRequest.status.in_(OPEN_CALLBACK_STATUSES),
        CallbackRequest.at_risk_at.is_(None),
        CallbackRequest.due_at <= now + margin,
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    flagged = []
    for request in session.scalars(query).all():
        request.at_risk_at = now
        request.deadline_class = ESCALATED
        request.updated_at = now
        log_callback_event(
            session,
            request,
            EventKind.CALLBACK_AT_RISK,
            now,
            due_at=request.due_at.isoformat(),
            status=request.status.value,
        )
        flagged.append(request.id)
    return flagged


def carry_over_at_closing(session: Session, now: datetime) -> list[int]:
    """At closing time, open requests whose promise ran out today are carried over:
    kept with their due time, marked late and escalated, never dropped."""
    query = select(CallbackRequest).where(
        CallbackRequest.status.in_(OPEN_CALLBACK_STATUSES),
        CallbackRequest.late.is_(False),
        CallbackRequest.due_at <= now,
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    carried = []
    for request in session.scalars(query).all():
        request.late = True
        request.deadline_class = ESCALATED
        request.updated_at = now
        log_callback_event(
            session,
            request,
            EventKind.CALLBACK_CARRIED_OVER,
            now,
            due_at=request.due_at.isoformat(),
            attempts=request.attempts,
        )
        carried.append(request.id)
    return carried


@dataclass(frozen=True, slots=True)
class Purged:
    callback_numbers: int
    call_numbers: int
    unfinished_calls: int
    """Calls never ended (a final status lost, a phone crashed), closed by the purge."""
    twilio_steps: int
    queue_places: int
    """Places in a queue kept by calls that are over: those closed here, or any other."""
    survey_numbers: int


def purge_numbers(session: Session, now: datetime, retention: timedelta) -> Purged:
    """Erase callers' numbers from requests finished, and calls ended, more than
    *retention* ago, with a web request's description (the resident's own words) and the
    number a survey was asked of. Times, topics, outcomes, survey scores and the event log
    stay for statistics.

    A call nobody has heard of for *retention* but never ended (its final status
    was lost, a console phone crashed) is over all the same: it is closed, ended
    when it was last heard of (dropped, unless the engine had an outcome for it),
    and erased with the others; no call that is over keeps a place in a queue (a
    wallboard would count its caller waiting for ever). Twilio's answered
    steps that old go too: their TwiML reads numbers back to callers; so does
    the recommendation question kept on a callback's resident leg.
    """
    cutoff = now - retention
    callbacks = session.execute(
        update(CallbackRequest)
        .where(
            CallbackRequest.status.not_in(OPEN_CALLBACK_STATUSES),
            CallbackRequest.closed_at < cutoff,
            CallbackRequest.number_e164.is_not(None),
        )
        .values(number_e164=None, description=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    surveys = session.execute(
        update(Survey)
        .where(Survey.asked_at < cutoff, Survey.number_e164.is_not(None))
        .values(number_e164=None)
        .execution_options(synchronize_session=False)
    )
    unfinished = session.execute(
        update(Call)
        .where(Call.ended_at.is_(None), Call.updated_at < cutoff)
        # How it went, if the engine knew (a callback requested, say); else it was lost.
        .values(ended_at=Call.updated_at, outcome=func.coalesce(Call.outcome, CallOutcome.DROPPED))
        .execution_options(synchronize_session=False)
    )
    places = session.execute(
        delete(QueuePlace)
        .where(exists().where(Call.id == QueuePlace.call_id, Call.ended_at.is_not(None)))
        .execution_options(synchronize_session=False)
    )
    calls = session.execute(
        update(Call)
        .where(
            Call.ended_at < cutoff,
            (Call.caller_e164.is_not(None)) | (Call.flow_state.is_not(None)),
        )
        # The flow state holds the number the caller keyed in; a finished call needs none.
        .values(caller_e164=None, flow_state=null(), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    steps = session.execute(
        delete(TwilioStep)
        .where(TwilioStep.created_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    session.execute(  # a callback's question whose leg's end was never heard: its number
        update(TwilioCall)
        .where(TwilioCall.updated_at < cutoff, TwilioCall.survey_state.is_not(None))
        .values(survey_state=None)
        .execution_options(synchronize_session=False)
    )
    return Purged(
        callbacks.rowcount,  # type: ignore[attr-defined]
        calls.rowcount,  # type: ignore[attr-defined]
        unfinished.rowcount,  # type: ignore[attr-defined]
        steps.rowcount,  # type: ignore[attr-defined]
        places.rowcount,  # type: ignore[attr-defined]
        surveys.rowcount,  # type: ignore[attr-defined]
    )
