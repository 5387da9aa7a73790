"""Callback requests: the one open request per number, made, found and cancelled.

"One open request per number across all queues" is a partial unique index;
this module turns a collision into :class:`DuplicatePendingCallback` so the
engine can tell the caller about the request they already have. Finding a
number's open request is one prepared statement on the driver
(:mod:`callflow.store.prepared`), for every provider: each call from a known
number asks it, and at hundreds of Twilio webhooks a second SQLAlchemy's
bookkeeping would cost more than the lookup.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callflow.engine.commands import StoreCallback
from callflow.engine.events import ExistingCallback
from callflow.engine.forecast import Backlogged, BacklogIndex
from callflow.engine.vocabulary import (
    OPEN_CALLBACK_STATUSES,
    AttemptResult,
    CallbackStatus,
    Channel,
    EventKind,
)
from callflow.errors import CallbackClosed, DuplicatePendingCallback, UnknownCallback
from callflow.store.advisors import begin_wrap_up
from callflow.store.attempts import log_callback_event
from callflow.store.models import OPEN_STATUSES_SQL, CallbackAttempt, CallbackRequest
from callflow.store.prepared import Prepared
from callflow.store.wakeups import announce_dispatch_work
from callflow.values.numbers import mask_numbers_in

_OPEN_CALLBACK = Prepared(
    select(
        CallbackRequest.id,
        CallbackRequest.language,
        CallbackRequest.topic,
        CallbackRequest.due_at,
        CallbackRequest.expected_at,
    ).where(
        CallbackRequest.number_e164 == bindparam("number"),
        # Word for word the partial unique index's condition, so the database uses it
        # (a bound list of statuses is opaque to SQLite's planner: a full scan).
        text(OPEN_STATUSES_SQL),
    )
)


def open_callback(session: Session, number_e164: str) -> ExistingCallback | None:
    """The number's open callback request, as the engine hears of it."""
    session.flush()  # a cancel earlier in this transaction must be seen, as a query would
    found = _OPEN_CALLBACK.first(session, {"number": number_e164})
    if found is None:
        return None
    return ExistingCallback(
        callback_id=found["id"],
        language=found["language"],
        topic=found["topic"],
        due_at=found["due_at"],
        expected_at=found["expected_at"],
    )


def describe(request: CallbackRequest) -> ExistingCallback:
    return ExistingCallback(
        callback_id=request.id,
        language=request.language,
        topic=request.topic,
        due_at=request.due_at,
        expected_at=request.expected_at,
    )


