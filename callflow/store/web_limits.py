"""How often one network address or one phone number has used the web contact page.

A public form is a target: a script could leave thousands of requests, or ring one
resident's phone again and again by their number. Each submission that reaches
the rule is noted here under a hashed key (``address:…``, ``number:…``) with its
time, and counted over the last hour or day. The notes are in the store, so
every process serving the page counts the same submissions; they are kept a day
(:data:`KEPT`) and purged as new ones are written, so the table stays small and
holds no address or number in the clear.

On PostgreSQL the count and the note of one key take turns (a transaction-level
advisory lock on the key), so two requests at the same instant cannot both be
the last one allowed; SQLite's single writer does that by itself.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Index, String, delete, func, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from callflow.store.base import Base
from callflow.store.types import BigId

KEPT = timedelta(days=1)
"""The longest window a limit counts over: older notes are purged."""
PURGE_BATCH = 500
"""Old notes deleted with each new one at most: a purge never holds a request up."""


class WebRequestHit(Base):
    """One submission of the contact page, noted under one key."""

    __tablename__ = "web_request_hits"
    __table_args__ = (Index(None, "key_hash", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)


def key_hash(kind: str, value: str) -> str:
    """The stored form of a key: *kind* (``address``, ``number``) and *value*, hashed."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def note_and_count(session: Session, key: str, now: datetime, window: timedelta) -> int:
    """Note a submission under *key* (a :func:`key_hash`) at *now*, and how many there
    were in the *window* up to *now*, this one included."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )
    _purge(session, now)
    session.execute(insert(WebRequestHit), {"key_hash": key, "at": now})
    count = session.scalar(
        select(func.count())
        .select_from(WebRequestHit)
        .where(WebRequestHit.key_hash == key, WebRequestHit.at > now - window)
    )
    return int(count or 0)


def _purge(session: Session, now: datetime) -> None:
    old = (
        select(WebRequestHit.id)
        .where(WebRequestHit.at <= now - KEPT)
        .order_by(WebRequestHit.at)
        .limit(PURGE_BATCH)
        .scalar_subquery()
    )
    session.execute(delete(WebRequestHit).where(WebRequestHit.id.in_(old)))
