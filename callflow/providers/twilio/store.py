"""Twilio's rows in the store: its calls, the webhook steps answered, the legs' statuses.

A webhook is answered inside one transaction that first locks its call's
row: two requests about one call (a retry racing the original, a status
callback racing an action) take turns, and the second sees what the first
did. On SQLite every writer already takes turns (``BEGIN IMMEDIATE``); the
webhooks of one process also queue on a lock here, because SQLite's own
wait is a sleep that grows with each retry and would leave it idle under load.

Every webhook passes through here, so the rows are read and written with
statements compiled once and run on the driver
(:mod:`~callflow.store.prepared`), not through the ORM's unit of
work or SQLAlchemy's execution, which would cost several times the
statement itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from callflow.engine.state import CallState
from callflow.errors import MalformedWebhook
from callflow.providers.twilio.params import FINAL_STATUSES
from callflow.store.base import Base
from callflow.store.models import Advisor, Call, CallbackRequest
from callflow.store.prepared import Prepared
from callflow.store.session import Database
from callflow.store.twilio_tables import TwilioCall, TwilioLeg, TwilioStep

CALLS = Base.metadata.tables[TwilioCall.__tablename__]
STEPS = Base.metadata.tables[TwilioStep.__tablename__]
CALL_ROWS = Base.metadata.tables[Call.__tablename__]
REQUESTS = Base.metadata.tables[CallbackRequest.__tablename__]
ADVISORS = Base.metadata.tables[Advisor.__tablename__]

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
    """Write transactions for Twilio's webhooks and legs.

    Inside a :meth:`batch` (see :mod:`~callflow.providers.twilio.batches`) a
    :meth:`transaction` on the batch's thread is a part of the batch's: it
    commits with the batch, and if it fails, the whole batch is spoilt.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._turns = threading.Lock() if database.dialect == "sqlite" else None
        self._running = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        batch: Batch | None = getattr(self._running, "batch", None)
        if batch is not None:
            try:
                yield batch.session
            except BaseException:
                batch.spoilt = True  # whatever it wrote stays in the batch's transaction
                raise
            return
        with self._turn(), self.database.transaction() as session:
            yield session

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """One transaction for many transactions' work on this thread, committed at the
        end unless it raises; then what waited for the commit is done."""
        with self._turn(), self.database.transaction() as session:
            batch = Batch(session)
            self._running.batch = batch
            try:
                yield batch
            finally:
                self._running.batch = None
        for action in batch.committed:
            action()

    def after_commit(self, action: Callable[[], None]) -> None:
        """Do *action* once what was written has committed: now, after a transaction of
        its own; after the batch's commit inside a batch (never, if it rolls back)."""
        batch: Batch | None = getattr(self._running, "batch", None)
        if batch is None:
            action()
        else:
            batch.committed.append(action)

    def _turn(self) -> AbstractContextManager[object]:
        """On SQLite, the process's writers queue here rather than in SQLite's busy wait, a
        sleep that grows with each retry and would leave the database idle under load."""
        return self._turns if self._turns is not None else nullcontext()


@dataclass
class Batch:
    """The transaction webhooks share, and what is to be done once it commits."""

    session: Session
    spoilt: bool = False
    """A webhook failed inside the batch: it must be rolled back, not committed."""
    committed: list[Callable[[], None]] = field(default_factory=list)


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
    queue_visit: int = 0
    next_step: int = 0
    sequence: int = -1
    answered_by: str | None = None
    ready_at: datetime | None = None
    duration_s: float | None = None
    survey_state: dict[str, Any] | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


_NAMES = tuple(f.name for f in fields(CallRow))
_COLUMNS = [CALLS.c[name] for name in _NAMES]


def _values(row: CallRow) -> dict[str, Any]:
    """The row's columns by name; not :func:`dataclasses.asdict`, whose deep copy of every
    value costs more than the statement that writes them."""
    return {name: getattr(row, name) for name in _NAMES}


def locked_call(session: Session, call_sid: str) -> CallRow | None:
    """The call's row as committed now, held until the transaction ends."""
    found = _LOCK_CALL.first(session, {"sid": call_sid})
    return None if found is None else CallRow(**found)


def read_call(session: Session, call_sid: str) -> CallRow | None:
    """The row as committed now, not locked (for those who only wait on it)."""
    found = _READ_CALL.first(session, {"sid": call_sid})
    return None if found is None else CallRow(**found)


