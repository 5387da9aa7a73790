"""The line as the store knows it: what the engine reads when a caller asks where they
stand.

Who is staffed (the advisors signed in with the topic's skill and the
caller's language), how many callers queued in the last hour and the open
callback requests are the store's, whichever provider answered. Who waits
in a queue, and how long recent calls took, each provider knows its own way
(Twilio's webhooks from the database, the Asterisk adapter from memory), so
a provider's line supplies those two reads. Only a step that asks (a caller
choosing a topic, waiting, taking a callback) pays for the reads, once per
step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.forecast import BacklogIndex, CapacitySpan, QueueSnapshot, RotaCapacity
from callflow.engine.promise import deadline_class
from callflow.store.callbacks import open_backlog
from callflow.store.models import Advisor, AdvisorLanguage, AdvisorSkill, AdvisorState, Call

RECENT_HANDLES = 50
ARRIVAL_WINDOW = timedelta(hours=1)
SIGNED_IN = (AdvisorState.AVAILABLE, AdvisorState.BUSY, AdvisorState.WRAP_UP)


@dataclass(frozen=True, slots=True)
class _Staff:
    skills: frozenset[str]
    languages: frozenset[str]
    state: AdvisorState
    ready_at: datetime | None

    def free(self, now: datetime) -> bool:
        if self.state is AdvisorState.AVAILABLE:
            return True
        return self.state is AdvisorState.WRAP_UP and (self.ready_at or now) <= now


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
        self._staff: list[_Staff] | None = None
        self._backlog: BacklogIndex | None = None

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
        skill = self._config.queues[topic].skill
        able = [s for s in self._advisors() if skill in s.skills and language in s.languages]
        handle = self._mean_handle(topic)
        arrivals = self._arrivals(topic)
        promise_class = int(deadline_class(self._config.queues[topic].promise))
        return QueueSnapshot(
            position=position,
            free=sum(1 for s in able if s.free(now)),
            staffed=len(able),
            mean_handle=handle,
            live_load=arrivals / ARRIVAL_WINDOW.total_seconds() * handle.total_seconds(),
            callbacks_ahead=self._callbacks().ahead(
                topic, language, promise_class, entered_at or now
            ),
        )

    def capacity(self, topic: str, language: str, start: datetime) -> Iterable[CapacitySpan]:
        return self._capacity.spans(self._config.queues[topic].skill, language, start)

    # -- reads, each once per step --------------------------------------------------

    def _queued(self, topic: str) -> list[tuple[datetime, str]]:
        if topic not in self._waiting:
            self._waiting[topic] = self._callers(topic)
        return self._waiting[topic]

    def _advisors(self) -> list[_Staff]:
        if self._staff is None:
            skills: dict[int, set[str]] = {}
            for advisor_id, skill in self._session.execute(
                select(AdvisorSkill.advisor_id, AdvisorSkill.skill)
            ):
                skills.setdefault(advisor_id, set()).add(skill)
            languages: dict[int, set[str]] = {}
            for advisor_id, code in self._session.execute(
                select(AdvisorLanguage.advisor_id, AdvisorLanguage.language)
            ):
                languages.setdefault(advisor_id, set()).add(code)
            rows = self._session.execute(
                select(Advisor.id, Advisor.state, Advisor.ready_at).where(
                    Advisor.enabled.is_(True), Advisor.state.in_(SIGNED_IN)
                )
            )
            self._staff = [
                _Staff(
                    frozenset(skills.get(advisor_id, ())),
                    frozenset(languages.get(advisor_id, ())),
                    state,
                    ready_at,
                )
                for advisor_id, state, ready_at in rows
            ]
        return self._staff

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

    def _callbacks(self) -> BacklogIndex:
        if self._backlog is None:
            self._backlog = open_backlog(self._session)
        return self._backlog
