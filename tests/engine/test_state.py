"""A call's state survives being written out and read back: a restarted provider carries on."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callflow.engine.commands import CancelCallback, StoreCallback
from callflow.engine.events import (
    AdvisorHungUp,
    CallerHungUp,
    DigitPressed,
    Event,
    ExistingCallback,
    PlaybackFinished,
    TimerFired,
)
from callflow.engine.flow import step
from callflow.engine.state import After, CallState, Menu, Phase, QueueNeed
from callflow.engine.survey import Stage as SurveyStage
from callflow.engine.survey import SurveyState
from callflow.engine.vocabulary import CallOutcome, Channel
from tests.engine.caller import Caller
from tests.engine.conftest import MakeCaller

HELSINKI = ZoneInfo("Europe/Helsinki")
MOBILE = "+358401234567"


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=HELSINKI).astimezone(UTC)


MONDAY_10 = local(2026, 1, 12, 10)
EXISTING = ExistingCallback(
    callback_id=7,
    language="sv",
    topic="social",
    due_at=local(2026, 1, 13, 15),
    expected_at=local(2026, 1, 13, 11),
)


def through_json(state: CallState) -> CallState:
    """What a provider gets back after storing the state as JSON and reading it again."""
    return CallState.from_dict(json.loads(json.dumps(state.to_dict())))


def full_state() -> CallState:
    """A state with every field set away from its default."""
    return CallState(
        call_id="call-42",
        started_at=MONDAY_10,
        phase=Phase.CALLBACK,
        caller_e164=MOBILE,
        withheld=True,
        open_at_arrival=False,
        rules_version=12,
        emergency_said=True,
        language="sv",
        topic="health",
        menu=Menu.READBACK,
        failures=2,
        digits="040123",
        playback="call-42/p7",
        playback_seq=7,
        after=After.NUMBER_FLOW,
        queue_need=QueueNeed.ACCEPTING_OFFER,
        input_at=MONDAY_10 + timedelta(seconds=6),
        announce_at=MONDAY_10 + timedelta(seconds=60),
        closing_at=local(2026, 1, 12, 15),
        queue_entered_at=MONDAY_10 - timedelta(minutes=3),
        in_queue=True,
        offer_open=True,
        offer_declined=True,
        alternative_told=True,
        closing_handled=True,
        callback_after_hours=True,
        offered_at=local(2026, 1, 12, 10, 30),
        callback_number="+35891234567",
        existing=EXISTING,
        callback_id=101,
        advisor_id="nurse-1",
        outcome=CallOutcome.CALLBACK_REQUESTED,
        hung_up=True,
        survey=SurveyState(
            channel=Channel.PHONE,
            language="sv",
            topic="health",
            number_e164=MOBILE,
            call_id="call-42",
            callback_id=7,
            stage=SurveyStage.TEN,
            survey_id=3,
            playback="survey2",
            playback_seq=2,
            timer_at=MONDAY_10 + timedelta(seconds=3),
            score=1,
        ),
    )


class TestCopy:
    def test_a_copy_has_every_field_and_is_its_own(self) -> None:
        """A step works on a copy: equal to the state, and changing it leaves the state be."""
        state = full_state()
        working = state.copy()
        assert working == state
        working.phase = Phase.ENDED
        assert state.phase is Phase.CALLBACK

    def test_the_survey_a_step_changes_in_place_is_the_copys_own(self) -> None:
        """A step whose store fails leaves the call as it was: the survey's answer too, so
        a key pressed again is heard again."""
        state = full_state()
        working = state.copy()
        assert working.survey is not None and state.survey is not None
        working.survey.score = 9
        assert state.survey.score == 1

    def test_adopting_takes_every_field(self) -> None:
        """The stored step's result becomes the call's state, whole."""
        state = CallState(call_id="call-42", started_at=MONDAY_10)
        state.adopt(full_state())
        assert state == full_state()


class TestRoundTrip:
    def test_the_full_example_sets_every_field(self) -> None:
        """The example state leaves no field at its default, so the round trip covers all."""
        full, default = full_state(), CallState(call_id="x", started_at=datetime(2000, 1, 1))
        same = [
            f.name for f in fields(CallState) if getattr(full, f.name) == getattr(default, f.name)
        ]
        assert same == []

    def test_every_field_survives_to_dict_and_back(self) -> None:
        """from_dict(to_dict(s)) gives back an equal state."""
        state = full_state()
        assert CallState.from_dict(state.to_dict()) == state

    def test_every_field_survives_json(self) -> None:
        """The state written as JSON and read back is equal to the original."""
        state = full_state()
        assert through_json(state) == state

    def test_to_dict_is_plain_json(self) -> None:
        """to_dict holds only JSON types: strings, numbers, booleans, None and dicts."""
        data = full_state().to_dict()
        assert json.loads(json.dumps(data)) == data
        assert data["started_at"] == "2026-01-12T08:00:00+00:00"
        assert data["phase"] == "callback" and data["menu"] == "readback"
        assert data["existing"] == {
            "callback_id": 7,
            "language": "sv",
            "topic": "social",
            "due_at": "2026-01-13T13:00:00+00:00",
            "expected_at": "2026-01-13T09:00:00+00:00",
        }

    def test_restored_values_have_their_types(self) -> None:
        """Enums come back as enums and datetimes as aware datetimes, not strings."""
        restored = through_json(full_state())
        assert restored.phase is Phase.CALLBACK
        assert restored.menu is Menu.READBACK
        assert restored.after is After.NUMBER_FLOW
        assert restored.queue_need is QueueNeed.ACCEPTING_OFFER
        assert isinstance(restored.existing, ExistingCallback)
        for name in ("started_at", "input_at", "announce_at", "closing_at", "offered_at"):
            value = getattr(restored, name)
            assert isinstance(value, datetime) and value.utcoffset() == timedelta(0), name
        assert restored.existing.due_at == EXISTING.due_at
        assert restored.existing.due_at.utcoffset() == timedelta(0)
        assert restored.survey is not None
        assert restored.survey.stage is SurveyStage.TEN
        assert restored.survey.channel is Channel.PHONE
        assert isinstance(restored.survey.timer_at, datetime)

    def test_a_fresh_call_survives(self) -> None:
        """A just-arrived call with all optional fields empty round-trips."""
        state = CallState(call_id="call-1", started_at=MONDAY_10)
        data = state.to_dict()
        assert data["menu"] is None and data["existing"] is None and data["input_at"] is None
        assert through_json(state) == state

    def test_a_state_stored_before_live_rules_loads(self) -> None:
        """A queued caller's state stored by the release before live rules (no rules version,
        no emergency flag) is read back as one that has heard no emergency message and
        stepped under no stored change, so its next step hears of the rules in force."""
        stored = full_state().to_dict()
        del stored["rules_version"], stored["emergency_said"]
        restored = CallState.from_dict(json.loads(json.dumps(stored)))
        assert (restored.rules_version, restored.emergency_said) == (0, False)
        assert restored.phase is Phase.CALLBACK and restored.existing == EXISTING

    def test_an_existing_callback_without_an_expected_time_survives(self) -> None:
        """An open callback with no expected time keeps expected_at None."""
        state = full_state()
        state.existing = ExistingCallback(3, "fi", "health", local(2026, 1, 12, 15), None)
        restored = through_json(state)
        assert restored.existing == state.existing
        assert restored.existing is not None and restored.existing.expected_at is None

    def test_local_times_keep_their_instant(self) -> None:
        """A datetime in Helsinki time comes back as the same instant."""
        state = CallState(call_id="c", started_at=datetime(2026, 6, 15, 9, tzinfo=HELSINKI))
        restored = through_json(state)
        assert restored.started_at == datetime(2026, 6, 15, 6, tzinfo=UTC)
        assert restored.started_at.utcoffset() == timedelta(hours=3)


# -- carrying on mid-call ---------------------------------------------------------------


Stage = Callable[[MakeCaller], tuple[Caller, Event]]


def language_prompt_playing(call: MakeCaller) -> tuple[Caller, Event]:
    c = call().dial(MOBILE)
    assert c.state.playback is not None
    return c, PlaybackFinished(c.state.playback)


def language_chosen(call: MakeCaller) -> tuple[Caller, Event]:
    c = call().dial(MOBILE).listen()
    return c, DigitPressed("2")


def topic_menu_silent(call: MakeCaller) -> tuple[Caller, Event]:
    c = call().dial(MOBILE).press("1").listen()
    assert c.state.input_at is not None
    c.now = c.state.input_at
    return c, TimerFired("input", c.state.input_at)


def offer_accepted(call: MakeCaller) -> tuple[Caller, Event]:
    c = call(staffed=2).dial(MOBILE).press("1").press("1").listen()
    assert c.state.menu is Menu.OFFER
    return c, DigitPressed("1")


def queue_announcement(call: MakeCaller) -> tuple[Caller, Event]:
    c = call().dial(MOBILE).press("1").press("1").listen()
    c.queue.ahead = 5  # the queue grew: the announcement now offers a callback
    assert c.state.announce_at is not None
    c.now = c.state.announce_at
    return c, TimerFired("announce", c.state.announce_at)


def number_half_keyed(call: MakeCaller) -> tuple[Caller, Event]:
    c = call(staffed=2).dial(None, withheld=True).press("1").press("1").press("1")
    c.press("040123")
    assert c.state.menu is Menu.NUMBER and c.state.digits == "040123"
    return c, DigitPressed("4")


def readback_confirmed(call: MakeCaller) -> tuple[Caller, Event]:
    c = call(staffed=2).dial(MOBILE).press("1").press("1").press("1").listen()
    assert c.state.menu is Menu.READBACK
    return c, DigitPressed("1")


def existing_cancelled(call: MakeCaller) -> tuple[Caller, Event]:
    c = call(existing=EXISTING).dial(MOBILE).listen()
    assert c.state.existing == EXISTING
    return c, DigitPressed("2")


def closing_time(call: MakeCaller) -> tuple[Caller, Event]:
    c = call(at=local(2026, 1, 12, 14, 50)).dial(MOBILE).press("1").press("1").listen()
    assert c.state.closing_at is not None
    c.now = c.state.closing_at
    return c, TimerFired("closing", c.state.closing_at)


def advisor_hangs_up(call: MakeCaller) -> tuple[Caller, Event]:
    c = call().dial(MOBILE).press("1").press("1").listen().advisor_answers("nurse-1")
    assert c.state.phase is Phase.CONNECTED
    return c, AdvisorHungUp()


def caller_hangs_up_in_queue(call: MakeCaller) -> tuple[Caller, Event]:
    c = call().dial(MOBILE).press("1").press("1").listen()
    c.later(timedelta(seconds=40))
    return c, CallerHungUp()


STAGES = [
    language_prompt_playing,
    language_chosen,
    topic_menu_silent,
    offer_accepted,
    queue_announcement,
    number_half_keyed,
    readback_confirmed,
    existing_cancelled,
    closing_time,
    advisor_hangs_up,
    caller_hangs_up_in_queue,
]


@pytest.mark.parametrize("stage", STAGES, ids=[s.__name__ for s in STAGES])
def test_a_restored_call_carries_on_identically(call: MakeCaller, stage: Stage) -> None:
    """A state saved mid-call and restored answers the next event exactly as the original."""
    c, event = stage(call)
    restored = through_json(c.state)
    assert restored == c.state
    from_restored = step(restored, event, c.now, c.context)
    from_original = step(c.state, event, c.now, c.context)
    assert from_original  # the event matters: something happens
    assert from_restored == from_original
    assert restored == c.state


def test_a_restored_call_can_finish_the_whole_call(call: MakeCaller) -> None:
    """Swapping in the restored state mid-call, the caller's callback is stored the same."""
    original = call(staffed=2).dial(MOBILE).press("1").press("1").press("1")
    twin = call(staffed=2).dial(MOBILE).press("1").press("1").press("1")
    twin.state = through_json(twin.state)
    for c in (original, twin):
        c.press("1").listen()
    assert twin.stored == original.stored and len(original.stored) == 1
    assert twin.commands == original.commands
    assert twin.state == original.state
    assert twin.state.outcome == CallOutcome.CALLBACK_REQUESTED


def test_a_restored_pending_question_cancels_the_same_callback(call: MakeCaller) -> None:
    """A restored state still knows which open callback the caller is asked about."""
    c = call(existing=EXISTING).dial(MOBILE).listen()
    c.state = through_json(c.state)
    c.press("2")
    assert CancelCallback(7) in c.commands
    assert not any(isinstance(x, StoreCallback) for x in c.commands)