def add_call(
    session: Session, call_sid: str, kind: TwilioLeg, now: datetime, **values: Any
) -> CallRow:
    """The row for *call_sid*, locked: made now unless another request made it first.

    The line places a call and learns its CallSid from Twilio while Twilio may
    already be posting the call's first status callback: whichever writes the
    row first wins, and the other takes that row.

    A request naming a callback request or an advisor this line does not have
    (a call placed by another installation on the same account, a store restored
    from before it) raises :class:`MalformedWebhook`, and nothing is written.
    """
    row = CallRow(call_sid, kind, values.pop("status"), now, now, **values)
    _check_known(session, row)
    dialect = session.get_bind().dialect.name
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(CALLS)
    session.connection().execute(statement.on_conflict_do_nothing(), _values(row))
    written = locked_call(session, call_sid)
    assert written is not None
    return written


def _check_known(session: Session, row: CallRow) -> None:
    if row.callback_id is not None and _CALLBACK.first(session, {"id": row.callback_id}) is None:
        raise MalformedWebhook(f"cb: this line has no callback request {row.callback_id}")
    if row.advisor_id is not None and _ADVISOR.first(session, {"id": row.advisor_id}) is None:
        raise MalformedWebhook(f"advisor: this line has no advisor {row.advisor_id}")


def insert_call(session: Session, row: CallRow) -> None:
    _INSERT_CALL.execute(session, _values(row))


def save_call(session: Session, row: CallRow) -> None:
    _UPDATE_CALL.execute(session, {f"b_{k}": v for k, v in _values(row).items()})


def call_state(session: Session, call_id: str) -> CallState | None:
    """The engine's state of an inbound call, as its last step left it."""
    found = _CALL_STATE.first(session, {"id": call_id})
    document = None if found is None else found["flow_state"]
    return None if document is None else CallState.from_dict(document)


def answer_of(session: Session, call_sid: str, step: str) -> str | None:
    """The TwiML already given (or prepared) for this step of the call, if any."""
    found = _ANSWER.first(session, {"sid": call_sid, "step": step})
    return None if found is None else str(found["twiml"])


def keep_answers(session: Session, call_sid: str, answers: dict[str, str], now: datetime) -> None:
    _INSERT_STEP.execute_many(
        session,
        [
            {"call_sid": call_sid, "step": step, "twiml": twiml, "created_at": now}
            for step, twiml in answers.items()
        ],
    )


def forget_answers(session: Session, call_sid: str) -> None:
    """The call is over: no request about it can come again, and read-backs of the
    caller's number must not outlive it."""
    _FORGET_ANSWERS.execute(session, {"sid": call_sid})


# Every webhook runs these: built and compiled once, run on the driver (see .prepared).
_READ_CALL = Prepared(select(*_COLUMNS).where(CALLS.c.call_sid == bindparam("sid")))
_LOCK_CALL = Prepared(
    select(*_COLUMNS).where(CALLS.c.call_sid == bindparam("sid")).with_for_update()
)
_CALL_STATE = Prepared(select(CALL_ROWS.c.flow_state).where(CALL_ROWS.c.id == bindparam("id")))
_ANSWER = Prepared(
    select(STEPS.c.twiml).where(
        STEPS.c.call_sid == bindparam("sid"), STEPS.c.step == bindparam("step")
    )
)
_INSERT_CALL = Prepared(insert(CALLS))
_UPDATE_CALL = Prepared(
    update(CALLS)
    .where(CALLS.c.call_sid == bindparam("b_call_sid"))
    .values(
        {
            # Bound names differ from the columns': an UPDATE reserves those for its SET.
            name: bindparam(f"b_{name}")
            for name in _NAMES
            if name not in ("call_sid", "created_at")
        }
    )
)
_INSERT_STEP = Prepared(insert(STEPS))
_FORGET_ANSWERS = Prepared(delete(STEPS).where(STEPS.c.call_sid == bindparam("sid")))
_CALLBACK = Prepared(select(REQUESTS.c.id).where(REQUESTS.c.id == bindparam("id")))
_ADVISOR = Prepared(select(ADVISORS.c.id).where(ADVISORS.c.id == bindparam("id")))


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
