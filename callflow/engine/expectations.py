"""When a callback would come, and by when it is due: worked out once per inputs.

Every caller waiting on an overflowing queue is told, each ``announce_interval``, when a
callback would come. The answer depends on the rules (calendar, promise, rota), the
instant and what the caller's queue looks like to them (:class:`QueueSnapshot`); callers
who ask with the same inputs share one answer, and the rules' objects are replaced when
the rules change, so a shared answer is never a stale one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.forecast import PlannedCapacity, QueueSnapshot, expected_callback_start
from callflow.engine.memo import Memo
from callflow.engine.promise import due_at
from callflow.engine.prompts import round_up

SAID_TIME_STEP = timedelta(minutes=30)
"""Promised times are said rounded up to this step ("by 14.00", "by 14.30")."""

REMEMBERED_EXPECTATIONS = 4096
"""Answers kept: far more than the callers a busy line announces to at one instant."""

Expectation = tuple[datetime | None, datetime]
"""When to say a callback would come (None: no callback can keep the promise), and its
due time."""


class CallbackExpectations:
    """The expected callback times under one set of rules (the line's *config*, its
    *calendar* and the *capacity* planned): part of a
    :class:`~callflow.engine.turn.FlowContext`, which is made anew with the rules."""

    def __init__(
        self, config: HotlineConfig, calendar: Calendar, capacity: PlannedCapacity
    ) -> None:
        self._config = config
        self._calendar = calendar
        self._capacity = capacity
        self._known: Memo[tuple[str, str, datetime, QueueSnapshot], Expectation] = Memo(
            REMEMBERED_EXPECTATIONS
        )

    def at(self, topic: str, language: str, now: datetime, snapshot: QueueSnapshot) -> Expectation:
        """For a caller of *topic*'s queue in *language* at *now*, their queue as *snapshot*
        says: when to say a callback would come, and when it is due. The first is None when
        the callback cannot keep the queue's promise; else it is the expected time rounded
        up to :data:`SAID_TIME_STEP`, never past the due time."""
        key = (topic, language, now, snapshot)
        known = self._known.get(key)
        if known is None:
            known = self._known.keep(key, self._work_out(topic, language, now, snapshot))
        return known

    def _work_out(
        self, topic: str, language: str, now: datetime, snapshot: QueueSnapshot
    ) -> Expectation:
        queue = self._config.queues[topic]
        due = due_at(self._calendar, queue.promise, now)
        capacity = self._capacity.spans(queue.skill, language, now)
        start = expected_callback_start(now, snapshot, capacity, by=due)
        if start is None:
            return None, due
        return min(round_up(start, SAID_TIME_STEP), due), due
