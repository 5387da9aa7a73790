"""A discrete-event loop on a :class:`~callflow.engine.clock.FakeClock`.

Actions are scheduled at instants; :meth:`VirtualLoop.run_next` jumps the
clock to the earliest one and runs it, so hours of line time pass in
milliseconds and the same inputs always give the same run.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from callflow.engine.clock import FakeClock


@dataclass(order=True)
class Scheduled:
    at: datetime
    seq: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualLoop:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._heap: list[Scheduled] = []
        self._seq = itertools.count()

    def call_at(self, at: datetime, action: Callable[[], None]) -> Scheduled:
        """Run *action* at *at* (or now, if *at* has passed); ties run in scheduling order."""
        entry = Scheduled(max(at, self.clock.now()), next(self._seq), action)
        heapq.heappush(self._heap, entry)
        return entry

    def run_next(self) -> bool:
        """Run the earliest pending action; False when nothing is left."""
        while self._heap:
            entry = heapq.heappop(self._heap)
            if entry.cancelled:
                continue
            self.clock.set(entry.at)
            entry.action()
            return True
        return False

    def next_at(self) -> datetime | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].at if self._heap else None
