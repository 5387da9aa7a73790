"""A line whose state a test sets directly: an implementation of the engine's LineView."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from callflow.engine.calendar import Calendar
from callflow.engine.forecast import CapacitySpan, QueueSnapshot


@dataclass
class FakeLine:
    calendar: Calendar
    ahead: int = 0  # live callers ahead of the caller
    free: int = 0
    staffed: int = 2
    mean_handle: timedelta = timedelta(minutes=6)
    live_load: float = 0.0
    callbacks_ahead: int = 0
    planned: int = 2  # advisors planned in every open hour

    def snapshot(
        self, call_id: str, topic: str, language: str, entered_at: datetime | None, now: datetime
    ) -> QueueSnapshot:
        return QueueSnapshot(
            position=self.ahead + 1,
            free=self.free,
            staffed=self.staffed,
            mean_handle=self.mean_handle,
            live_load=self.live_load,
            callbacks_ahead=self.callbacks_ahead,
        )

    def capacity(self, topic: str, language: str, start: datetime) -> Iterator[CapacitySpan]:
        if self.planned:
            for span in self.calendar.spans_from(start):
                yield CapacitySpan(span.start, span.end, self.planned)
