"""The queue is asked for with a command and its answer: the step that needs it stops at
``LookUpQueue`` and the answer, ``QueueLookedUp``, carries on exactly there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from callflow.engine.commands import Ask, LeaveQueue, LookUpQueue, Play
from callflow.engine.events import QueueLookedUp
from callflow.engine.forecast import QueueSnapshot
from callflow.engine.state import Phase, QueueNeed
from callflow.engine.vocabulary import CallOutcome, EventKind
from tests.engine.caller import Caller
from tests.engine.conftest import MakeCaller

MOBILE = "+358401234567"


def local(y: int, m: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=ZoneInfo("Europe/Helsinki")).astimezone(UTC)


def answer(position: int = 3, free: int = 0, staffed: int = 4) -> QueueLookedUp:
    return QueueLookedUp(QueueSnapshot(position, free, staffed, timedelta(minutes=6), 0.0, 0))


def asked(c: Caller) -> LookUpQueue:
    """The question the last step ended with: nothing is said or done after it."""
    assert isinstance(c.commands[-1], LookUpQueue), c.commands[-1]
    return c.commands[-1]


def queued(c: Caller) -> Caller:
    """Finnish, health: in the queue, the queue's answers given at once."""
    return c.dial(MOBILE).press("1").press("1")


def queued_unanswered(c: Caller) -> Caller:
    """Finnish, health; the queue's answers are left to the test from the topic on."""
    c.dial(MOBILE).press("1")
    c.answers_queue = False
    return c.press("1")


class TestEachStepThatNeedsTheQueue:
    def test_joining_asks_from_the_callers_place_and_announces_on_the_answer(
        self, call: MakeCaller
    ) -> None:
        c = queued_unanswered(call())
        assert asked(c) == LookUpQueue("health", "fi", c.now)
        assert c.state.queue_need is QueueNeed.FIRST_ANNOUNCEMENT
        assert c.queued and not c.records(EventKind.POSITION_ANNOUNCED)
        c.send(answer(position=3))
        assert c.record_data(EventKind.POSITION_ANNOUNCED)["position"] == 3
        assert c.last_prompts()[0].key == "queue_position"
        assert c.state.queue_need is None

    def test_a_first_answer_with_an_advisor_free_says_nothing(self, call: MakeCaller) -> None:
        c = queued_unanswered(call())
        c.send(answer(position=1, free=1))
        assert "queue_position" not in c.heard()
        assert c.state.announce_at is not None

    def test_the_announcement_timer_asks_and_the_answer_is_said(self, call: MakeCaller) -> None:
        c = queued_unanswered(call())
        c.send(answer(position=1))
        c.listen()
        entered = c.state.queue_entered_at
        c.fire("announce")
        assert asked(c) == LookUpQueue("health", "fi", entered)
        assert c.state.queue_need is QueueNeed.ANNOUNCEMENT
        c.send(answer(position=7, staffed=0))
        assert [p.key for p in c.last_prompts()[:2]] == ["queue_position", "queue_wait_unknown"]
        assert c.records(EventKind.POSITION_ANNOUNCED)[-1].data["position"] == 7

    def test_closing_time_asks_before_turning_the_caller_to_a_callback(
        self, call: MakeCaller
    ) -> None:
        c = queued(call(at=local(2026, 1, 12, 14, 50)))
        c.answers_queue = False
        c.fire("closing")
        assert asked(c).entered_at == c.state.queue_entered_at
        assert c.state.queue_need is QueueNeed.CLOSING_TIME
        assert c.record_data(EventKind.CLOSING_TIME)["policy"] == "callback"
        assert LeaveQueue("health") not in c.commands
        c.send(answer())
        assert LeaveQueue("health") in c.commands
        assert c.heard()[-1] == "closing_callback"
        assert c.state.phase is Phase.CALLBACK

    def test_the_after_hours_offer_asks_as_a_newcomer(self, call: MakeCaller) -> None:
        c = call(at=local(2026, 1, 12, 18)).dial(MOBILE).press("1").listen()
        c.answers_queue = False
        c.press("1")
        assert asked(c) == LookUpQueue("health", "fi", None)
        assert c.state.queue_need is QueueNeed.AFTER_HOURS_OFFER
        c.send(answer())
        assert isinstance(c.commands[-1], Ask)
        assert c.last_text() == "Jos haluat, että soitamme sinulle huomenna aamupäivällä, paina 1."

    def test_taking_the_offer_while_queued_asks_whether_its_time_still_holds(
        self, call: MakeCaller
    ) -> None:
        c = queued(call(staffed=2))  # the wait reaches the threshold: an offer
        assert c.last_prompts()[-1].key == "offer_callback"
        c.answers_queue = False
        c.press("1")
        assert asked(c).entered_at == c.state.queue_entered_at
        assert c.state.queue_need is QueueNeed.ACCEPTING_OFFER
        assert not c.records(EventKind.CALLBACK_ACCEPTED)
        c.send(answer())
        assert c.record_data(EventKind.CALLBACK_ACCEPTED)["after_hours"] is False
        assert LeaveQueue("health") in c.commands
        assert c.last_prompts()[-1].key == "readback"


class TestTotal:
    def test_an_answer_nobody_waits_for_changes_nothing(self, call: MakeCaller) -> None:
        c = queued(call()).listen()
        before = c.state.to_dict()
        assert c.send(answer()) == []
        assert c.state.to_dict() == before

    def test_a_hang_up_while_the_queue_is_asked_for_ends_the_call_as_before(
        self, call: MakeCaller
    ) -> None:
        c = queued(call()).listen()
        c.answers_queue = False
        c.fire("announce")
        c.hang_up()
        assert c.ended and c.state.outcome == CallOutcome.ABANDONED_QUEUE
        assert c.state.queue_need is None
        assert LeaveQueue("health") in c.commands
        assert c.send(answer()) == []

    def test_nothing_is_said_or_recorded_for_the_question_itself(self, call: MakeCaller) -> None:
        c = queued(call()).listen()
        c.answers_queue = False
        said = len([x for x in c.commands if isinstance(x, Play | Ask)])
        recorded = len(c.records())
        c.fire("announce")
        assert len([x for x in c.commands if isinstance(x, Play | Ask)]) == said
        assert len(c.records()) == recorded
