"""The recommendation question: who is asked, what their keys mean, and the inbound call
that hears it once the advisor has hung up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.config.models import HotlineConfig, SurveyConfig
from callflow.engine import survey
from callflow.engine.calendar import Calendar
from callflow.engine.commands import (
    Ask,
    ClearTimer,
    Hangup,
    LookUpSurveyed,
    OpenSurvey,
    Play,
    ReleaseAdvisor,
    StopPlayback,
    StoreSurveyAnswer,
)
from callflow.engine.events import (
    AdvisorConnected,
    CallerHungUp,
    DigitPressed,
    PlaybackFinished,
    SurveyLookedUp,
    SurveyOpened,
    TimerFired,
)
from callflow.engine.state import CallState, Phase
from callflow.engine.vocabulary import CallOutcome, Channel, EventKind
from tests.engine.caller import Caller
from tests.engine.conftest import MONDAY_10, MakeCaller, with_settings

MOBILE = "+358401234567"

SURVEY_ON = with_settings({"survey.enabled": True, "survey.share": 1.0})


def talked(call: MakeCaller, cfg: HotlineConfig = SURVEY_ON, number: str | None = MOBILE) -> Caller:
    """A caller who queued, was answered, and whose advisor has just hung up."""
    c = call(cfg=cfg).dial(number, withheld=number is None).press("1").press("1").listen()
    c.later(timedelta(minutes=1))
    c.advisor_answers("nurse-1")
    c.later(timedelta(minutes=5))
    c.advisor_hangs_up()
    return c


def hear_out(c: Caller) -> Caller:
    """Hear the survey's current prompt to its end."""
    assert c.state.survey is not None and c.state.survey.playback is not None
    c.later(timedelta(seconds=6))
    c.send(PlaybackFinished(c.state.survey.playback))
    return c


def keys(c: Caller, pressed: str) -> Caller:
    for key in pressed:
        c.later(timedelta(milliseconds=400))
        c.send(DigitPressed(key))
    return c


def wait_out(c: Caller) -> Caller:
    """Let the survey's timer run out."""
    assert c.state.survey is not None and c.state.survey.timer_at is not None
    c.now = c.state.survey.timer_at
    c.send(TimerFired(survey.SURVEY_TIMER, c.now))
    return c


def scores(c: Caller) -> list[int]:
    return [answer.score for answer in c.survey_answers]


# -- who is asked -----------------------------------------------------------------------


class TestWhoIsAsked:
    def test_off_asks_nobody(self) -> None:
        assert not survey.applies(SurveyConfig(enabled=False, share=1.0), "call-1")

    def test_a_dropped_conversation_is_never_asked(self) -> None:
        assert not survey.applies(SurveyConfig(enabled=True), "call-1", dropped=True)

    @given(st.text(min_size=1, max_size=40))
    def test_the_share_is_the_same_answer_every_time(self, key: str) -> None:
        config = SurveyConfig(enabled=True, share=0.5)
        assert survey.applies(config, key) == survey.applies(config, key)
        assert survey.share_point(key) == survey.share_point(key)
        assert 0 <= survey.share_point(key) < 1

    def test_the_share_is_fixed_across_processes(self) -> None:
        # A hash of the key's bytes, not Python's per-process string hash.
        assert survey.share_point("call-1") == pytest.approx(0.03431, abs=1e-5)

    def test_about_the_share_of_contacts_are_asked(self) -> None:
        config = SurveyConfig(enabled=True, share=0.3)
        asked = sum(survey.applies(config, f"call-{n}") for n in range(4000))
        assert 1080 < asked < 1320

    def test_a_callback_is_keyed_apart_from_a_call(self) -> None:
        assert survey.contact_key(callback_id=7) == "callback:7"
        assert survey.contact_key(call_id="abc") == "abc"


# -- the machine on its own (as a dialler runs it) ----------------------------------------


