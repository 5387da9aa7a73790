"""A queue whose state a test sets directly: it answers the engine's ``LookUpQueue`` (as a
provider's :class:`~callflow.service.queue_reads.QueueReads` does) and plans capacity (as
the rota does)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from callflow.engine.calendar import Calendar
from callflow.engine.commands import LookUpQueue
from callflow.engine.forecast import CapacitySpan, QueueSnapshot


@dataclass
class FakeQueue:
    calendar: Calendar
    ahead: int = 0  # live callers ahead of the caller
    free: int = 0
    staffed: int = 2
    mean_handle: timedelta = timedelta(minutes=6)
    live_load: float = 0.0
    callbacks_ahead: int = 0
    planned: int = 2  # advisors planned in every open hour

    def snapshot(
        self, session: object, call_id: str, question: LookUpQueue, now: datetime
    ) -> QueueSnapshot:
        return QueueSnapshot(
            position=self.ahead + 1,
            free=self.free,
            staffed=self.staffed,
            mean_handle=self.mean_handle,
            live_load=self.live_load,
            callbacks_ahead=self.callbacks_ahead,
        )

    def spans(self, skill: str, language: str, start: datetime) -> Iterator[CapacitySpan]:
        if self.planned:
            for span in self.calendar.spans_from(start):
                yield CapacitySpan(span.start, span.end, self.planned)
