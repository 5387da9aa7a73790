"""Twilio's rows in the store: its calls, the webhook steps answered, the legs' statuses.

A webhook is answered inside one transaction that first locks its call's
row: two requests about one call (a retry racing the original, a status
callback racing an action) take turns, and the second sees what the first
did. On SQLite every writer already takes turns (``BEGIN IMMEDIATE``); the
webhooks of one process also queue on a lock here, because SQLite's own
wait is a sleep that grows with each retry and would leave it idle under load.

Every webhook passes through here, so the rows are read and written with
plain statements on the session's connection, not through the ORM's unit
of work, which would cost several times the statement itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from callflow.engine.state import CallState
from callflow.providers.twilio.params import FINAL_STATUSES
from callflow.store.models import Base, Call, TwilioCall, TwilioLeg, TwilioStep
from callflow.store.session import Database

CALLS = Base.metadata.tables[TwilioCall.__tablename__]
STEPS = Base.metadata.tables[TwilioStep.__tablename__]
CALL_ROWS = Base.metadata.tables[Call.__tablename__]

STATUS_ORDER = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "completed": 4,
    "busy": 4,
    "failed": 4,
    "no-answer": 4,
    "canceled": 4,
}
"""How far along a call is; a status behind the one known is old news."""


class Writes:
    """Write transactions for Twilio's webhooks and legs."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._turns = threading.Lock() if database.dialect == "sqlite" else None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        if self._turns is None:
            with self.database.transaction() as session:
                yield session
            return
        with self._turns, self.database.transaction() as session:
            yield session


@dataclass
class CallRow:
    """A ``twilio_calls`` row as read; changed in place, then written with :func:`save_call`."""

    call_sid: str
    kind: TwilioLeg
    status: str
    created_at: datetime
    updated_at: datetime
    call_id: str | None = None
    callback_id: int | None = None
    attempt_no: int | None = None
    advisor_id: int | None = None
    topic: str | None = None
    language: str | None = None
    queue_entered_at: datetime | None = None
    queue_visit: int = 0
    next_step: int = 0
    sequence: int = -1
    answered_by: str | None = None
    ready_at: datetime | None = None
    duration_s: float | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


_COLUMNS = [CALLS.c[f.name] for f in fields(CallRow)]


def locked_call(session: Session, call_sid: str) -> CallRow | None:
    """The call's row as committed now, held until the transaction ends."""
    found = session.connection().execute(_LOCK_CALL, {"sid": call_sid}).mappings().first()
    return None if found is None else CallRow(**found)


def read_call(session: Session, call_sid: str) -> CallRow | None:
    """The row as committed now, not locked (for those who only wait on it)."""
    found = session.connection().execute(_READ_CALL, {"sid": call_sid}).mappings().first()
    return None if found is None else CallRow(**found)


def add_call(
    session: Session, call_sid: str, kind: TwilioLeg, now: datetime, **values: Any
) -> CallRow:
    """The row for *call_sid*, locked: made now unless another request made it first.

    The line places a call and learns its CallSid from Twilio while Twilio may
    already be posting the call's first status callback: whichever writes the
    row first wins, and the other takes that row.
    """
    row = CallRow(call_sid, kind, values.pop("status"), now, now, **values)
    dialect = session.get_bind().dialect.name
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(CALLS)
    session.connection().execute(statement.on_conflict_do_nothing(), asdict(row))
    written = locked_call(session, call_sid)
    assert written is not None
    return written


def insert_call(session: Session, row: CallRow) -> None:
    session.connection().execute(_INSERT_CALL, asdict(row))


def save_call(session: Session, row: CallRow) -> None:
    session.connection().execute(_UPDATE_CALL, {f"b_{k}": v for k, v in asdict(row).items()})


# Built once: building a statement costs more than running it.
_READ_CALL = select(*_COLUMNS).where(CALLS.c.call_sid == bindparam("sid"))
_LOCK_CALL = _READ_CALL.with_for_update()
_CALL_STATE = select(CALL_ROWS.c.flow_state).where(CALL_ROWS.c.id == bindparam("id"))
_ANSWER = select(STEPS.c.twiml).where(
    STEPS.c.call_sid == bindparam("sid"), STEPS.c.step == bindparam("step")
)
_INSERT_CALL = insert(CALLS)
_UPDATE_CALL = (
    update(CALLS)
    .where(CALLS.c.call_sid == bindparam("b_call_sid"))
    .values(
        {
            f.name: bindparam(f"b_{f.name}")
            for f in fields(CallRow)
            if f.name not in ("call_sid", "created_at")
        }
    )
)


def call_state(session: Session, call_id: str) -> CallState | None:
    """The engine's state of an inbound call, as its last step left it."""
    document = session.connection().execute(_CALL_STATE, {"id": call_id}).scalar()
    return None if document is None else CallState.from_dict(document)


def answer_of(session: Session, call_sid: str, step: str) -> str | None:
    """The TwiML already given (or prepared) for this step of the call, if any."""
    found: str | None = (
        session.connection().execute(_ANSWER, {"sid": call_sid, "step": step}).scalar()
    )
    return found


def keep_answers(session: Session, call_sid: str, answers: dict[str, str], now: datetime) -> None:
    if answers:
        session.connection().execute(
            _INSERT_STEP,
            [
                {"call_sid": call_sid, "step": step, "twiml": twiml, "created_at": now}
                for step, twiml in answers.items()
            ],
        )


_INSERT_STEP = insert(STEPS)


def forget_answers(session: Session, call_sid: str) -> None:
    """The call is over: no request about it can come again, and read-backs of the
    caller's number must not outlive it."""
    session.connection().execute(delete(STEPS).where(STEPS.c.call_sid == call_sid))


@dataclass(frozen=True, slots=True)
class LegNews:
    """A status Twilio reported for a call, as one value."""

    status: str
    sequence: int | None = None
    duration_s: float | None = None
    answered_by: str | None = None


def apply_news(row: CallRow, news: LegNews, now: datetime) -> bool:
    """Bring *row* up to *news* unless it is old: a repeat, a status sent before one
    already known, or anything after the call ended. True if *row* changed."""
    if news.sequence is not None and news.sequence <= row.sequence:
        return False
    if row.final:
        return False
    if STATUS_ORDER.get(news.status, 0) < STATUS_ORDER.get(row.status, 0):
        if news.sequence is not None:
            row.sequence = news.sequence
        return False
    row.status = news.status
    if news.sequence is not None:
        row.sequence = news.sequence
    if news.duration_s is not None:
        row.duration_s = news.duration_s
    if news.answered_by is not None:
        row.answered_by = news.answered_by
    row.updated_at = now
    return True
