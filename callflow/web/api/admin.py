"""The admin API: advisors (add, skills, disable, tokens, state) and callback requests
(list, history, cancel), for an advisor whose token carries the admin role.

Skills and languages are checked against the configuration before anything
is stored: an advisor with a skill no queue asks for would never be given
work, and nobody would see why. Residents' numbers are shown masked here;
only the advisor a callback is assigned to sees the whole number.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from callflow.config.addresses import password_link_url
from callflow.engine.vocabulary import (
    AttemptResult,
    CallbackStatus,
    EventKind,
    ReasonCategory,
    Referral,
    Resolution,
)
from callflow.http.errors import ErrorBody
from callflow.store.advisors import (
    list_advisors,
)
from callflow.store.callback_views import CallbackView, callback_history, list_callbacks
from callflow.store.models import LONGEST_DIAL_STRING, LONGEST_NAME, AdvisorState
from callflow.values.numbers import mask_digits, mask_numbers_within
from callflow.web import Context, actions
from callflow.web.api.advisor import AdvisorOut
from callflow.web.api.tokens import Admin
from callflow.web.errors import ERROR_RESPONSES, not_allowed_value
from callflow.web.inputs import AdvisorId, CallbackId, StrictBody

log = structlog.get_logger("callflow.web")

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    responses={
        **ERROR_RESPONSES,
        403: {"model": ErrorBody, "description": "The token is not an admin's."},
    },
)

UNKNOWN_ADVISOR: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such advisor."}
}
UNKNOWN_CALLBACK: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such callback request."}
}
CANCELLED_BY_ADMIN = "cancelled by an admin"

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LONGEST_NAME)
]


class AdvisorAdminOut(AdvisorOut):
    """An advisor as admins see them."""

    enabled: bool
    admin: bool
    supervisor: bool
    break_reason: str | None
    dial_string: str | None


class NewAdvisorIn(StrictBody):
    name: Name
    skills: list[str] = Field(min_length=1, description="From the configuration's `skills`.")
    languages: list[str] = Field(min_length=1, description="Language codes the line speaks.")
    dial_string: str | None = Field(
        default=None, max_length=LONGEST_DIAL_STRING, description="Where the provider rings them."
    )
    admin: bool = False
    supervisor: bool = Field(
        default=False, description="Sees the wallboard and every advisor's state."
    )


class NewAdvisorOut(BaseModel):
    advisor: AdvisorAdminOut
    token: str = Field(description="Their API token, shown only now; the store keeps its hash.")
    password_link: str = Field(
        description="Their one-time link to set a password for the pages (valid 24 h)."
    )


class PasswordLinkOut(BaseModel):
    advisor_id: int
    password_link: str = Field(description="Valid 24 h, once; an earlier link stops working.")


class SkillsIn(StrictBody):
    skills: list[str] = Field(min_length=1)
    languages: list[str] | None = Field(
        default=None, min_length=1, description="Left out: the languages stay as they are."
    )


class StateIn(StrictBody):
    state: Literal["available", "break", "offline"]


class TokenOut(BaseModel):
    advisor_id: int
    token: str = Field(description="Shown only now; the advisor's earlier token stops working.")


class CancelIn(StrictBody):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
    ] = CANCELLED_BY_ADMIN


class CallbackOut(BaseModel):
    """A callback request, its number masked."""

    id: int
    status: CallbackStatus
    topic: str
    language: str
    number_masked: str | None = Field(description="All but the last three digits hidden.")
    queue_entered_at: datetime
    requested_at: datetime
    due_at: datetime
    late: bool
    at_risk_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    advisor_id: int | None
    closed_at: datetime | None
    closed_reason: str | None


class AttemptOut(BaseModel):
    attempt_no: int
    advisor_id: int | None
    claimed_at: datetime
    dialled_at: datetime | None
    ended_at: datetime | None
    result: AttemptResult | None
    duration_s: float | None
    resolution: Resolution | None
    referral: Referral | None
    reason: ReasonCategory | None


class EventOut(BaseModel):
    at: datetime
    kind: EventKind
    data: dict[str, Any]


class CallbackHistoryOut(BaseModel):
    """One request, its attempts and its entries in the event log: a follow-up's start."""

    request: CallbackOut
    attempts: list[AttemptOut]
    events: list[EventOut]


@router.get("/advisors", summary="Every advisor")
def advisors(caller: Admin, context: Context) -> list[AdvisorAdminOut]:
    with context.database.reading() as session:
        views = list_advisors(session)
    return [AdvisorAdminOut(**asdict(view)) for view in views]


@router.post(
    "/advisors",
    status_code=201,
    summary="Add an advisor; their token is shown once",
    responses={409: {"model": ErrorBody, "description": "The name is taken."}},
)
def add_advisor(
    body: NewAdvisorIn, caller: Admin, context: Context, request: Request
) -> NewAdvisorOut:
    new = actions.NewAdvisor(
        name=body.name,
        skills=tuple(body.skills),
        languages=tuple(body.languages),
        dial_string=body.dial_string,
        admin=body.admin,
        supervisor=body.supervisor,
    )
    added = actions.add_advisor(context, new, by=caller.advisor_id)
    return NewAdvisorOut(
        advisor=AdvisorAdminOut(**asdict(added.advisor)),
        token=added.token,
        password_link=password_link_url(
            context.config, added.password_token, str(request.base_url)
        ),
    )


