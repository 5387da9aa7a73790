"""The advisor API: an advisor, by their own token, acting on themselves.

They sign in and out, take a break, see the one callback they hold and
record how it went. The resident's number is in the answer only here, to
the advisor the callback is assigned to; every other view masks it. Each
write is one transaction, so a refused request changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

import structlog
from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from callflow.engine.vocabulary import (
    AttemptResult,
    CallbackStatus,
    ReasonCategory,
    Referral,
    Resolution,
)
from callflow.errors import NotYourAssignment, UnknownCallback
from callflow.http.errors import ErrorBody
from callflow.store.advisors import AdvisorView, BreakReason, advisor_view
from callflow.store.desk_views import CallbackInHand, callback_in_hand
from callflow.store.models import (
    AdvisorState,
    CallbackRequest,
)
from callflow.store.outcomes import Coding
from callflow.web import Context, WebContext, actions
from callflow.web.actions import LONGEST_NOTE
from callflow.web.api.tokens import AnyAdvisor
from callflow.web.errors import ERROR_RESPONSES
from callflow.web.inputs import CallbackId, StrictBody

log = structlog.get_logger("callflow.web")

router = APIRouter(prefix="/advisor", tags=["advisor"], responses=ERROR_RESPONSES)

BUSY_RESPONSE: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorBody, "description": "You hold a callback: record its outcome first."}
}


class AdvisorOut(BaseModel):
    """An advisor as they see themselves."""

    id: int
    name: str
    state: AdvisorState
    state_since: datetime
    ready_at: datetime | None = Field(
        description="When you can next be given a callback: since when you are available, "
        "or when your wrap-up ends; empty while offline, on a break or busy."
    )
    skills: list[str]
    languages: list[str]


class AssignmentOut(BaseModel):
    """The callback an advisor holds, with the resident's number."""

    callback_id: int
    attempt_no: int
    topic: str
    language: str
    number_e164: str | None = Field(description="The resident's number, shown only to you.")
    queue_entered_at: datetime
    waited_s: float = Field(description="Seconds since the resident entered the queue.")
    due_at: datetime
    late: bool = Field(description="The promise was missed and the request carried over.")
    at_risk: bool = Field(description="Flagged as at risk of missing its due time.")
    dialled: bool = Field(description="The resident has been dialled on this attempt.")
    awaiting_outcome: bool = Field(
        description="The call is over and waits for your outcome (POST …/outcome)."
    )


class AssignmentAnswer(BaseModel):
    """Your assignment, or null when you hold none."""

    assignment: AssignmentOut | None


class BreakIn(StrictBody):
    """Why you step away; the supervisor's board shows it."""

    reason: BreakReason = BreakReason.PAUSE


class OutcomeIn(StrictBody):
    """How the callback went. A reached resident's conversation is coded (resolution,
    referral, reason); the other results carry no coding."""

    result: Literal["reached", "no_answer", "wrong_number"]
    resolution: Resolution | None = None
    referral: Referral | None = None
    reason: ReasonCategory | None = None
    note: str | None = Field(
        default=None,
        max_length=LONGEST_NOTE,
        description="A short note; phone numbers in it are masked before it is stored.",
    )

    @model_validator(mode="after")
    def _coded_exactly_when_reached(self) -> Self:
        coding = {"resolution": self.resolution, "referral": self.referral, "reason": self.reason}
        if self.result == "reached":
            missing = [name for name, value in coding.items() if value is None]
            if missing:
                raise ValueError(
                    f"{', '.join(missing)}: required when result is 'reached' "
                    "(the conversation's coding)"
                )
        else:
            given = [name for name, value in coding.items() if value is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: only a reached resident's conversation is coded; "
                    f"leave it out when result is {self.result!r}"
                )
        return self

    def coding(self) -> Coding | None:
        if self.resolution is None or self.referral is None or self.reason is None:
            return None
        return Coding(reason=self.reason, referral=self.referral, resolution=self.resolution)


class OutcomeOut(BaseModel):
    """Where the request and the advisor stand after the outcome."""

    callback_id: int
    status: CallbackStatus
    next_attempt_at: datetime | None = Field(description="When the resident is tried again.")
    advisor_state: AdvisorState
    ready_at: datetime | None = Field(description="When your wrap-up ends.")


@router.get("/me", summary="Who you are and where you stand")
def me(caller: AnyAdvisor, context: Context) -> AdvisorOut:
    with context.database.reading() as session:
        return advisor_out(advisor_view(session, caller.advisor_id))


