"""A discrete-event loop on a :class:`~callflow.engine.clock.FakeClock`.

Actions are scheduled at instants; :meth:`VirtualLoop.run_next` jumps the
clock to the earliest one and runs it, so hours of line time pass in
milliseconds and the same inputs always give the same run.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime

from callflow.engine.clock import FakeClock


class Scheduled:
    """An action due at an instant; :meth:`cancel` keeps it from running."""

    __slots__ = ("action", "at", "cancelled")

    def __init__(self, at: datetime, action: Callable[[], None]) -> None:
        self.at = at
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualLoop:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._heap: list[tuple[datetime, int, Scheduled]] = []
        """Ordered by instant, then by scheduling order: plain tuples, because a day's
        run pushes and pops millions of them and a dataclass's comparison costs several
        times more."""
        self._seq = itertools.count()

    def call_at(self, at: datetime, action: Callable[[], None]) -> Scheduled:
        """Run *action* at *at* (or now, if *at* has passed); ties run in scheduling order."""
        now = self.clock.now()
        entry = Scheduled(at if at > now else now, action)
        heapq.heappush(self._heap, (entry.at, next(self._seq), entry))
        return entry

    def run_next(self) -> bool:
        """Run the earliest pending action; False when nothing is left."""
        heap = self._heap
        while heap:
            entry = heapq.heappop(heap)[2]
            if entry.cancelled:
                continue
            self.clock.set(entry.at)
            entry.action()
            return True
        return False

    def next_at(self) -> datetime | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None