@router.put(
    "/advisors/{advisor_id}/skills",
    summary="Replace an advisor's skills (and languages)",
    responses=UNKNOWN_ADVISOR,
)
def set_skills(
    advisor_id: AdvisorId, body: SkillsIn, caller: Admin, context: Context
) -> AdvisorAdminOut:
    view = actions.set_skills(
        context, advisor_id, body.skills, body.languages, by=caller.advisor_id
    )
    return AdvisorAdminOut(**asdict(view))


@router.post(
    "/advisors/{advisor_id}/disable",
    summary="Disable an advisor: no more work, their token stops working",
    responses=UNKNOWN_ADVISOR,
)
def disable(advisor_id: AdvisorId, caller: Admin, context: Context) -> AdvisorAdminOut:
    return AdvisorAdminOut(**asdict(actions.disable(context, advisor_id, by=caller.advisor_id)))


@router.post(
    "/advisors/{advisor_id}/token",
    summary="A new token for an advisor; the old one stops working",
    responses={
        **UNKNOWN_ADVISOR,
        409: {"model": ErrorBody, "description": "The advisor is disabled."},
    },
)
def new_token(advisor_id: AdvisorId, caller: Admin, context: Context) -> TokenOut:
    token = actions.new_token(context, advisor_id, by=caller.advisor_id)
    return TokenOut(advisor_id=advisor_id, token=token)


@router.post(
    "/advisors/{advisor_id}/password-link",
    summary="A new one-time link to set a password (24 h); an earlier one stops working",
    responses={
        **UNKNOWN_ADVISOR,
        409: {"model": ErrorBody, "description": "The advisor is disabled."},
    },
)
def new_password_link(
    advisor_id: AdvisorId, caller: Admin, context: Context, request: Request
) -> PasswordLinkOut:
    token = actions.new_password_link(context, advisor_id, by=caller.advisor_id)
    return PasswordLinkOut(
        advisor_id=advisor_id,
        password_link=password_link_url(context.config, token, str(request.base_url)),
    )


@router.post(
    "/advisors/{advisor_id}/state",
    summary="Set an advisor available, on a break or offline",
    responses={
        **UNKNOWN_ADVISOR,
        409: {"model": ErrorBody, "description": "They hold a callback; its outcome comes first."},
    },
)
def set_state(
    advisor_id: AdvisorId, body: StateIn, caller: Admin, context: Context
) -> AdvisorAdminOut:
    view = actions.set_state(context, advisor_id, AdvisorState(body.state), by=caller.advisor_id)
    return AdvisorAdminOut(**asdict(view))


@router.get(
    "/callbacks",
    summary="Callback requests: open ones in claim order, then the latest closed",
)
def callbacks(
    caller: Admin,
    context: Context,
    status: Annotated[
        list[CallbackStatus] | None,
        Query(description="Only these statuses (repeat the parameter for several)."),
    ] = None,
    at_risk: Annotated[
        bool, Query(description="Only open requests flagged at risk or carried over late.")
    ] = False,
    topic: Annotated[str | None, Query(description="Only this queue.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CallbackOut]:
    if topic is not None and topic not in context.config.queues:
        raise not_allowed_value(
            "query parameter topic", topic, context.config.topic_order, "a queue"
        )
    with context.database.reading() as session:
        views = list_callbacks(
            session, statuses=status or None, at_risk=at_risk, topic=topic, limit=limit
        )
    return [_callback_out(view) for view in views]


@router.get(
    "/callbacks/{callback_id}",
    summary="One request's whole history",
    responses=UNKNOWN_CALLBACK,
)
def callback(callback_id: CallbackId, caller: Admin, context: Context) -> CallbackHistoryOut:
    with context.database.reading() as session:
        history = callback_history(session, callback_id)
    return CallbackHistoryOut(
        request=_callback_out(history.request),
        attempts=[AttemptOut(**asdict(attempt)) for attempt in history.attempts],
        events=[
            EventOut(at=event.at, kind=event.kind, data=mask_numbers_within(event.data))
            for event in history.events
        ],
    )


@router.post(
    "/callbacks/{callback_id}/cancel",
    summary="Cancel an open request (one being called ends its attempt)",
    responses={
        **UNKNOWN_CALLBACK,
        409: {"model": ErrorBody, "description": "The request is already closed."},
    },
)
def cancel(
    callback_id: CallbackId, caller: Admin, context: Context, body: CancelIn | None = None
) -> CallbackOut:
    reason = body.reason if body is not None else CANCELLED_BY_ADMIN
    view = actions.cancel_callback(
        context, callback_id, reason, by=caller.advisor_id, by_name=caller.name
    )
    return _callback_out(view)


def _callback_out(view: CallbackView) -> CallbackOut:
    fields = asdict(view)
    number = fields.pop("number_e164")
    fields["closed_reason"] = mask_numbers_within(view.closed_reason)
    return CallbackOut(**fields, number_masked=mask_digits(number) if number else None)
