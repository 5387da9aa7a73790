"""The line as the store knows it: what the engine reads when a caller asks where they
stand.

Who is staffed (the advisors signed in with the topic's skill and the
caller's language), how many callers queued in the last hour and the open
callback requests are the store's, whichever provider answered. Who waits
in a queue, and how long recent calls took, each provider knows its own way
(Twilio's webhooks from the database, the Asterisk adapter from memory), so
a provider's line supplies those two reads. Only a step that asks (a caller
choosing a topic, waiting, taking a callback) pays for the reads, and the
store's are counted in the database: every waiting caller's announcement
asks, so a question costs a few indexed counts however many advisors and
open requests there are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.forecast import CapacitySpan, QueueSnapshot, RotaCapacity
from callflow.engine.promise import deadline_class
from callflow.store.advisors import staffing
from callflow.store.callbacks import callbacks_ahead
from callflow.store.models import Call

RECENT_HANDLES = 50
ARRIVAL_WINDOW = timedelta(hours=1)


class StoreLine(ABC):
    """An engine :class:`~callflow.engine.turn.LineView` over one step's session."""

    provider: str
    """The provider whose calls count as this line's arrivals (``calls.provider``)."""

    def __init__(
        self, session: Session, config: HotlineConfig, capacity: RotaCapacity, now: datetime
    ) -> None:
        self._session = session
        self._config = config
        self._capacity = capacity
        self._now = now
        self._waiting: dict[str, list[tuple[datetime, str]]] = {}

    @abstractmethod
    def _callers(self, topic: str) -> list[tuple[datetime, str]]:
        """The callers waiting in *topic*'s queue, as (entered_at, call_id), in line order."""

    @abstractmethod
    def _mean_handle(self, topic: str) -> timedelta:
        """How long a call with an advisor lasts in *topic*, from recent calls."""

    def snapshot(
        self, call_id: str, topic: str, language: str, entered_at: datetime | None, now: datetime
    ) -> QueueSnapshot:
        waiting = self._queued(topic)
        if entered_at is None:
            position = len(waiting) + 1
        else:  # those strictly before this caller, in the engine's own order
            position = 1 + sum(1 for place in waiting if place < (entered_at, call_id))
        queue = self._config.queues[topic]
        able = staffing(self._session, queue.skill, language, now)
        handle = self._mean_handle(topic)
        arrivals = self._arrivals(topic)
        promise_class = int(deadline_class(queue.promise))
        return QueueSnapshot(
            position=position,
            free=able.free,
            staffed=able.staffed,
            mean_handle=handle,
            live_load=arrivals / ARRIVAL_WINDOW.total_seconds() * handle.total_seconds(),
            callbacks_ahead=callbacks_ahead(
                self._session, topic, language, promise_class, entered_at or now
            ),
        )

    def capacity(self, topic: str, language: str, start: datetime) -> Iterable[CapacitySpan]:
        return self._capacity.spans(self._config.queues[topic].skill, language, start)

    # -- reads ----------------------------------------------------------------------

    def _queued(self, topic: str) -> list[tuple[datetime, str]]:
        if topic not in self._waiting:
            self._waiting[topic] = self._callers(topic)
        return self._waiting[topic]

    def _arrivals(self, topic: str) -> int:
        count = self._session.scalar(
            select(func.count())
            .select_from(Call)
            .where(
                # A call queues minutes after it starts: the indexed start bounds the scan.
                Call.started_at > self._now - 2 * ARRIVAL_WINDOW,
                Call.provider == self.provider,
                Call.topic == topic,
                Call.queue_entered_at > self._now - ARRIVAL_WINDOW,
            )
        )
        return int(count or 0)
