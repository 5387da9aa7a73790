"""Who waits in which queue, as the engine sees it, for every provider.

A caller's place is written when the engine queues them (``EnterQueue``) and
deleted when they leave the queue (``LeaveQueue``: a hang-up, a callback, the
line closing) or are handed to an advisor (``ConnectAdvisor``), in the same
transaction as the step that moved them (see
:class:`~callflow.service.calls.CallHandler`). So any process reading the
database — the queue reads a caller's announcement is made from, a connector,
a wallboard, a second adapter — sees the line the engine sees.

Line order is the engine's own: entry time, then call id. A caller who comes
back to the queue (a failed number entry) comes back with their first entry
time, so they keep their place.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, and_, bindparam, delete, func, insert, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from callflow.engine.matching import WaitingCaller
from callflow.engine.state import CallState
from callflow.store.base import Base
from callflow.store.prepared import Prepared
from callflow.store.types import UTCDateTime


class QueuePlace(Base):
    """A caller waiting in *topic*'s queue now; *provider* carries the call."""

    __tablename__ = "queue_places"
    __table_args__ = (Index(None, "topic", "entered_at", "call_id"),)

    call_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(32), ForeignKey("queues.name"))
    language: Mapped[str] = mapped_column(String(8))
    entered_at: Mapped[datetime]


_INSERT = insert(QueuePlace)
_JOIN = Prepared(_INSERT)
_LEAVE = Prepared(delete(QueuePlace).where(QueuePlace.call_id == bindparam("call_id")))
"""On the driver: every caller who queues takes a place and gives it up."""
_WAITING = (
    select(QueuePlace.entered_at, QueuePlace.call_id, QueuePlace.language)
    .where(QueuePlace.provider == bindparam("provider"), QueuePlace.topic == bindparam("topic"))
    .order_by(QueuePlace.entered_at, QueuePlace.call_id)
)
"""Built once: every announcement of every waiting caller asks it."""
_FRONT = _WAITING.limit(1)
_IN_QUEUE = (QueuePlace.provider == bindparam("provider"), QueuePlace.topic == bindparam("topic"))
_ENTERED_AT = bindparam("entered_at", type_=UTCDateTime())
_ALL_IN_QUEUE = select(func.count()).select_from(QueuePlace).where(*_IN_QUEUE)
_AHEAD = _ALL_IN_QUEUE.where(
    or_(
        QueuePlace.entered_at < _ENTERED_AT,
        and_(QueuePlace.entered_at == _ENTERED_AT, QueuePlace.call_id < bindparam("call_id")),
    )
)
_ALL_WAITING = (
    select(QueuePlace.topic, QueuePlace.entered_at, QueuePlace.call_id, QueuePlace.language)
    .where(QueuePlace.provider == bindparam("provider"))
    .order_by(QueuePlace.entered_at, QueuePlace.call_id)
)


def take_place(
    session: Session,
    call_id: str,
    *,
    provider: str,
    topic: str,
    language: str,
    entered_at: datetime,
) -> None:
    """The caller joins *topic*'s queue, in place by *entered_at*."""
    _JOIN.execute(
        session,
        {
            "call_id": call_id,
            "provider": provider,
            "topic": topic,
            "language": language,
            "entered_at": entered_at,
        },
    )


def give_up_place(session: Session, call_id: str) -> None:
    """The caller is out of the queue (nothing happens if they were not in one)."""
    _LEAVE.execute(session, {"call_id": call_id})


def give_up_places_of_run(session: Session, provider: str, run_id: str) -> None:
    """*provider*'s callers whose call ids start with *run_id* are out of their queues: a
    simulated line that stops leaves no caller waiting behind it, while another run into
    the same database keeps its own."""
    session.connection().execute(
        delete(QueuePlace).where(
            QueuePlace.provider == provider,
            QueuePlace.call_id.startswith(run_id, autoescape=True),
        )
    )


def waiting(session: Session, provider: str, topic: str) -> list[WaitingCaller]:
    """The callers *provider* has waiting in *topic*'s queue, front first."""
    rows = session.connection().execute(_WAITING, {"provider": provider, "topic": topic})
    return [WaitingCaller(entered_at, call_id, language) for entered_at, call_id, language in rows]


def first_waiting(session: Session, provider: str, topic: str) -> WaitingCaller | None:
    """The caller first in *topic*'s queue, or None: one row, however long the queue (every
    advisor put through on Twilio asks, to whisper how long that caller waited)."""
    row = session.connection().execute(_FRONT, {"provider": provider, "topic": topic}).first()
    return None if row is None else WaitingCaller(*row)


def callers_ahead(
    session: Session, provider: str, topic: str, entered_at: datetime | None, call_id: str
) -> int:
    """How many of *provider*'s callers wait in *topic*'s queue before the caller *call_id*
    who entered it at *entered_at* (in line order, as :func:`waiting` lists them), or in
    all for one not queued yet. A count, not the rows: every waiting caller's announcement
    asks, and a queue a thousand long made each read a millisecond or more."""
    params: dict[str, object] = {"provider": provider, "topic": topic}
    if entered_at is None:
        return int(session.connection().execute(_ALL_IN_QUEUE, params).scalar_one())
    ahead = {**params, "entered_at": entered_at, "call_id": call_id}
    return int(session.connection().execute(_AHEAD, ahead).scalar_one())


def waiting_by_topic(session: Session, provider: str) -> dict[str, list[WaitingCaller]]:
    """Every queue's callers *provider* has waiting, front first, in one read (a connector's
    pass looks at all queues at once)."""
    queues: dict[str, list[WaitingCaller]] = {}
    rows = session.connection().execute(_ALL_WAITING, {"provider": provider})
    for topic, entered_at, call_id, language in rows:
        queues.setdefault(topic, []).append(WaitingCaller(entered_at, call_id, language))
    return queues


def keep_only(session: Session, provider: str, calls: Iterable[CallState]) -> None:
    """*provider*'s places become those of *calls* still queued: for an adapter taking its
    calls over after a restart (any other place is of a call that ended while nobody was
    stepping it)."""
    connection = session.connection()
    connection.execute(delete(QueuePlace).where(QueuePlace.provider == provider))
    rows = [
        {
            "call_id": state.call_id,
            "provider": provider,
            "topic": state.topic,
            "language": state.language,
            "entered_at": state.queue_entered_at,
        }
        for state in calls
        if state.in_queue
    ]
    if rows:
        connection.execute(_INSERT, rows)
