"""Live queues and simulated advisors: where the simulator's answers to the engine's
``LookUpQueue`` come from.

Callers wait per topic in the order they entered; who is connected to whom
is decided by the production matcher (:mod:`callflow.engine.matching`), so
the simulator's runs measure the policy the line runs.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from callflow.config.models import HotlineConfig
from callflow.engine import matching
from callflow.engine.commands import LookUpQueue
from callflow.engine.forecast import BacklogIndex, QueueSnapshot, RotaCapacity
from callflow.engine.matching import FreeAdvisor, WaitingCaller
from callflow.engine.promise import deadline_class
from callflow.service.queue_reads import ARRIVAL_WINDOW, RECENT_HANDLES


class People(Protocol):
    """People at the desk, free for work beside the simulated advisors (:mod:`.desk`)."""

    def free(self) -> list[FreeAdvisor[str]]:
        """Those believed free now; the store has the last word (:meth:`take`)."""
        ...

    def take(self, advisor_id: str, call_id: str) -> bool:
        """Make them busy with the queued caller *call_id*; False if they no longer
        can be."""
        ...


class _Nobody:
    """No people at the desk: a simulation run faster than anyone could click."""

    def free(self) -> list[FreeAdvisor[str]]:
        return []

    def take(self, advisor_id: str, call_id: str) -> bool:
        return False


NOBODY: People = _Nobody()


@dataclass
class SimAdvisor:
    advisor_id: str
    skill: str
    languages: frozenset[str]
    idle_since: datetime
    busy_until: datetime | None = None
    serving: str | None = None

    @property
    def free(self) -> bool:
        return self.serving is None and self.busy_until is None

    def can_serve(self, skill: str, language: str) -> bool:
        return self.skill == skill and language in self.languages


class SimulatedFloor:
    """The line's live state, in memory; the simulator's
    :class:`~callflow.service.queue_reads.QueueReads`."""

    def __init__(self, config: HotlineConfig, capacity: RotaCapacity) -> None:
        self.config = config
        self._capacity = capacity
        self.backlog = BacklogIndex()
        """Open callback requests; the shell refreshes it from the store between steps."""
        self._advisors: dict[str, SimAdvisor] = {}
        self._able: dict[tuple[str, str], list[SimAdvisor]] = {}
        """Those signed in who can serve a skill in a language, by both: every snapshot
        counts them, and sign-ins are rare beside snapshots."""
        self.queues: dict[str, list[WaitingCaller]] = {name: [] for name in config.queues}
        self._handles: dict[str, deque[float]] = {
            name: deque(maxlen=RECENT_HANDLES) for name in config.queues
        }
        self._arrivals: dict[str, deque[datetime]] = {name: deque() for name in config.queues}
        self._promise_classes = {
            name: int(deadline_class(queue.promise)) for name, queue in config.queues.items()
        }
        self._entered: dict[str, datetime] = {}
        self._arrived: set[str] = set()

    # -- staffing -----------------------------------------------------------------

    @property
    def advisors(self) -> Mapping[str, SimAdvisor]:
        """The advisors signed in, by id."""
        return self._advisors

    def sign_in(self, advisor: SimAdvisor) -> None:
        self._advisors[advisor.advisor_id] = advisor
        self._able.clear()

    def sign_out(self, advisor_id: str) -> None:
        del self._advisors[advisor_id]
        self._able.clear()

    def able_to_serve(self, skill: str, language: str) -> list[SimAdvisor]:
        """The advisors signed in who can serve *skill* in *language*, free or not."""
        able = self._able.get((skill, language))
        if able is None:
            able = self._able[skill, language] = [
                a for a in self._advisors.values() if a.can_serve(skill, language)
            ]
        return able

    def staff_from_rota(self, at: datetime) -> list[SimAdvisor]:
        """Sign in the advisors the ``[[staffing]]`` blocks plan for *at*."""
        added = []
        planned = self._capacity.blocks_at(at)
        for block in self.config.staffing:
            if block not in planned:
                continue
            for _ in range(block.advisors):
                number = sum(a.skill == block.skill for a in self.advisors.values()) + 1
                advisor = SimAdvisor(
                    advisor_id=f"{block.skill}-{number}",
                    skill=block.skill,
                    languages=frozenset(block.languages),
                    idle_since=at,
                )
                self.sign_in(advisor)
                added.append(advisor)
        return added

    def topic_of_skill(self, skill: str) -> str | None:
        return next((n for n, q in self.config.queues.items() if q.skill == skill), None)

    def mean_handle(self, topic: str) -> timedelta:
        """Mean of recent handle times; the configured default until there are some."""
        recent = self._handles[topic]
        if not recent:
            return self.config.queues[topic].default_handle_time
        return timedelta(seconds=sum(recent) / len(recent))

    def record_handle(self, topic: str, handled: timedelta) -> None:
        self._handles[topic].append(handled.total_seconds())

    # -- queues -------------------------------------------------------------------

    def enqueue(self, call_id: str, topic: str, language: str, entered_at: datetime) -> None:
        bisect.insort(self.queues[topic], WaitingCaller(entered_at, call_id, language))
        self._entered[call_id] = entered_at
        if call_id not in self._arrived:  # a caller back from a failed number entry is no new load
            self._arrived.add(call_id)
            self._arrivals[topic].append(entered_at)

    def dequeue(self, call_id: str, topic: str) -> None:
        entered_at = self._entered.pop(call_id, None)
        if entered_at is None:
            return
        waiting = self.queues[topic]
        place = bisect.bisect_left(waiting, WaitingCaller(entered_at, call_id, ""))
        if place < len(waiting) and waiting[place].call_id == call_id:
            del waiting[place]

    def _recent_arrivals(self, topic: str, now: datetime) -> int:
        arrivals = self._arrivals[topic]
        while arrivals and arrivals[0] <= now - ARRIVAL_WINDOW:
            arrivals.popleft()
        return len(arrivals)

    def match(self, people: People = NOBODY) -> list[tuple[str, str]]:
        """Pair free advisors with waiting callers (the production matcher), take them out
        of the queues and make the advisors busy; returns (call id, advisor id) pairs.

        The free *people* at the desk are matched beside the simulated advisors by the same
        rule. A pair with one of them holds only if they can be taken in the store; one who
        cannot (on a break since they were read) is left out and the rest are matched
        again, so no caller is left waiting for them and none is served out of turn."""
        in_order = self.config.provider.serves_queue_front_only
        seats = [
            FreeAdvisor(a.advisor_id, frozenset({a.skill}), a.languages, a.idle_since)
            for a in self.advisors.values()
            if a.free
        ]
        others = {person.advisor_id: person for person in people.free()}
        paired: list[tuple[str, str]] = []
        while True:
            queues = [
                matching.Queue(topic, self.config.queues[topic].skill, waiting, in_order)
                for topic, waiting in self.queues.items()
            ]
            refused = False
            for pair in matching.match(queues, [*seats, *others.values()]):
                call_id = pair.caller.call_id
                if pair.advisor_id in others:
                    del others[pair.advisor_id]
                    if not people.take(pair.advisor_id, call_id):
                        refused = True
                        break
                else:
                    self.advisors[pair.advisor_id].serving = call_id
                self.dequeue(call_id, pair.queue)
                paired.append((call_id, pair.advisor_id))
            if not refused:
                return paired
            seats = [seat for seat in seats if self.advisors[seat.advisor_id].free]

    def release(self, advisor_id: str, now: datetime) -> None:
        """The advisor is free again (call over, or a connection that fell through)."""
        advisor = self.advisors[advisor_id]
        advisor.serving = None
        advisor.busy_until = None
        advisor.idle_since = now

    # -- QueueReads ----------------------------------------------------------------

    def snapshot(
        self, session: object, call_id: str, question: LookUpQueue, now: datetime
    ) -> QueueSnapshot:
        """The queue from memory (*session* has nothing the floor does not know)."""
        topic, language, entered_at = question.topic, question.language, question.entered_at
        waiting = self.queues[topic]
        if entered_at is None:
            position = len(waiting) + 1
        else:  # the queue is kept in order: those strictly before this caller
            position = 1 + bisect.bisect_left(waiting, WaitingCaller(entered_at, call_id, ""))
        skill = self.config.queues[topic].skill
        eligible = self.able_to_serve(skill, language)
        handle = self.mean_handle(topic)
        recent = self._recent_arrivals(topic, now)
        live_load = recent / ARRIVAL_WINDOW.total_seconds() * handle.total_seconds()
        promise_class = self._promise_classes[topic]
        return QueueSnapshot(
            position=position,
            free=sum(1 for a in eligible if a.free),
            staffed=len(eligible),
            mean_handle=handle,
            live_load=live_load,
            callbacks_ahead=self.backlog.ahead(topic, language, promise_class, entered_at or now),
        )
