"""Honest estimates: how long a caller will wait, and when a callback will come.

Both are computed from what the line knows now (who is waiting, who is
staffed, recent handle times, the callback backlog) and the staffing planned
for the rest of the day and the days after. No constants pretend to be
estimates: with nobody staffed, the answer is "unknown".
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Protocol

from callflow.config.models import WEEKDAYS, DailyRange, StaffingBlock
from callflow.engine.calendar import Calendar, Span
from callflow.engine.memo import Memo

HORIZON = timedelta(days=14)
"""How far ahead a callback time is promised; beyond it, none is offered."""

REMEMBERED_OPEN_SPANS = 1024
"""Open spans whose planned capacity a :class:`RotaCapacity` keeps, over every skill and
language (the example line's nine pairs: about five months of weekdays, beyond the
fortnight an offer reads ahead), and a bound."""


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """A queue as one caller sees it at one instant.

    ``position`` is the caller's 1-based place among live callers waiting for
    the topic (for a caller not yet queued: where they would stand).
    ``staffed`` counts advisors signed in with the topic's skill and the
    caller's language, ``free`` those of them available now.
    ``live_load`` is the share of advisors live calls keep busy on average
    (arrival rate × handle time, in advisors).
    """

    position: int
    free: int
    staffed: int
    mean_handle: timedelta
    live_load: float
    callbacks_ahead: int


@dataclass(frozen=True, slots=True)
class CapacitySpan:
    """``advisors`` planned to work from ``start`` to ``end`` (UTC)."""

    start: datetime
    end: datetime
    advisors: int


class PlannedCapacity(Protocol):
    """The advisors planned ahead, which a callback's time is promised from: a plan, not
    a read of the line, so a step may consult it (:class:`RotaCapacity` is the rota's).

    A plan answers the same question the same way for as long as it lives: what is worked
    out from it is kept (:mod:`~callflow.engine.expectations`), so another plan comes as
    another object, with the rules it belongs to."""

    def spans(self, skill: str, language: str, start: datetime) -> Iterable[CapacitySpan]:
        """Capacity for *skill* and *language* from *start* on, in order."""
        ...


@dataclass(frozen=True, slots=True)
class Backlogged:
    """An open callback request, as far as its place in line is concerned."""

    topic: str
    language: str
    deadline_class: int
    queue_entered_at: datetime


class BacklogIndex:
    """Open requests in claim order per topic and language, for counting places fast:
    every announcement asks, and a busy line's backlog runs to thousands.

    A reader that knows which request changed puts or drops just that
    one: reading the whole backlog again at every change costs a busy day more than the
    rest of its store work."""

    def __init__(self, backlog: Iterable[tuple[int, Backlogged]] = ()) -> None:
        self._order: dict[tuple[str, str], list[tuple[int, datetime, int]]] = {}
        self._places: dict[int, tuple[tuple[str, str], tuple[int, datetime, int]]] = {}
        for callback_id, b in backlog:
            key, place = (b.topic, b.language), (b.deadline_class, b.queue_entered_at, callback_id)
            self._order.setdefault(key, []).append(place)
            self._places[callback_id] = (key, place)
        for places in self._order.values():
            places.sort()

    def __len__(self) -> int:
        return len(self._places)

    def put(self, callback_id: int, b: Backlogged) -> None:
        """Request *callback_id* is open, in place *b*."""
        self.drop(callback_id)
        key, place = (b.topic, b.language), (b.deadline_class, b.queue_entered_at, callback_id)
        bisect.insort(self._order.setdefault(key, []), place)
        self._places[callback_id] = (key, place)

    def drop(self, callback_id: int) -> None:
        """Request *callback_id* is no longer open (if it was)."""
        known = self._places.pop(callback_id, None)
        if known is None:
            return
        key, place = known
        places = self._order[key]
        del places[bisect.bisect_left(places, place)]

    def ahead(self, topic: str, language: str, deadline_class: int, entered: datetime) -> int:
        """Open requests for *topic* in *language* that a new one (of *deadline_class*,
        caller queued at *entered*) would be served after: a better class, or the same
        and earlier."""
        places = self._order.get((topic, language), [])
        return bisect.bisect_right(places, (deadline_class, entered, math.inf))


def estimated_wait(snapshot: QueueSnapshot) -> timedelta | None:
    """Expected wait before an advisor takes the call; None when nobody is staffed.

    With every advisor busy, the k-th caller in line waits for k departures;
    with ``staffed`` advisors each taking ``mean_handle`` on average, one
    leaves every ``mean_handle / staffed``.
    """
    if snapshot.staffed <= 0:
        return None
    ahead = snapshot.position - snapshot.free
    if ahead <= 0:
        return timedelta(0)
    return snapshot.mean_handle * ahead / snapshot.staffed


def expected_callback_start(
    now: datetime,
    snapshot: QueueSnapshot,
    capacity: Iterable[CapacitySpan],
    by: datetime | None = None,
) -> datetime | None:
    """When a callback requested now can be expected to ring, or None beyond :data:`HORIZON`
    (and, given *by*, None if it would ring after *by*).

    Work ahead of it: the live callers ahead, the callbacks ahead in the
    same deadline class, and what busy advisors are finishing (half a handle
    time each on average). It is served at the rate the planned advisors
    have left over after live calls. *by* stops the walk at the promise: on a busy
    line most offers cannot keep it, and they need not read the days after it.
    """
    busy = max(snapshot.staffed - snapshot.free, 0)
    jobs_ahead = snapshot.callbacks_ahead + max(snapshot.position - 1, 0)
    work = (jobs_ahead + busy / 2) * snapshot.mean_handle.total_seconds()
    limit = now + HORIZON
    for span in capacity:
        start = max(span.start, now)
        if start >= limit or (by is not None and start > by):
            return None
        if span.end <= start:
            continue
        rate = span.advisors - snapshot.live_load
        if rate <= 0:
            continue
        available = rate * (span.end - start).total_seconds()
        if work <= available:
            expected = start + timedelta(seconds=work / rate)
            return None if by is not None and expected > by else expected
        work -= available
    return None


class RotaCapacity:
    """Capacity planned by the ``[[staffing]]`` blocks, cut to opening hours and the
    dialling window."""

    def __init__(
        self,
        calendar: Calendar,
        blocks: Sequence[StaffingBlock],
        dial_window: DailyRange | None = None,
    ) -> None:
        self.calendar = calendar
        self._blocks = blocks
        self._window = dial_window
        self._matching_blocks: dict[tuple[str, str], list[StaffingBlock]] = {}
        self._planned: Memo[tuple[datetime, str, str], tuple[CapacitySpan, ...]] = Memo(
            REMEMBERED_OPEN_SPANS
        )
        """Capacity in each open span (keyed by its end), remembered: every offer walks
        the days ahead, and the plan for a day never changes under one set of rules."""

    def blocks_at(self, at: datetime) -> list[StaffingBlock]:
        """The staffing blocks planned at instant *at* (the line being open or not)."""
        local = self.calendar.local(at)
        minute = local.hour * 60 + local.minute
        weekday = WEEKDAYS[local.weekday()]
        return [
            b
            for b in self._blocks
            if weekday in b.days and b.hours.start_minute <= minute < b.hours.end_minute
        ]

    def spans(self, skill: str, language: str, start: datetime) -> Iterator[CapacitySpan]:
        """Planned capacity from *start* on, in order, up to :data:`HORIZON` ahead."""
        if not self._matching(skill, language):
            return
        for open_span in self.calendar.spans_from(start):
            if open_span.start >= start + HORIZON:
                return
            for span in self._planned_in(open_span, skill, language):
                if span.start >= start:
                    yield span
                elif span.end > start:  # *start* falls inside it: the rest of it
                    yield CapacitySpan(start, span.end, span.advisors)

    def _matching(self, skill: str, language: str) -> list[StaffingBlock]:
        blocks = self._matching_blocks.get((skill, language))
        if blocks is None:
            blocks = self._matching_blocks[skill, language] = [
                b for b in self._blocks if b.skill == skill and language in b.languages
            ]
        return blocks

    def _planned_in(self, open_span: Span, skill: str, language: str) -> tuple[CapacitySpan, ...]:
        """The capacity in the whole of the open span *open_span* is part of (it may start
        later, as the first span from an instant does)."""
        key = (open_span.end, skill, language)
        planned = self._planned.get(key)
        if planned is None:
            whole = self.calendar.open_span_at(open_span.start)
            assert whole is not None and whole.end == open_span.end
            blocks = self._matching(skill, language)
            planned = self._planned.keep(
                key,
                tuple(
                    span
                    for window in self._dial_windows(whole)
                    for span in self._split_by_blocks(window, blocks)
                ),
            )
        return planned

    def _dial_windows(self, span: Span) -> list[Span]:
        if self._window is None:
            return [span]
        window = (self._window.start_minute, self._window.end_minute)
        inside = self.calendar.within_window(span, window)
        return [inside] if inside is not None else []

    def _split_by_blocks(
        self, window: Span, blocks: Sequence[StaffingBlock]
    ) -> Iterator[CapacitySpan]:
        day = self.calendar.local_date(window.start)
        weekday = WEEKDAYS[day.weekday()]
        edges = {window.start, window.end}
        active = [b for b in blocks if weekday in b.days]
        for block in active:
            for minute in (block.hours.start_minute, block.hours.end_minute):
                edge = self.calendar.at_minute(day, minute)
                if window.start < edge < window.end:
                    edges.add(edge)
        ordered = sorted(edges)
        for a, b in pairwise(ordered):
            count = sum(
                blk.advisors
                for blk in active
                if self.calendar.at_minute(day, blk.hours.start_minute) <= a
                and b <= self.calendar.at_minute(day, blk.hours.end_minute)
            )
            if count:
                yield CapacitySpan(a, b, count)
