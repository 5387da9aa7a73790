"""A line the exchange or carrier lost is no caller's abandon, wherever the call was."""

from __future__ import annotations

from datetime import timedelta

from callflow.engine.commands import ClearTimer, LeaveQueue
from callflow.engine.vocabulary import CallOutcome, EventKind
from tests.engine.caller import Caller
from tests.engine.conftest import MakeCaller

MOBILE = "+358401234567"


def queued(caller: Caller) -> Caller:
    return caller.press("1").press("1")


def test_dropped_in_the_queue_is_dropped_not_abandoned(call: MakeCaller) -> None:
    c = queued(call().dial(MOBILE)).listen()  # the announcement takes 5 s
    c.later(timedelta(seconds=37))
    c.dropped_by_the_exchange()
    assert c.state.outcome == CallOutcome.DROPPED and c.ended
    assert not c.records(EventKind.ABANDONED)
    assert c.record_data(EventKind.DROPPED) == {
        "stage": "queue",
        "topic": "health",
        "menu": None,
        "wait_s": 42.0,
    }
    assert c.record_data(EventKind.QUEUE_LEFT)["reason"] == "dropped"
    assert LeaveQueue("health") in c.commands
    assert ClearTimer("announce") in c.commands and ClearTimer("closing") in c.commands
    assert c.record_data(EventKind.ENDED)["outcome"] == "dropped"


def test_dropped_in_the_menus_is_dropped_not_abandoned(call: MakeCaller) -> None:
    c = call().dial(MOBILE).press("1").dropped_by_the_exchange()
    assert c.state.outcome == CallOutcome.DROPPED
    assert not c.records(EventKind.ABANDONED)
    assert c.record_data(EventKind.DROPPED) == {
        "stage": "ivr",
        "topic": None,
        "menu": "topic",
        "wait_s": None,
    }
    assert not c.hung_up_by_line and c.state.input_at is None and c.state.playback is None


def test_a_callback_agreed_before_the_drop_still_stands(call: MakeCaller) -> None:
    """They said yes to a callback on their number: losing the line does not undo it."""
    c = queued(call(staffed=2).dial(MOBILE)).press("1").dropped_by_the_exchange()
    assert [s.number_e164 for s in c.stored] == [MOBILE]
    assert c.state.outcome == CallOutcome.CALLBACK_REQUESTED
    assert not c.records(EventKind.DROPPED)


def test_an_answered_call_stays_answered_when_the_line_is_lost(call: MakeCaller) -> None:
    c = queued(call().dial(MOBILE)).advisor_answers().dropped_by_the_exchange()
    assert c.state.outcome == CallOutcome.ANSWERED and c.ended
    assert not c.records(EventKind.DROPPED) and not c.records(EventKind.ABANDONED)
