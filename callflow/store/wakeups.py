"""Telling dispatchers there is work: a new callback, or an advisor who became ready.

On PostgreSQL the word travels as ``NOTIFY`` on :data:`CHANNEL`, sent inside
the transaction that made the change, so it arrives only if that transaction
commits and every dispatcher on every host hears it. SQLite has no such
thing; the word goes to listeners in this process once the session commits
(dispatchers in other processes find the work at their next sweep).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import event, text
from sqlalchemy.orm import Session

CHANNEL = "callflow_dispatch"
_PENDING = "callflow_dispatch_work"

Listener = Callable[[], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def announce_dispatch_work(session: Session) -> None:
    """Wake the dispatchers once this session's transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    else:
        session.info[_PENDING] = True


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
    if session.info.pop(_PENDING, False):
        with _lock:
            listeners = list(_listeners)
        for listener in listeners:
            listener()


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
