"""An advisor's desk as the store has it: their state, the work in hand, today's work.

Read in one short transaction per view, so the desk is right whichever process
gave them the work (the dispatcher, a connector, the simulator). The
resident's number is in :class:`CallbackInHand` because the desk shows it to
the advisor the callback is assigned to, and to nobody else: the query asks
for *their* assignment only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from callflow.engine.vocabulary import AttemptResult, CallbackStatus, Channel, EventKind
from callflow.errors import UnknownAdvisor
from callflow.store.models import (
    Advisor,
    AdvisorState,
    Call,
    CallbackAttempt,
    CallbackRequest,
    CallEvent,
)
from callflow.store.outcomes import ADVISOR_HOLD

UNCODED = "uncoded"


class DeskState(StrEnum):
    """Where an advisor stands, in the words of the desk (finer than the store's state)."""

    OFFLINE = "offline"
    FREE = "free"
    RINGING = "ringing"
    """Their phone is ringing (a callback not yet put through to the resident)."""
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    AWAITING = "awaiting"
    """A callback's call is over; they are given nothing until they record its outcome."""
    BREAK = "break"


@dataclass(frozen=True, slots=True)
class PastAttempt:
    attempt_no: int
    ended_at: datetime | None
    result: AttemptResult | None


@dataclass(frozen=True, slots=True)
class CallbackInHand:
    callback_id: int
    attempt_no: int
    topic: str
    language: str
    number_e164: str | None
    queue_entered_at: datetime
    due_at: datetime
    late: bool
    at_risk: bool
    dialled: bool
    awaiting_outcome: bool
    earlier: tuple[PastAttempt, ...]
    from_web: bool = False
    """Asked for on the web page, not on the phone."""
    description: str | None = None
    """A web request's description, in the resident's words."""


@dataclass(frozen=True, slots=True)
class CallInHand:
    """The queued caller they were put through to (or their last, until coded)."""

    call_id: str
    topic: str | None
    language: str | None
    queue_entered_at: datetime | None
    answered_at: datetime | None
    ended: bool


@dataclass(frozen=True, slots=True)
class WorkDone:
    at: datetime
    kind: str
    """``callback`` or ``call``."""
    topic: str | None
    outcome: str
    """A callback attempt's result, or a call's resolution (:data:`UNCODED` until coded)."""


@dataclass(frozen=True, slots=True)
class Desk:
    advisor_id: int
    name: str
    state: DeskState
    state_since: datetime
    ready_at: datetime | None
    break_reason: str | None
    callback: CallbackInHand | None
    call: CallInHand | None
    today: tuple[WorkDone, ...]


def read_desk(session: Session, advisor_id: int, day_start: datetime, now: datetime) -> Desk:
    """The desk of *advisor_id* at *now*, with their work since *day_start* (the line's
    midnight)."""
    advisor = session.get(Advisor, advisor_id)
    if advisor is None:
        raise UnknownAdvisor(str(advisor_id))
    callback = callback_in_hand(session, advisor_id)
    call = _call_in_hand(session, advisor.serving_call_id)
    return Desk(
        advisor_id=advisor.id,
        name=advisor.name,
        state=_desk_state(advisor, callback, call, now),
        state_since=advisor.state_since,
        ready_at=advisor.ready_at,
        break_reason=advisor.break_reason,
        callback=callback,
        call=call,
        today=_today(session, advisor_id, day_start),
    )


def _desk_state(
    advisor: Advisor, callback: CallbackInHand | None, call: CallInHand | None, now: datetime
) -> DeskState:
    state = advisor.state
    if state is AdvisorState.BUSY:
        if callback is not None and not callback.dialled:
            return DeskState.RINGING
        if callback is None and call is not None and call.answered_at is None:
            return DeskState.RINGING
        return DeskState.TALKING
    if state is AdvisorState.WRAP_UP:
        if advisor.ready_at is None:
            return DeskState.AWAITING
        # Past their wrap-up they are ready (store.advisors.ready_now): the line gives
        # them work, and the store's state moves only when it does.
        return DeskState.WRAP_UP if advisor.ready_at > now else DeskState.FREE
    return {
        AdvisorState.AVAILABLE: DeskState.FREE,
        AdvisorState.BREAK: DeskState.BREAK,
        AdvisorState.OFFLINE: DeskState.OFFLINE,
    }[state]


def callback_in_hand(session: Session, advisor_id: int) -> CallbackInHand | None:
    """The callback *advisor_id* holds, with the resident's number: theirs alone to see."""
    request = session.scalars(
        select(CallbackRequest).where(
            CallbackRequest.advisor_id == advisor_id,
            CallbackRequest.status == CallbackStatus.IN_PROGRESS,
        )
    ).one_or_none()  # one assignment per advisor is a unique index
    if request is None:
        return None
    attempts = session.scalars(
        select(CallbackAttempt)
        .where(CallbackAttempt.callback_id == request.id)
        .order_by(CallbackAttempt.attempt_no)
    ).all()
    current = next((a for a in attempts if a.attempt_no == request.attempts), None)
    return CallbackInHand(
        callback_id=request.id,
        attempt_no=request.attempts,
        topic=request.topic,
        language=request.language,
        number_e164=request.number_e164,
        queue_entered_at=request.queue_entered_at,
        due_at=request.due_at,
        late=request.late,
        at_risk=request.at_risk_at is not None,
        dialled=current is not None and current.dialled_at is not None,
        awaiting_outcome=(request.lease_owner or "").startswith(ADVISOR_HOLD),
        earlier=tuple(
            PastAttempt(a.attempt_no, a.ended_at, a.result)
            for a in attempts
            if a.attempt_no != request.attempts
        ),
        from_web=request.channel is Channel.WEB,
        description=request.description,
    )


def _call_in_hand(session: Session, call_id: str | None) -> CallInHand | None:
    if call_id is None:
        return None
    call = session.get(Call, call_id)
    if call is None:
        return None
    return CallInHand(
        call_id=call.id,
        topic=call.topic,
        language=call.language,
        queue_entered_at=call.queue_entered_at,
        answered_at=call.answered_at,
        ended=call.ended_at is not None,
    )


def _today(session: Session, advisor_id: int, day_start: datetime) -> tuple[WorkDone, ...]:
    attempts = session.execute(
        select(CallbackAttempt.ended_at, CallbackRequest.topic, CallbackAttempt.result)
        .join(CallbackRequest, CallbackRequest.id == CallbackAttempt.callback_id)
        .where(
            CallbackAttempt.advisor_id == advisor_id,
            CallbackAttempt.ended_at >= day_start,
            CallbackAttempt.result.is_not(None),
        )
    ).all()
    # A provider names the advisor as text, the coding as a number: compared as text.
    named = cast(CallEvent.data["advisor_id"].as_string(), String)
    calls = session.execute(
        select(CallEvent.kind, CallEvent.at, CallEvent.call_id, CallEvent.topic, CallEvent.data)
        .where(
            CallEvent.kind.in_((EventKind.ANSWERED, EventKind.CONTACT_CODED)),
            CallEvent.at >= day_start,
            CallEvent.callback_id.is_(None),
            named == str(advisor_id),
        )
        .order_by(CallEvent.at)
    ).all()
    done = [
        WorkDone(at, "callback", topic, result.value)
        for at, topic, result in attempts
        if at is not None and result is not None
    ]
    # Their calls: the ones put through to them, each with its coding once recorded.
    answered: dict[str, WorkDone] = {}
    for kind, at, call_id, topic, data in calls:
        if call_id is None:
            continue
        if kind is EventKind.ANSWERED:
            answered[call_id] = WorkDone(at, "call", topic, UNCODED)
        elif call_id in answered:
            answered[call_id] = replace(answered[call_id], outcome=str(data["resolution"]))
    done += answered.values()
    return tuple(sorted(done, key=lambda work: work.at, reverse=True))
