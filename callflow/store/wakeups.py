"""Telling dispatchers there is work: a new callback, or an advisor who became ready.

On PostgreSQL the word travels as ``NOTIFY`` on :data:`CHANNEL`, sent inside
the transaction that made the change, so it arrives only if that transaction
commits and every dispatcher on every host hears it. SQLite has no such
thing; the word goes to listeners in this process once the session commits
(dispatchers in other processes find the work at their next sweep), with the
same rules as ``NOTIFY``: a savepoint released is not yet a commit, and a
savepoint rolled back takes back only what was announced inside it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import event, text
from sqlalchemy.orm import Session, SessionTransaction

CHANNEL = "callflow_dispatch"
_PENDING = "callflow_dispatch_work"

Listener = Callable[[], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def announce_dispatch_work(session: Session) -> None:
    """Wake the dispatchers once this session's transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
        return
    # Remember where it was said: a savepoint rolled back later must take it back.
    said_in = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append(said_in)


def listen_in_process(listener: Listener) -> Callable[[], None]:
    """Call *listener* after each commit in this process that announced work;
    returns the function that stops it. Listeners must be quick and thread-safe."""
    with _lock:
        _listeners.append(listener)

    def stop() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return stop


@event.listens_for(Session, "after_commit")
def _ring_local_listeners(session: Session) -> None:
    # SQLAlchemy reports a released savepoint here too; its work is not committed yet.
    if session.in_nested_transaction() or not session.info.pop(_PENDING, None):
        return
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener()


@event.listens_for(Session, "after_soft_rollback")
def _forget_what_was_rolled_back(session: Session, rolled_back: SessionTransaction) -> None:
    pending: list[SessionTransaction | None] = session.info.get(_PENDING, [])
    undone = _rollback_boundary(rolled_back)
    kept = [said_in for said_in in pending if not _within(said_in, undone)]
    if kept:
        session.info[_PENDING] = kept
    else:
        session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_when_closed(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed, rolled back or closed unfinished: done either way
        session.info.pop(_PENDING, None)


def _rollback_boundary(transaction: SessionTransaction) -> SessionTransaction:
    """The savepoint (or whole transaction) whose work a rollback of *transaction* undid:
    SQLAlchemy's internal subtransactions roll back to the nearest real one."""
    while transaction.parent is not None and not transaction.nested:
        transaction = transaction.parent
    return transaction


def _within(said_in: SessionTransaction | None, undone: SessionTransaction) -> bool:
    """Whether what was said in *said_in* is undone with *undone* (it or an enclosing one)."""
    current = said_in
    while current is not None:
        if current is undone:
            return True
        current = current.parent
    return said_in is None
