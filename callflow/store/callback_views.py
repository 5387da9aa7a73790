"""Callback requests as admins read them: the line of open requests, the closed ones,
and one request's whole history.

Read models, not ORM rows: frozen values a command or an HTTP answer can
render after the session is gone. Each answer is a fixed number of
statements however many rows it covers (one for a list, three for a
history), so a long follow-up list never costs a query per request.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, TextClause, case, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from callflow.engine.vocabulary import (
    OPEN_CALLBACK_STATUSES,
    AttemptResult,
    CallbackStatus,
    Channel,
    EventKind,
    ReasonCategory,
    Referral,
    Resolution,
)
from callflow.errors import UnknownCallback
from callflow.store.models import OPEN_STATUSES_SQL, CallbackAttempt, CallbackRequest, CallEvent


@dataclass(frozen=True, slots=True)
class CallbackView:
    """A request as it stands. ``number_e164`` is None once the retention purge erased it."""

    id: int
    status: CallbackStatus
    topic: str
    language: str
    number_e164: str | None
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


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One try at calling back, with the advisor's coding when the resident was reached."""

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
    note: str | None
    """The advisor's short note, numbers masked when it was stored."""


@dataclass(frozen=True, slots=True)
class EventView:
    at: datetime
    kind: EventKind
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallbackHistory:
    """Everything that happened to one request: what a manual follow-up starts from."""

    request: CallbackView
    attempts: list[AttemptView]
    events: list[EventView]
    channel: Channel = Channel.PHONE
    """Where it was made: the phone, or the web page."""
    description: str | None = None
    """A web request's description in the resident's words (None: none, or erased)."""


OrderKey = ColumnElement[Any] | InstrumentedAttribute[Any]

_REQUEST_COLUMNS = (
    CallbackRequest.id,
    CallbackRequest.status,
    CallbackRequest.topic,
    CallbackRequest.language,
    CallbackRequest.number_e164,
    CallbackRequest.queue_entered_at,
    CallbackRequest.requested_at,
    CallbackRequest.due_at,
    CallbackRequest.late,
    CallbackRequest.at_risk_at,
    CallbackRequest.attempts,
    CallbackRequest.next_attempt_at,
    CallbackRequest.advisor_id,
    CallbackRequest.closed_at,
    CallbackRequest.closed_reason,
)
_ATTEMPT_COLUMNS = (
    CallbackAttempt.attempt_no,
    CallbackAttempt.advisor_id,
    CallbackAttempt.claimed_at,
    CallbackAttempt.dialled_at,
    CallbackAttempt.ended_at,
    CallbackAttempt.result,
    CallbackAttempt.duration_s,
    CallbackAttempt.resolution,
    CallbackAttempt.referral,
    CallbackAttempt.reason,
    CallbackAttempt.note,
)


def list_callbacks(
    session: Session,
    *,
    statuses: Collection[CallbackStatus] | None = None,
    at_risk: bool = False,
    topic: str | None = None,
    limit: int = 100,
) -> list[CallbackView]:
    """Requests in any of *statuses* (None: every status), at most *limit* of them.

    Open requests come first, in the order they will be claimed (deadline
    class, then the time the caller entered the queue); closed ones follow,
    the most recently closed first. *at_risk* keeps only open requests that
    the promise watch flagged or that were carried over late.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    wanted = set(CallbackStatus if statuses is None else statuses)
    if at_risk:
        wanted &= set(OPEN_CALLBACK_STATUSES)
    if not wanted:
        return []
    query = select(*_REQUEST_COLUMNS).where(_status_is(wanted))
    if at_risk:
        query = query.where(
            or_(CallbackRequest.at_risk_at.is_not(None), CallbackRequest.late.is_(True))
        )
    if topic is not None:
        query = query.where(CallbackRequest.topic == topic)
    query = query.order_by(*_list_order(wanted)).limit(limit)
    return [CallbackView(**row._asdict()) for row in session.execute(query)]


def callback_history(session: Session, callback_id: int) -> CallbackHistory:
    """The request, its attempts in order, and its entries in the event log, oldest first."""
    row = session.execute(
        select(*_REQUEST_COLUMNS, CallbackRequest.channel, CallbackRequest.description).where(
            CallbackRequest.id == callback_id
        )
    ).one_or_none()
    if row is None:
        raise UnknownCallback(callback_id)
    request = row._asdict()
    channel, description = request.pop("channel"), request.pop("description")
    attempts = session.execute(
        select(*_ATTEMPT_COLUMNS)
        .where(CallbackAttempt.callback_id == callback_id)
        .order_by(CallbackAttempt.attempt_no)
    )
    events = session.execute(
        select(CallEvent.at, CallEvent.kind, CallEvent.data)
        .where(CallEvent.callback_id == callback_id)
        .order_by(CallEvent.at, CallEvent.id)
    )
    return CallbackHistory(
        request=CallbackView(**request),
        attempts=[AttemptView(**attempt._asdict()) for attempt in attempts],
        events=[EventView(at, kind, dict(data)) for at, kind, data in events],
        channel=channel,
        description=description,
    )


def _status_is(wanted: set[CallbackStatus]) -> ColumnElement[bool] | TextClause:
    if wanted == set(OPEN_CALLBACK_STATUSES):
        # Word for word the open-number index's condition: the planner can walk that
        # partial index instead of the whole history of closed requests.
        return text(OPEN_STATUSES_SQL)
    return CallbackRequest.status.in_(sorted(wanted))


def _list_order(wanted: set[CallbackStatus]) -> list[OrderKey]:
    claim_order: list[OrderKey] = [
        CallbackRequest.deadline_class,
        CallbackRequest.queue_entered_at,
        CallbackRequest.id,
    ]
    newest_first: list[OrderKey] = [
        CallbackRequest.closed_at.desc().nulls_last(),
        CallbackRequest.id.desc(),
    ]
    if wanted <= set(OPEN_CALLBACK_STATUSES):
        return claim_order
    if not wanted & set(OPEN_CALLBACK_STATUSES):
        return newest_first
    # Both kinds: open ones first in claim order; a closed row's claim keys are all NULL,
    # so closed rows tie there and fall through to newest first.
    is_open = CallbackRequest.status.in_(OPEN_CALLBACK_STATUSES)
    return [
        case((is_open, 0), else_=1),
        *(case((is_open, column)) for column in claim_order),
        *newest_first,
    ]
