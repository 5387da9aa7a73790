"""The line as the Asterisk adapter knows it: what the engine reads when a caller asks
where they stand.

One adapter process holds every call of its Stasis application (ARI gives
an application's events to one websocket), so who waits in which queue is
known in memory, and so are the lengths of its recent calls with an
advisor. Who is staffed and the callbacks ahead are read from the store,
once per question, in a short read of its own (the step's transaction is
not held open for it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from callflow.config.models import HotlineConfig
from callflow.engine.forecast import CapacitySpan, QueueSnapshot, RotaCapacity
from callflow.service.line import RECENT_HANDLES, StoreLine
from callflow.store.session import Database

PROVIDER = "ari"

Waiting = Callable[[str], list[tuple[datetime, str]]]
"""The callers waiting in a topic's queue, as (entered_at, call_id), in line order."""


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


class AriLineView:
    """An engine :class:`~callflow.engine.turn.LineView` for calls on Asterisk."""

    def __init__(
        self,
        database: Database,
        config: HotlineConfig,
        capacity: RotaCapacity,
        waiting: Waiting,
    ) -> None:
        self._database = database
        self._config = config
        self._capacity = capacity
        self._waiting = waiting
        self.handles = HandleTimes()

    def snapshot(
        self, call_id: str, topic: str, language: str, entered_at: datetime | None, now: datetime
    ) -> QueueSnapshot:
        with self._database.reading() as session:
            reads = _Reads(session, self._config, self._capacity, now)
            reads.waiting = self._waiting
            reads.handles = self.handles
            return reads.snapshot(call_id, topic, language, entered_at, now)

    def capacity(self, topic: str, language: str, start: datetime) -> Iterable[CapacitySpan]:
        return self._capacity.spans(self._config.queues[topic].skill, language, start)


class _Reads(StoreLine):
    """The store's reads of :class:`StoreLine`, with Asterisk's callers and calls."""

    provider = PROVIDER

    waiting: Waiting
    handles: HandleTimes

    def _callers(self, topic: str) -> list[tuple[datetime, str]]:
        return self.waiting(topic)

    def _mean_handle(self, topic: str) -> timedelta:
        return self.handles.mean(topic) or self._config.queues[topic].default_handle_time
