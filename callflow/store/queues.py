"""Mirror the configured queues into the database, so SQL can join callbacks to skills."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.store.models import Queue


def sync_queues(session: Session, config: HotlineConfig, now: datetime) -> None:
    """Add or update a row per configured queue; rows of removed queues stay for history."""
    for name, queue in config.queues.items():
        row = session.get(Queue, name)
        if row is None:
            row = Queue(name=name)
            session.add(row)
        if (row.skill, row.promise) != (queue.skill, queue.promise.kind):
            row.skill = queue.skill
            row.promise = queue.promise.kind
            row.updated_at = now
