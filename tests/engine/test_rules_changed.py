"""Rules that change while callers are in the line: what a waiting caller notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callflow.config.models import HotlineConfig
from callflow.engine.commands import ClearTimer, LeaveQueue, SetTimer
from callflow.engine.events import RulesChanged, TimerFired
from callflow.engine.state import Phase
from callflow.engine.vocabulary import CallOutcome, EventKind
from tests.engine.caller import Caller
from tests.engine.conftest import MakeCaller, with_settings

HELSINKI = ZoneInfo("Europe/Helsinki")
MOBILE = "+358401234567"
HEALTH, OTHER = "1", "3"


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=HELSINKI).astimezone(UTC)


def closure(start_hour: int, end_hour: int) -> dict[str, Any]:
    """A closure of Monday 12 January, stored while the line runs."""
    start = datetime(2026, 1, 12, start_hour)
    return {
        f"calendar.closures.{start:%Y-%m-%dT%H:%M}": {
            "start": start,
            "end": datetime(2026, 1, 12, end_hour),
            "reason": "Sähkökatko",
        }
    }


def emergency(scope: str, mode: str, start_hour: int = 10) -> dict[str, Any]:
    texts = {"fi": "Häiriö.", "sv": "Störning.", "en": "Outage."}
    return {
        f"emergency.{scope}": {
            "texts": texts,
            "mode": mode,
            "start": datetime(2026, 1, 12, start_hour),
        }
    }


def waiting(call: MakeCaller, topic: str = HEALTH, at: datetime | None = None) -> Caller:
    """A Finnish caller in the queue of *topic*, music playing."""
    c = call(at=at or local(2026, 1, 12, 10)).dial(MOBILE).press("1").listen().press(topic)
    c.listen()
    assert c.queued and c.state.closing_at == local(2026, 1, 12, 15)
    return c


def told(c: Caller, config: HotlineConfig) -> list[Any]:
    """What the call does when told of *config*'s rules."""
    before = len(c.commands)
    c.rules_become(config)
    return c.commands[before:]


class TestAClosureStartsWhileCallersWait:
    def test_the_callback_policy_turns_the_caller_into_a_callback(self, call: MakeCaller) -> None:
        c = waiting(call)
        entered = c.state.queue_entered_at
        c.later(timedelta(minutes=2))
        c.rules_become(with_settings(closure(10, 11)))
        assert LeaveQueue("health") in c.commands and not c.queued
        assert c.heard()[-1] == "closing_callback"
        assert c.record_data(EventKind.CLOSING_TIME) == {"topic": "health", "policy": "callback"}
        assert c.state.closing_at is None
        c.listen().press("1")
        (stored,) = c.stored
        assert stored.queue_entered_at == entered  # they keep their place
        c.listen()
        assert c.state.outcome == CallOutcome.CALLBACK_REQUESTED

    def test_the_serve_policy_keeps_the_caller_waiting(self, call: MakeCaller) -> None:
        c = waiting(call, OTHER)
        c.rules_become(with_settings(closure(10, 11)))
        assert c.heard()[-1] == "closing_serve"
        c.listen()
        assert c.queued and c.state.phase is Phase.QUEUED and c.state.closing_handled
        assert c.state.closing_at is None  # the line's own closing at 15 says nothing again
        c.advisor_answers()
        assert c.state.outcome == CallOutcome.ANSWERED

    def test_hearing_of_it_twice_changes_nothing(self, call: MakeCaller) -> None:
        c = waiting(call)
        c.rules_become(with_settings(closure(10, 11)))
        before = c.state.to_dict()
        assert c.send(RulesChanged()) == []
        assert c.state.to_dict() == before

    def test_an_emergency_closing_the_queue_applies_its_policy(self, call: MakeCaller) -> None:
        c = waiting(call)
        c.rules_become(with_settings(emergency("health", "close")))
        assert not c.queued and c.heard()[-1] == "closing_callback"
        assert c.record_data(EventKind.CLOSING_TIME)["emergency"] == "health"

    def test_an_emergency_closing_another_queue_leaves_the_caller_be(
        self, call: MakeCaller
    ) -> None:
        c = waiting(call, OTHER)
        assert told(c, with_settings(emergency("health", "close"))) == []
        assert c.queued

    def test_an_emergency_closing_the_line_closes_every_queue(self, call: MakeCaller) -> None:
        c = waiting(call, OTHER)
        c.rules_become(with_settings(emergency("line", "close")))
        assert c.heard()[-1] == "closing_serve"
        assert c.record_data(EventKind.CLOSING_TIME)["emergency"] == "line"

    def test_an_emergency_that_serves_or_takes_callbacks_leaves_the_queued_be(
        self, call: MakeCaller
    ) -> None:
        c = waiting(call)
        assert told(c, with_settings(emergency("line", "callbacks_only"))) == []
        assert told(c, with_settings(emergency("health", "serve"))) == []
        assert c.queued


class TestTheClosingTimerFollows:
    def test_a_closure_later_today_moves_it_and_closes_the_queue_then(
        self, call: MakeCaller
    ) -> None:
        c = waiting(call)
        assert told(c, with_settings(closure(12, 13))) == [
            SetTimer("closing", local(2026, 1, 12, 12))
        ]
        assert c.queued
        c.fire("closing")
        assert c.now == local(2026, 1, 12, 12) and not c.queued
        assert c.heard()[-1] == "closing_callback"

    def test_the_closure_removed_moves_it_back(self, call: MakeCaller) -> None:
        c = waiting(call)
        c.rules_become(with_settings(closure(12, 13)))
        moved = c.state.closing_at
        assert told(c, with_settings({})) == [SetTimer("closing", local(2026, 1, 12, 15))]
        c.now = local(2026, 1, 12, 12)
        assert c.send(TimerFired("closing", moved)) == []  # the stale timer does nothing
        assert c.queued

    def test_shorter_hours_for_today_move_it(self, call: MakeCaller) -> None:
        hours = {
            "calendar.special_hours.2026-01-12": {"hours": ["09:00-12:00"], "reason": "Koulutus"}
        }
        c = waiting(call)
        assert told(c, with_settings(hours)) == [SetTimer("closing", local(2026, 1, 12, 12))]

    def test_an_emergency_closing_the_queue_later_sets_it_to_its_start(
        self, call: MakeCaller
    ) -> None:
        c = waiting(call)
        c.rules_become(with_settings(emergency("health", "close", start_hour=11)))
        assert c.state.closing_at == local(2026, 1, 12, 11)
        c.fire("closing")
        assert not c.queued
        assert c.record_data(EventKind.CLOSING_TIME)["emergency"] == "health"

    def test_a_file_reloaded_open_round_the_clock_clears_it(
        self, call: MakeCaller, config: HotlineConfig
    ) -> None:
        data = config.model_dump()
        data["hours"] = {day: ["00:00-24:00"] for day in data["hours"]}
        data["calendar"] = {"holidays": None, "closures": [], "special_hours": []}
        c = waiting(call)
        assert told(c, HotlineConfig.model_validate(data)) == [ClearTimer("closing")]
        assert c.queued and c.state.closing_at is None


class TestCallersInTheMenus:
    def test_nothing_changes_until_their_next_decision(self, call: MakeCaller) -> None:
        """In the topic menu when the closure begins: choosing a topic gets them the
        closed line's callback offer, not the queue."""
        c = call().dial(MOBILE).press("1").listen()
        assert told(c, with_settings(closure(10, 11))) == []
        c.press(HEALTH)
        assert not c.queued
        assert (
            c.last_text()
            == "Jos haluat, että soitamme sinulle tänään kello 11.30 mennessä, paina 1."
        )
