"""The simulated floor pairs callers with its advisors and the people at the desk by the one
matcher; the store has the last word on whether a person can still be taken."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.forecast import RotaCapacity
from callflow.engine.matching import FreeAdvisor
from callflow.providers.sim.floor import SimAdvisor, SimulatedFloor
from tests.store.helpers import T0


class Desk:
    """People at the desk; those in *away* went on a break since they were read."""

    def __init__(self, *people: FreeAdvisor[str], away: frozenset[str] = frozenset()) -> None:
        self.people = list(people)
        self.away = away
        self.taken: list[tuple[str, str]] = []

    def free(self) -> list[FreeAdvisor[str]]:
        return self.people

    def take(self, advisor_id: str, call_id: str) -> bool:
        if advisor_id in self.away:
            return False
        self.taken.append((advisor_id, call_id))
        return True


def aino(idle_since: timedelta) -> FreeAdvisor[str]:
    return FreeAdvisor("7", frozenset({"nurse"}), frozenset({"fi"}), T0 + idle_since)


@pytest.fixture
def floor(config: HotlineConfig) -> SimulatedFloor:
    floor = SimulatedFloor(config, RotaCapacity(Calendar.from_config(config), config.staffing))
    floor.sign_in(SimAdvisor("nurse-1", "nurse", frozenset({"fi"}), T0))
    floor.enqueue("call-1", "health", "fi", T0)
    return floor


class TestPeopleAtTheDesk:
    def test_the_longest_idle_is_taken_whether_person_or_simulated(
        self, floor: SimulatedFloor
    ) -> None:
        desk = Desk(aino(idle_since=-timedelta(minutes=5)))
        assert floor.match(desk) == [("call-1", "7")]
        assert desk.taken == [("7", "call-1")]
        assert floor.advisors["nurse-1"].free
        assert floor.queues["health"] == []

    def test_a_person_who_cannot_be_taken_leaves_the_caller_to_the_next_able(
        self, floor: SimulatedFloor
    ) -> None:
        desk = Desk(aino(idle_since=-timedelta(minutes=5)), away=frozenset({"7"}))
        assert floor.match(desk) == [("call-1", "nurse-1")]
        assert desk.taken == []
        assert floor.advisors["nurse-1"].serving == "call-1"

    def test_a_caller_nobody_can_take_keeps_their_place(self, floor: SimulatedFloor) -> None:
        floor.advisors["nurse-1"].serving = "call-0"
        desk = Desk(aino(idle_since=timedelta(0)), away=frozenset({"7"}))
        assert floor.match(desk) == []
        assert [caller.call_id for caller in floor.queues["health"]] == ["call-1"]