@router.post("/sign-in", summary="Sign in: available for callbacks", responses=BUSY_RESPONSE)
def sign_in(caller: AnyAdvisor, context: Context) -> AdvisorOut:
    return _set_state(context, caller.advisor_id, AdvisorState.AVAILABLE)


@router.post(
    "/available",
    summary="Available again (ends a break, or your wrap-up early)",
    responses=BUSY_RESPONSE,
)
def available(caller: AnyAdvisor, context: Context) -> AdvisorOut:
    return _set_state(context, caller.advisor_id, AdvisorState.AVAILABLE)


@router.post("/break", summary="Take a break: no callbacks", responses=BUSY_RESPONSE)
def take_break(caller: AnyAdvisor, context: Context, body: BreakIn | None = None) -> AdvisorOut:
    reason = body.reason if body is not None else None
    return _set_state(context, caller.advisor_id, AdvisorState.BREAK, reason)


@router.post("/sign-out", summary="Sign out: offline", responses=BUSY_RESPONSE)
def sign_out(caller: AnyAdvisor, context: Context) -> AdvisorOut:
    return _set_state(context, caller.advisor_id, AdvisorState.OFFLINE)


@router.get(
    "/assignment",
    summary="The callback you hold, with the resident's number",
    description="Always 200: `assignment` is null when you hold none.",
)
def current_assignment(caller: AnyAdvisor, context: Context) -> AssignmentAnswer:
    with context.database.reading() as session:
        held = callback_in_hand(session, caller.advisor_id)
    if held is None:
        return AssignmentAnswer(assignment=None)
    return AssignmentAnswer(assignment=_assignment_out(held, context.clock.now()))


@router.get(
    "/assignment/{callback_id}",
    summary="One callback, if it is the one you hold",
    responses={
        403: {"model": ErrorBody, "description": "It is not assigned to you."},
        404: {"model": ErrorBody, "description": "No such callback."},
    },
)
def assignment(callback_id: CallbackId, caller: AnyAdvisor, context: Context) -> AssignmentOut:
    with context.database.reading() as session:
        held = callback_in_hand(session, caller.advisor_id)
        if held is None or held.callback_id != callback_id:
            if session.get(CallbackRequest, callback_id) is None:
                raise UnknownCallback(callback_id)
            raise NotYourAssignment(callback_id)
    return _assignment_out(held, context.clock.now())


@router.post(
    "/assignment/{callback_id}/outcome",
    summary="Record how the callback went",
    description="Reached completes the request (with the conversation's coding); no answer "
    "schedules the next attempt, or fails the request after the last one; wrong number "
    "closes it. Your wrap-up then runs from now.",
    responses={
        403: {"model": ErrorBody, "description": "It is not assigned to you."},
        404: {"model": ErrorBody, "description": "No such callback."},
        409: {
            "model": ErrorBody,
            "description": "Not yet dialled, or the outcome is already recorded.",
        },
    },
)
def record(
    callback_id: CallbackId, body: OutcomeIn, caller: AnyAdvisor, context: Context
) -> OutcomeOut:
    recorded = actions.record_callback_outcome(
        context,
        caller.advisor_id,
        callback_id,
        AttemptResult(body.result),
        body.coding(),
        body.note,
    )
    return OutcomeOut(
        callback_id=callback_id,
        status=recorded.closed.status,
        next_attempt_at=recorded.closed.next_attempt_at,
        advisor_state=recorded.advisor.state,
        ready_at=recorded.advisor.ready_at,
    )


def advisor_out(view: AdvisorView) -> AdvisorOut:
    return AdvisorOut(
        id=view.id,
        name=view.name,
        state=view.state,
        state_since=view.state_since,
        ready_at=view.ready_at,
        skills=list(view.skills),
        languages=list(view.languages),
    )


def _set_state(
    context: WebContext, advisor_id: int, state: AdvisorState, reason: BreakReason | None = None
) -> AdvisorOut:
    return advisor_out(actions.set_state(context, advisor_id, state, by=advisor_id, reason=reason))


def _assignment_out(held: CallbackInHand, now: datetime) -> AssignmentOut:
    return AssignmentOut(
        callback_id=held.callback_id,
        attempt_no=held.attempt_no,
        topic=held.topic,
        language=held.language,
        number_e164=held.number_e164,
        queue_entered_at=held.queue_entered_at,
        waited_s=(now - held.queue_entered_at).total_seconds(),
        due_at=held.due_at,
        late=held.late,
        at_risk=held.at_risk,
        dialled=held.dialled,
        awaiting_outcome=held.awaiting_outcome,
    )