class TestTheMachine:
    config = SurveyConfig(enabled=True, answer_timeout=timedelta(seconds=8))

    def test_a_number_asked_today_is_not_asked_again(self, calendar: Calendar) -> None:
        state, out = survey.begin(
            channel=Channel.CALLBACK,
            language="fi",
            topic="health",
            number_e164=MOBILE,
            now=MONDAY_10,
            calendar=calendar,
            callback_id=7,
        )
        assert out == [LookUpSurveyed(MOBILE, calendar.at_minute(MONDAY_10.date(), 0), 7)]
        assert survey.step(state, SurveyLookedUp(asked_today=True), MONDAY_10, self.config) == []
        assert state.done

    def test_a_callback_is_asked_and_answered_by_its_id(self, calendar: Calendar) -> None:
        state, _ = survey.begin(
            channel=Channel.WEB,
            language="sv",
            topic="social",
            number_e164=MOBILE,
            now=MONDAY_10,
            calendar=calendar,
            callback_id=7,
        )
        [opened] = survey.step(state, SurveyLookedUp(asked_today=False), MONDAY_10, self.config)
        assert isinstance(opened, OpenSurvey)
        assert (opened.callback_id, opened.call_id, opened.channel) == (7, None, Channel.WEB)
        out = survey.step(state, SurveyOpened(31), MONDAY_10, self.config)
        [ask] = [c for c in out if isinstance(c, Ask)]
        assert [p.key for p in ask.prompts] == ["survey_question"]
        assert ask.prompts[0].language == "sv"
        out = survey.step(state, DigitPressed("7"), MONDAY_10, self.config)
        assert StoreSurveyAnswer(31, 7, MONDAY_10) in out
        assert StopPlayback(ask.playback_id) in out  # the key cut the question short
        [thanks] = [c for c in out if isinstance(c, Play)]
        survey.step(state, PlaybackFinished(thanks.playback_id), MONDAY_10, self.config)
        assert state.done

    def test_state_round_trips(self, call: MakeCaller) -> None:
        c = keys(hear_out(talked(call)), "1")
        assert c.state.survey is not None
        again = CallState.from_dict(c.state.to_dict())
        assert again == c.state


# -- the inbound call --------------------------------------------------------------------


