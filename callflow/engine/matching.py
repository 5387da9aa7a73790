"""Who is connected next, and to which advisor: the one matcher of queued callers and free
advisors, for every provider and the simulator.

The policy, for every pass over the line:

- **Across queues, the caller who has waited longest** among those a free advisor can
  serve (the queue's skill and the caller's language) goes first. The longest wait is the
  one closest to breaking the line's promise, and serving each queue in the order callers
  entered keeps the place announced to each of them true.
- **A caller nobody free can serve does not hold up the ones behind**: a Swedish caller
  waiting for a Swedish-speaking nurse leaves the free Finnish nurse to the Finnish caller
  behind. No advisor stays idle while a caller they can serve waits, which is what Erlang
  C and A assume; the simulator's checks against them measure this policy.
- **The advisor idle longest** among those able to serve that caller takes them: work is
  spread evenly, as app_queue's ``leastrecent`` spreads it. Ties go to the lower id.

A queue that hands over only its front caller (Twilio's ``<Dial><Queue>``: the advisor
called is given whoever is first) is *served in order*: there, a front caller nobody free
can serve holds the queue, since an advisor called for one behind would be handed them.

Pure: callers and advisors in, pairs out. A pass with nobody free reads no caller, and one
with advisors free stops as soon as none is left, so a thousand callers waiting for busy
advisors cost nothing.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

AdvisorId = TypeVar("AdvisorId", int, str)
"""Advisors are numbered in the store and named in the simulator."""


@dataclass(frozen=True, order=True, slots=True)
class WaitingCaller:
    """A caller in a queue, ordered as they entered (ties by call id)."""

    entered_at: datetime
    call_id: str
    language: str = field(compare=False)


@dataclass(frozen=True, slots=True)
class Queue:
    """One topic's queue: the skill its callers need, and its callers in entry order."""

    name: str
    skill: str
    callers: Sequence[WaitingCaller]
    served_in_order: bool = False
    """Only the front caller can be handed over (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class FreeAdvisor(Generic[AdvisorId]):
    """An advisor ready for a call now."""

    advisor_id: AdvisorId
    skills: frozenset[str]
    languages: frozenset[str]
    idle_since: datetime


@dataclass(frozen=True, slots=True)
class Pair(Generic[AdvisorId]):
    """A caller of *queue* and the advisor to connect them with."""

    queue: str
    caller: WaitingCaller
    advisor_id: AdvisorId


def match(
    queues: Iterable[Queue], advisors: Iterable[FreeAdvisor[AdvisorId]]
) -> list[Pair[AdvisorId]]:
    """Pair free *advisors* with waiting callers of *queues*, by the policy of the module
    docstring; each advisor and each caller is in at most one pair, first pair first."""
    longest_idle_first = sorted(advisors, key=lambda a: (a.idle_since, a.advisor_id))
    if not longest_idle_first:
        return []
    able: dict[tuple[str, str], deque[FreeAdvisor[AdvisorId]]] = {}
    free_with_skill: Counter[str] = Counter()
    for advisor in longest_idle_first:
        free_with_skill.update(advisor.skills)
        for skill in advisor.skills:
            for language in advisor.languages:
                able.setdefault((skill, language), deque()).append(advisor)
    taken: set[AdvisorId] = set()
    pairs: list[Pair[AdvisorId]] = []

    # The queues' callers merged in entry order; a queue whose skill nobody free has is
    # not walked further.
    walks = [(queue, iter(queue.callers)) for queue in queues if free_with_skill[queue.skill]]
    fronts: list[tuple[WaitingCaller, int]] = []
    for number, (_, callers) in enumerate(walks):
        _push_next(fronts, callers, number)
    while fronts and len(taken) < len(longest_idle_first):
        caller, number = heapq.heappop(fronts)
        queue, callers = walks[number]
        chosen = _longest_idle_able(able.get((queue.skill, caller.language)), taken)
        if chosen is not None:
            taken.add(chosen.advisor_id)
            free_with_skill.subtract(chosen.skills)
            pairs.append(Pair(queue.name, caller, chosen.advisor_id))
        elif queue.served_in_order:
            continue  # the front caller holds the queue
        if free_with_skill[queue.skill] > 0:
            _push_next(fronts, callers, number)
    return pairs


def _push_next(
    fronts: list[tuple[WaitingCaller, int]], callers: Iterable[WaitingCaller], number: int
) -> None:
    caller = next(iter(callers), None)
    if caller is not None:
        heapq.heappush(fronts, (caller, number))


def _longest_idle_able(
    able: deque[FreeAdvisor[AdvisorId]] | None, taken: set[AdvisorId]
) -> FreeAdvisor[AdvisorId] | None:
    """The first of *able* (longest idle first) not yet taken; taken ones are dropped."""
    while able:
        if able[0].advisor_id not in taken:
            return able[0]
        able.popleft()
    return None
