"""How a queue stands for a caller on Asterisk: the store's reads, and this adapter's
handle times.

One adapter process holds every call of its Stasis application (ARI gives an
application's events to one websocket), so the lengths of its recent calls
with an advisor are known in memory. Everything else is read from the store
in the step's own transaction, as for every provider
(:class:`~callflow.service.queue_reads.StoreQueueReads`).
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta

from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.service.queue_reads import RECENT_HANDLES, StoreQueueReads

PROVIDER = "ari"


class HandleTimes:
    """How long recent calls with an advisor lasted, per topic (this process's own)."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = {}

    def add(self, topic: str, talk: timedelta) -> None:
        self._recent.setdefault(topic, deque(maxlen=RECENT_HANDLES)).append(talk.total_seconds())

    def mean(self, topic: str) -> timedelta | None:
        recent = self._recent.get(topic)
        if not recent:
            return None
        return timedelta(seconds=sum(recent) / len(recent))


class AriQueueReads(StoreQueueReads):
    """The store's queue reads, with the handle times of this adapter's calls."""

    provider = PROVIDER

    def __init__(self, config: HotlineConfig) -> None:
        super().__init__(config)
        self.handles = HandleTimes()

    def _mean_handle(self, session: Session, topic: str) -> timedelta:
        return self.handles.mean(topic) or self._config.queues[topic].default_handle_time