class TestAfterACall:
    def test_the_advisor_hanging_up_puts_the_question(self, call: MakeCaller) -> None:
        c = talked(call)
        assert c.state.phase is Phase.SURVEY and not c.hung_up_by_line
        [opened] = c.surveys
        assert (opened.call_id, opened.channel, opened.topic) == ("call-1", Channel.PHONE, "health")
        assert opened.number_e164 == MOBILE
        assert c.heard()[-1] == "survey_question"
        assert c.record_data(EventKind.SURVEY_ASKED)["channel"] == "phone"

    def test_seven(self, call: MakeCaller) -> None:
        c = keys(hear_out(talked(call)), "7")
        assert scores(c) == [7]
        assert c.record_data(EventKind.SURVEY_ANSWERED)["score"] == 7
        assert c.heard()[-1] == "survey_thanks" and not c.ended
        hear_out(c)
        assert c.ended and c.hung_up_by_line
        assert c.state.outcome == CallOutcome.ANSWERED
        assert c.record_data(EventKind.ENDED)["outcome"] == "answered"

    def test_ten_is_one_then_zero(self, call: MakeCaller) -> None:
        c = keys(hear_out(talked(call)), "10")
        assert scores(c) == [10]
        assert c.heard()[-1] == "survey_thanks"

    def test_one_then_silence_is_one(self, call: MakeCaller) -> None:
        c = keys(hear_out(talked(call)), "1")
        assert scores(c) == [] and not c.ended
        wait_out(c)
        assert scores(c) == [1]
        assert c.heard()[-1] == "survey_thanks"

    def test_one_waits_the_ten_timeout_for_the_zero(self, call: MakeCaller) -> None:
        c = keys(hear_out(talked(call)), "1")
        assert c.state.survey is not None
        assert c.state.survey.timer_at == c.now + SURVEY_ON.survey.ten_timeout

    @pytest.mark.parametrize("second", ["#", "*", "5"])
    def test_one_then_another_key_is_one(self, call: MakeCaller, second: str) -> None:
        c = keys(hear_out(talked(call)), "1" + second)
        assert scores(c) == [1]
        assert ClearTimer(survey.SURVEY_TIMER) in c.commands

    def test_one_then_a_hang_up_is_one(self, call: MakeCaller) -> None:
        c = keys(hear_out(talked(call)), "1")
        c.hang_up()
        assert scores(c) == [1] and c.ended and not c.hung_up_by_line

    @pytest.mark.parametrize("key", ["*", "#"])
    def test_star_and_hash_are_no_answer(self, call: MakeCaller, key: str) -> None:
        c = keys(hear_out(talked(call)), key + "9")
        assert scores(c) == [9]

    def test_silence_is_no_answer_and_goodbye(self, call: MakeCaller) -> None:
        c = wait_out(hear_out(talked(call)))
        assert scores(c) == [] and c.heard()[-1] == "goodbye"
        assert not c.records(EventKind.SURVEY_ANSWERED)
        hear_out(c)
        assert c.ended and c.hung_up_by_line and c.state.outcome == CallOutcome.ANSWERED

    def test_silence_waits_the_answer_timeout_after_the_question(self, call: MakeCaller) -> None:
        c = hear_out(talked(call))
        assert c.state.survey is not None
        assert c.state.survey.timer_at == c.now + SURVEY_ON.survey.answer_timeout

    def test_hanging_up_is_no_answer(self, call: MakeCaller) -> None:
        c = talked(call).hang_up()
        assert scores(c) == [] and len(c.surveys) == 1
        assert c.ended and not c.hung_up_by_line
        assert c.state.outcome == CallOutcome.ANSWERED

    def test_not_asked_twice_a_day(self, call: MakeCaller) -> None:
        c = call(cfg=SURVEY_ON)
        c.surveyed_today.add(MOBILE)
        c.dial(MOBILE).press("1").press("1").listen()
        c.advisor_answers("nurse-1")
        c.advisor_hangs_up()
        assert c.surveys == [] and c.ended and c.hung_up_by_line
        assert c.state.outcome == CallOutcome.ANSWERED

    def test_a_withheld_number_is_asked_without_a_look_up(self, call: MakeCaller) -> None:
        c = talked(call, number=None)
        assert not any(isinstance(x, LookUpSurveyed) for x in c.commands)
        assert len(c.surveys) == 1 and c.surveys[0].number_e164 is None

    def test_not_after_a_dropped_advisor_leg(self, call: MakeCaller) -> None:
        c = call(cfg=SURVEY_ON).dial(MOBILE).press("1").press("1").listen()
        c.advisor_answers("nurse-1")
        c.advisor_hangs_up(dropped=True)
        assert c.surveys == [] and c.ended and c.hung_up_by_line

    def test_off_hangs_up_at_once(self, call: MakeCaller) -> None:
        c = talked(call, cfg=with_settings({"survey.enabled": False}))
        assert c.surveys == [] and c.ended
        assert [x for x in c.commands if isinstance(x, Hangup)]

    def test_outside_the_share_hangs_up_at_once(self, call: MakeCaller) -> None:
        c = talked(call, cfg=with_settings({"survey.enabled": True, "survey.share": 0.0}))
        assert c.surveys == [] and c.ended

    def test_an_advisor_offered_meanwhile_is_released(self, call: MakeCaller) -> None:
        c = talked(call)
        out = c.send(AdvisorConnected("nurse-2"))
        assert out == [ReleaseAdvisor("nurse-2")]

    def test_news_after_the_end_changes_nothing(self, call: MakeCaller) -> None:
        c = hear_out(keys(hear_out(talked(call)), "8"))
        assert c.ended
        assert c.send(CallerHungUp()) == []
        assert scores(c) == [8]