def create_callback(
    session: Session,
    command: StoreCallback,
    *,
    call_id: str | None,
    now: datetime,
    channel: Channel = Channel.PHONE,
    description: str | None = None,
) -> CallbackRequest:
    """Store a new request; raise :class:`DuplicatePendingCallback` if the number has one open.

    *channel* says where it was made (a call, or the web page with the resident's
    *description*)."""
    existing = open_callback(session, command.number_e164)
    if existing is not None:
        raise DuplicatePendingCallback(existing.callback_id)
    request = CallbackRequest(
        call_id=call_id,
        number_e164=command.number_e164,
        topic=command.topic,
        language=command.language,
        requested_at=command.requested_at,
        queue_entered_at=command.queue_entered_at,
        not_before=command.not_before,
        due_at=command.due_at,
        expected_at=command.expected_at,
        deadline_class=command.deadline_class,
        status=CallbackStatus.PENDING,
        attempts=0,
        late=False,
        channel=channel,
        description=description,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # another process may have stored one just now
            session.add(request)
    except IntegrityError:
        raced = open_callback(session, command.number_e164)
        if raced is None:
            raise
        raise DuplicatePendingCallback(raced.callback_id) from None
    announce_dispatch_work(session)  # a free advisor may call them back now
    return request


def cancel_callback(session: Session, callback_id: int, now: datetime, reason: str) -> bool:
    """Cancel an open request; False if it was already finished.

    The reason is free text (an admin may write "asked us to call 040 … instead"):
    it is stored with any phone number in it masked, since the retention purge
    erases numbers only from the columns meant for them.
    """
    # Locked: a claim committing between our read and our write must not be overwritten.
    request = session.get(
        CallbackRequest, callback_id, populate_existing=True, with_for_update=True
    )
    if request is None or request.status not in OPEN_CALLBACK_STATUSES:
        return False
    if request.status is CallbackStatus.IN_PROGRESS:
        # Being called back right now: that attempt ends here, and whoever holds the
        # lease finds it gone at their next step and lets go. The advisor is free now:
        # if that worker has died, nobody else would ever free them.
        if request.advisor_id is not None:
            begin_wrap_up(session, request.advisor_id, now, timedelta(0))
        attempt = session.scalars(
            select(CallbackAttempt).where(
                CallbackAttempt.callback_id == callback_id,
                CallbackAttempt.attempt_no == request.attempts,
            )
        ).one_or_none()
        if attempt is not None and attempt.ended_at is None:
            attempt.ended_at = now
            attempt.result = AttemptResult.INTERRUPTED
        request.advisor_id = None
    request.status = CallbackStatus.CANCELLED
    request.closed_at = now
    request.closed_reason = mask_numbers_in(reason)
    request.lease_owner = None
    request.lease_expires_at = None
    request.updated_at = now
    return True


def cancel_by_admin(
    session: Session, callback_id: int, now: datetime, *, reason: str, admin: str | None
) -> CallbackRequest:
    """An admin cancels an open request (the caller's own cancel goes through the call
    flow, which logs it); logged here with who and why (the reason as stored, masked).
    Raises :class:`UnknownCallback` or :class:`CallbackClosed`."""
    request = session.get(CallbackRequest, callback_id)
    if request is None:
        raise UnknownCallback(callback_id)
    if not cancel_callback(session, callback_id, now, reason):
        raise CallbackClosed(callback_id, request.status.value)
    data: dict[str, object] = {"by": "admin", "reason": request.closed_reason}
    if admin is not None:
        data["admin"] = admin
    log_callback_event(session, request, EventKind.CALLBACK_CANCELLED, now, **data)
    return request


def callbacks_ahead(
    session: Session, topic: str, language: str, deadline_class: int, entered: datetime
) -> int:
    """Open requests for *topic* in *language* that a new one (of *deadline_class*, its
    caller queued at *entered*) would be served after: a better class, or the same and
    earlier. Counted in the database, so a caller's question costs the same whether the
    backlog holds ten requests or ten thousand."""
    count = session.scalar(
        select(func.count())
        .select_from(CallbackRequest)
        .where(
            CallbackRequest.status.in_(OPEN_CALLBACK_STATUSES),
            CallbackRequest.topic == topic,
            CallbackRequest.language == language,
            or_(
                CallbackRequest.deadline_class < deadline_class,
                and_(
                    CallbackRequest.deadline_class == deadline_class,
                    CallbackRequest.queue_entered_at <= entered,
                ),
            ),
        )
    )
    return int(count or 0)


def open_backlog(session: Session) -> BacklogIndex:
    """Every open request's place in line, for a line's in-memory read model."""
    rows = session.execute(
        select(CallbackRequest.id, *_PLACE_COLUMNS).where(
            CallbackRequest.status.in_(OPEN_CALLBACK_STATUSES)
        )
    )
    return BacklogIndex((row[0], Backlogged(*row[1:])) for row in rows)


def backlog_place(session: Session, callback_id: int) -> Backlogged | None:
    """Request *callback_id*'s place in line, or None if it is not open: what an in-memory
    :class:`~callflow.engine.forecast.BacklogIndex` needs after one request changed."""
    row = session.execute(_PLACE_OF_OPEN, {"callback_id": callback_id}).one_or_none()
    return None if row is None else Backlogged(*row)


_PLACE_COLUMNS = (
    CallbackRequest.topic,
    CallbackRequest.language,
    CallbackRequest.deadline_class,
    CallbackRequest.queue_entered_at,
)
_PLACE_OF_OPEN = select(*_PLACE_COLUMNS).where(
    CallbackRequest.id == bindparam("callback_id"),
    CallbackRequest.status.in_(OPEN_CALLBACK_STATUSES),
)
"""Built once: a simulated day asks it thousands of times."""
