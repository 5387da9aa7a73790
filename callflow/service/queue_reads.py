"""How a queue stands for one caller: the answer to the engine's ``LookUpQueue``.

The engine asks with a command and :class:`~callflow.service.calls.CallHandler`
answers it in the step's own unit of work, through the provider's
:class:`QueueReads`, so a step never reads anything itself.

For a live line the answer is the store's, whichever provider carries the
calls: who waits ahead (:mod:`callflow.store.queue_places`), who is staffed
(the advisors signed in with the topic's skill and the caller's language),
how many callers queued in the last hour, and the open callback requests
ahead. Only how long recent calls with an advisor took is each provider's
own (the Asterisk adapter remembers its calls, Twilio's webhooks read the
advisors' legs), so a provider supplies that one read. Every waiting
caller's announcement asks, so a question costs a few indexed counts however
many advisors and open requests there are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.commands import LookUpQueue
from callflow.engine.forecast import QueueSnapshot
from callflow.engine.promise import deadline_class
from callflow.store.advisors import staffing
from callflow.store.callbacks import callbacks_ahead
from callflow.store.models import Call
from callflow.store.queue_places import callers_ahead

RECENT_HANDLES = 50
ARRIVAL_WINDOW = timedelta(hours=1)


class QueueReads(Protocol):
    """Where a provider's answers to ``LookUpQueue`` come from."""

    def snapshot(
        self, session: Session, call_id: str, question: LookUpQueue, now: datetime
    ) -> QueueSnapshot:
        """The queue *question* asks about, as call *call_id* sees it at *now*, read in
        *session* (the step's own unit of work)."""
        ...


class StoreQueueReads(ABC):
    """:class:`QueueReads` from the store, for a provider whose calls it holds."""

    provider: str
    """The provider whose calls count as this line's callers (``calls.provider``)."""

    def __init__(self, config: HotlineConfig) -> None:
        self._config = config

    @abstractmethod
    def _mean_handle(self, session: Session, topic: str) -> timedelta:
        """How long a call with an advisor lasts in *topic*, from recent calls."""

    def snapshot(
        self, session: Session, call_id: str, question: LookUpQueue, now: datetime
    ) -> QueueSnapshot:
        topic, language, entered_at = question.topic, question.language, question.entered_at
        position = 1 + callers_ahead(session, self.provider, topic, entered_at, call_id)
        queue = self._config.queues[topic]
        able = staffing(session, queue.skill, language, now)
        handle = self._mean_handle(session, topic)
        arrivals = self._arrivals(session, topic, now)
        promise_class = int(deadline_class(queue.promise))
        return QueueSnapshot(
            position=position,
            free=able.free,
            staffed=able.staffed,
            mean_handle=handle,
            live_load=arrivals / ARRIVAL_WINDOW.total_seconds() * handle.total_seconds(),
            callbacks_ahead=callbacks_ahead(
                session, topic, language, promise_class, entered_at or now
            ),
        )

    def _arrivals(self, session: Session, topic: str, now: datetime) -> int:
        count = session.scalar(
            select(func.count())
            .select_from(Call)
            .where(
                # A call queues minutes after it starts: the indexed start bounds the scan.
                Call.started_at > now - 2 * ARRIVAL_WINDOW,
                Call.provider == self.provider,
                Call.topic == topic,
                Call.queue_entered_at > now - ARRIVAL_WINDOW,
            )
        )
        return int(count or 0)
