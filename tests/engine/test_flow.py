"""Every branch of the call flow, as a caller would notice it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.commands import (
    Ask,
    ClearTimer,
    ConnectAdvisor,
    EnterQueue,
    Hangup,
    LeaveQueue,
    ReleaseAdvisor,
    StopPlayback,
)
from callflow.engine.events import AdvisorConnected, DigitPressed, ExistingCallback, TimerFired
from callflow.engine.state import Menu, Phase
from callflow.engine.vocabulary import CallOutcome, EventKind
from tests.engine.caller import Caller
from tests.engine.conftest import MakeCaller

HELSINKI = ZoneInfo("Europe/Helsinki")
MOBILE = "+358401234567"


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=HELSINKI).astimezone(UTC)


def changed(config: HotlineConfig, path: str, value: Any) -> HotlineConfig:
    """A copy of *config* with the value at dotted *path* replaced."""
    data = config.model_dump()
    target = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return HotlineConfig.model_validate(data)


def queued(caller: Caller, language: str = "1", topic: str = "1") -> Caller:
    return caller.press(language).press(topic)


class TestToTheQueue:
    def test_language_then_topic_then_queue(self, call: MakeCaller) -> None:
        """Finnish, health: the caller waits in the health queue and hears their place."""
        c = queued(call().dial(MOBILE))
        assert c.heard()[:5] == [
            "greeting",
            "language_option",
            "language_option",
            "language_option",
            "topic_intro",
        ]
        enter = next(x for x in c.commands if isinstance(x, EnterQueue))
        assert (enter.topic, enter.language, enter.entered_at) == ("health", "fi", c.now)
        assert c.last_text() == ("Olet jonossa sijalla 1. Arvioitu odotusaika on noin 2 minuuttia.")
        assert c.state.announce_at is None  # set once the announcement has been heard
        c.listen()
        assert c.state.announce_at == c.now + timedelta(seconds=60)

    def test_language_options_are_each_in_their_own_language(self, call: MakeCaller) -> None:
        c = call().dial(MOBILE)
        assert c.last_text() == (
            "Tervetuloa sosiaali- ja terveyspalvelujen neuvontaan. Suomeksi, paina 1. "
            "På svenska, tryck 2. For English, press 3."
        )

    def test_swedish_caller_hears_swedish(self, call: MakeCaller) -> None:
        c = call().dial(MOBILE).press("2")
        assert c.last_text().startswith("Välj vad ditt ärende gäller. Hälsofrågor, tryck 1.")

    def test_free_advisor_means_no_announcement(self, call: MakeCaller) -> None:
        """With an advisor free the caller is connected, not told their place."""
        c = queued(call(free=1).dial(MOBILE))
        assert "queue_position" not in c.heard()
        assert c.state.announce_at is not None

    def test_announcements_repeat_with_fresh_figures(self, call: MakeCaller) -> None:
        c = queued(call().dial(MOBILE)).listen()
        c.queue.ahead = 0
        c.queue.staffed = 1
        c.fire("announce")
        assert (
            c.last_text()
            == "Olet jonossa sijalla 1. Arvioitu odotusaika on noin 6 minuuttia. "
            + (
                "Voit myös jättää soittopyynnön. Paikkasi jonossa säilyy. "
                "Jos haluat, että soitamme sinulle tänään kello 10.30 mennessä, paina 1."
            )
        )

    def test_nobody_staffed_means_wait_unknown(self, call: MakeCaller) -> None:
        c = queued(call(staffed=0, planned=0).dial(MOBILE))
        assert "queue_wait_unknown" in c.heard()

    def test_advisor_answers_and_the_call_completes(self, call: MakeCaller) -> None:
        c = queued(call().dial(MOBILE)).listen()
        c.later(timedelta(seconds=95))
        c.advisor_answers("nurse-1")
        assert ConnectAdvisor("nurse-1") in c.commands
        assert c.record_data(EventKind.ANSWERED)["wait_s"] == 100.0
        assert ClearTimer("announce") in c.commands
        c.advisor_hangs_up()
        assert c.ended and c.state.outcome == CallOutcome.ANSWERED
        assert c.record_data(EventKind.ENDED)["outcome"] == "answered"

    def test_single_language_line_skips_the_language_menu(
        self, call: MakeCaller, config: HotlineConfig
    ) -> None:
        only_finnish = config.model_dump()
        only_finnish["languages"] = {"fi": only_finnish["languages"]["fi"]}
        for queue in only_finnish["queues"].values():
            queue["names"] = {"fi": queue["names"]["fi"]}
        for block in only_finnish["staffing"]:
            block["languages"] = ["fi"]
        c = call(cfg=HotlineConfig.model_validate(only_finnish)).dial(MOBILE)
        assert c.heard() == ["greeting"]
        c.listen()
        assert c.heard()[1] == "topic_intro"
        assert c.record_data(EventKind.LANGUAGE_CHOSEN)["by"] == "only"


class TestMenusWithBadInput:
    def test_language_silence_three_times_falls_back_to_the_default(self, call: MakeCaller) -> None:
        c = call().dial(MOBILE).stay_silent().stay_silent().stay_silent()
        assert c.heard().count("no_input") == 2
        assert c.state.language == "fi"
        assert c.record_data(EventKind.LANGUAGE_CHOSEN)["by"] == "default"
        assert len(c.records(EventKind.INPUT_TIMEOUT)) == 3
        assert c.last_prompts()[0].key == "topic_intro"

    def test_wrong_language_key_then_a_right_one(self, call: MakeCaller) -> None:
        c = call().dial(MOBILE).press("9")
        assert c.last_prompts()[0].key == "invalid_choice"
        assert "greeting" not in [p.key for p in c.last_prompts()]
        c.press("2")
        assert c.state.language == "sv"

    @pytest.mark.parametrize("how", ["silence", "wrong keys"])
    def test_topic_failures_lead_to_the_general_queue(self, call: MakeCaller, how: str) -> None:
        c = call().dial(MOBILE).press("1")
        for _ in range(3):
            c.stay_silent() if how == "silence" else c.press("7")
        enter = next(x for x in c.commands if isinstance(x, EnterQueue))
        assert enter.topic == "other"
        assert c.record_data(EventKind.TOPIC_CHOSEN)["by"] == "fallback"

    def test_keys_during_a_prompt_stop_it(self, call: MakeCaller) -> None:
        """Barge-in: the caller need not hear the whole menu."""
        c = call().dial(MOBILE)
        playing = c.state.playback
        c.barge_in("3")
        assert StopPlayback(playing) in c.commands
        assert c.state.language == "en"

    def test_a_stale_timer_changes_nothing(self, call: MakeCaller) -> None:
        c = call().dial(MOBILE).listen()
        before = c.state.to_dict()
        assert c.send(TimerFired("input", c.now - timedelta(seconds=1))) == []
        assert c.state.to_dict() == before


class TestClosed:
    def test_closed_without_callbacks_says_the_hours_in_every_language(
        self, call: MakeCaller, config: HotlineConfig
    ) -> None:
        cfg = config
        for name in config.queues:
            cfg = changed(cfg, f"queues.{name}.callbacks.when_closed", False)
        c = call(at=local(2026, 1, 12, 16), cfg=cfg).dial(MOBILE)
        assert c.heard() == ["greeting", "closed"] * 3 + ["goodbye"]
        assert "Avaamme seuraavan kerran huomenna kello 9.00." in c.last_text()
        assert "Vi öppnar nästa gång i morgon klockan 9.00." in c.last_text()
        c.listen()
        assert c.hung_up_by_line and c.state.outcome == CallOutcome.CLOSED
        assert "next_opening" in c.record_data(EventKind.CALL_CLOSED_HOURS)

    def test_closed_on_christmas_day_names_monday(self, call: MakeCaller) -> None:
        c = call(at=local(2026, 12, 25, 11)).dial(MOBILE).press("1")
        assert c.last_text().startswith(
            "Neuvonta on nyt suljettu. Palvelemme arkisin kello 9–15. "
            "Avaamme seuraavan kerran maanantaina kello 9.00."
        )

    def test_callback_for_the_next_opening(self, call: MakeCaller) -> None:
        """Evening call: language, topic, a callback offered for tomorrow morning."""
        c = call(at=local(2026, 1, 12, 18)).dial(MOBILE).press("1").listen()
        assert c.last_prompts()[0].key == "topic_intro"
        c.press("1")
        assert c.last_text() == "Jos haluat, että soitamme sinulle huomenna aamupäivällä, paina 1."
        c.press("1").press("1")
        (stored,) = c.stored
        assert stored.not_before == local(2026, 1, 13, 9)
        assert stored.due_at == local(2026, 1, 13, 11)  # health: next opening + 2 h
        assert stored.queue_entered_at == stored.requested_at
        c.listen()
        assert c.state.outcome == CallOutcome.CALLBACK_REQUESTED

    def test_declining_the_after_hours_offer_ends_politely(self, call: MakeCaller) -> None:
        c = call(at=local(2026, 1, 12, 18)).dial(MOBILE).press("1").listen().press("2")
        c.stay_silent()
        assert c.heard()[-1] == "goodbye"
        c.listen()
        assert c.state.outcome == CallOutcome.CLOSED and not c.stored

    def test_closed_topic_menu_lists_only_topics_that_take_callbacks(
        self, call: MakeCaller, config: HotlineConfig
    ) -> None:
        cfg = changed(config, "queues.social.callbacks.when_closed", False)
        c = call(at=local(2026, 1, 12, 18), cfg=cfg).dial(MOBILE).press("1").listen()
        options = [p for p in c.last_prompts() if p.key == "topic_option"]
        assert [dict(p.params)["digit"] for p in options] == [1, 3]


class TestOverflowOffer:
    def test_offered_at_entry_when_too_many_wait(self, call: MakeCaller) -> None:
        c = queued(call(ahead=3, mean_handle=timedelta(seconds=30)).dial(MOBILE))
        assert isinstance(c.commands[-1], Ask)
        assert c.last_prompts()[-1].key == "offer_callback"
        assert c.record_data(EventKind.CALLBACK_OFFERED)["after_hours"] is False

    def test_offered_at_entry_when_the_wait_is_long(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE))  # 1 × 6 min / 2 = 3 min, the threshold
        assert c.last_prompts()[-1].key == "offer_callback"

    def test_offered_while_waiting_when_the_queue_grows(self, call: MakeCaller) -> None:
        c = queued(call().dial(MOBILE)).listen()
        assert "offer_callback" not in c.heard()
        c.queue.ahead = 5
        c.fire("announce")
        assert c.last_prompts()[-1].key == "offer_callback"

    @pytest.mark.parametrize(
        ("callbacks_ahead", "said"),
        [
            (0, "tänään kello 10.30 mennessä"),
            (10, "tänään kello 11.00 mennessä"),
            (60, "tänään kello 13.30 mennessä"),
        ],
    )
    def test_promised_time_follows_the_backlog(
        self, call: MakeCaller, callbacks_ahead: int, said: str
    ) -> None:
        """Two advisors, both busy, six minutes a call: the backlog sets the time."""
        c = queued(call(staffed=2, planned=2, callbacks_ahead=callbacks_ahead).dial(MOBILE))
        assert said in c.last_text()

    def test_next_working_day_queue_promises_tomorrow_morning(self, call: MakeCaller) -> None:
        c = queued(call(staffed=1, planned=2, callbacks_ahead=150).dial(MOBILE), topic="2")
        assert "huomenna aamupäivällä" in c.last_text()

    def test_health_callback_that_would_miss_today_is_not_offered(self, call: MakeCaller) -> None:
        """Same-day promise: a callback due tomorrow is not offered; the urgent number is said."""
        c = queued(call(staffed=2, planned=2, callbacks_ahead=150).dial(MOBILE))
        assert "offer_callback" not in c.heard()
        assert c.last_prompts()[-1].key == "health_urgent"
        assert "116 117" in c.last_text()
        assert c.record_data(EventKind.CALLBACK_WITHHELD)["reason"] == "promise"
        c.listen().fire("announce")
        assert "health_urgent" not in [p.key for p in c.last_prompts()]  # said once

    def test_health_after_the_cutoff_is_promised_by_next_morning(self, call: MakeCaller) -> None:
        c = queued(call(at=local(2026, 1, 12, 14, 40), staffed=2, planned=2).dial(MOBILE))
        assert c.last_prompts()[-1].key == "offer_callback"
        c.press("1").press("1")
        assert c.stored[0].due_at == local(2026, 1, 13, 11)

    def test_keep_waiting_policy_says_nothing_extra(
        self, call: MakeCaller, config: HotlineConfig
    ) -> None:
        c = queued(call(staffed=1, planned=2, callbacks_ahead=400).dial(MOBILE), topic="2")
        assert c.heard()[-2:] == ["queue_position", "queue_wait_minutes"]
        assert c.records(EventKind.CALLBACK_WITHHELD)

    def test_silence_keeps_the_caller_waiting_and_1_still_works(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE)).stay_silent()
        assert c.state.phase is Phase.QUEUED and c.queued
        assert c.state.announce_at is not None
        c.later(timedelta(seconds=20))
        c.send(DigitPressed("1"))
        assert LeaveQueue("health") in c.commands
        assert c.last_prompts()[0].key == "readback"

    def test_declining_stops_further_offers(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE)).press("2")
        assert c.record_data(EventKind.CALLBACK_DECLINED)["explicit"] is True
        c.fire("announce")
        assert "offer_callback" not in [p.key for p in c.last_prompts()]

    def test_wrong_key_at_the_offer_repeats_it(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE)).press("5")
        assert [p.key for p in c.last_prompts()] == [
            "invalid_choice",
            "offer_keeps_place",
            "offer_callback",
        ]


class TestNumber:
    def test_caller_id_read_back_in_finnish_groups(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE)).press("1")
        assert c.last_text().startswith("Soitamme numeroon 040 123 4567.")
        c.press("1")
        (stored,) = c.stored
        assert (stored.number_e164, stored.topic, stored.language) == (MOBILE, "health", "fi")
        assert stored.queue_entered_at < stored.requested_at  # keeps their place in line
        assert stored.expected_at == local(2026, 1, 12, 10, 30)
        assert stored.due_at == local(2026, 1, 12, 15)
        assert "tänään kello 10.30 mennessä" in c.last_text()

    def test_entering_another_number(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE)).press("1").press("2")
        assert c.last_prompts()[0].key == "enter_number"
        c.press("091234567#")
        assert c.last_text().startswith("Soitamme numeroon 09 123 4567.")
        c.press("1")
        assert c.stored[0].number_e164 == "+35891234567"

    def test_withheld_caller_must_enter_a_number(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(None, withheld=True))
        assert not any(x for x in c.commands if type(x).__name__ == "LookUpPendingCallback")
        c.press("1")
        assert c.last_prompts()[0].key == "enter_number"

    @pytest.mark.parametrize("bad", ["123#", "0600123456#", "00467012345678#", "#"])
    def test_invalid_numbers_are_refused_without_logging_digits(
        self, call: MakeCaller, bad: str
    ) -> None:
        c = queued(call(staffed=2).dial(None, withheld=True)).press("1").press(bad)
        if bad == "#":  # nothing keyed in at all
            assert c.last_prompts()[0].key == "no_input"
            return
        assert c.last_prompts()[0].key == "invalid_number"
        data = c.record_data(EventKind.NUMBER_REJECTED)
        assert set(data) == {"menu", "attempt", "problem", "digits"}
        assert not any(ch.isdigit() for ch in str(data["problem"]))

    def test_number_entry_ends_after_a_pause(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(None, withheld=True)).press("1").press("0401234567")
        c.fire("input")
        assert c.last_prompts()[0].key == "readback"

    def test_star_starts_the_number_again(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(None, withheld=True)).press("1").press("0409*0401234567#")
        assert c.last_text().startswith("Soitamme numeroon 040 123 4567.")

    def test_three_bad_numbers_return_the_caller_to_their_place(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(None, withheld=True))
        entered = c.state.queue_entered_at
        c.press("1").press("1#").press("12#").press("123#")
        enters = [x for x in c.commands if isinstance(x, EnterQueue)]
        assert len(enters) == 2 and enters[1].entered_at == entered
        assert c.state.phase is Phase.QUEUED and c.state.offer_declined
        assert not c.stored

    def test_silence_at_the_read_back_returns_to_the_queue(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE)).press("1")
        c.stay_silent().stay_silent().stay_silent()
        assert c.state.phase is Phase.QUEUED and not c.stored


class TestExistingCallback:
    def existing(self, language: str = "sv") -> ExistingCallback:
        return ExistingCallback(
            callback_id=7,
            language=language,
            topic="social",
            due_at=local(2026, 1, 13, 15),
            expected_at=local(2026, 1, 13, 11),
        )

    def test_caller_hears_about_it_in_its_language_and_keeps_it(self, call: MakeCaller) -> None:
        c = call(existing=self.existing()).dial(MOBILE)
        assert c.last_text() == (
            "Välkommen till social- och hälsovårdsrådgivningen. Du har redan bett oss ringa upp "
            "dig, och vi ringer i morgon förmiddag. Tryck 1 om du vill behålla begäran, eller 2 om "
            "du vill avboka den."
        )
        c.press("1")
        assert c.heard()[-1] == "pending_kept"
        c.listen()
        assert c.state.outcome == CallOutcome.CALLBACK_KEPT and not c.stored and not c.cancelled

    def test_cancelling_it_leads_on_to_the_topics(self, call: MakeCaller) -> None:
        c = call(existing=self.existing("fi")).dial(MOBILE).press("2")
        assert c.cancelled == [7]
        assert c.heard()[-1] == "pending_cancelled"
        c.listen()
        assert c.last_prompts()[0].key == "topic_intro"
        assert c.record_data(EventKind.CALLBACK_CANCELLED)["callback_id"] == 7

    def test_no_answer_keeps_it(self, call: MakeCaller) -> None:
        c = call(existing=self.existing()).dial(MOBILE)
        c.stay_silent().stay_silent().stay_silent()
        assert c.heard()[-1] == "pending_kept" and not c.cancelled

    def test_a_store_refusal_becomes_the_same_question(self, call: MakeCaller) -> None:
        """Another call stored a request for the number meanwhile: keep it, or replace it."""
        c = queued(call(staffed=2).dial(MOBILE))
        c.reject_store_with = self.existing("fi")
        c.press("1").press("1")
        assert not c.stored and c.last_prompts()[0].key == "pending_exists"
        c.press("2")
        assert c.cancelled == [7]
        assert len(c.stored) == 1 and c.stored[0].topic == "health"


class TestClosingTime:
    def test_callback_policy_converts_a_queued_caller(self, call: MakeCaller) -> None:
        c = queued(call(at=local(2026, 1, 12, 14, 50)).dial(MOBILE)).listen()
        entered = c.state.queue_entered_at
        c.fire("closing")
        assert c.now == local(2026, 1, 12, 15)
        assert LeaveQueue("health") in c.commands
        assert c.heard()[-1] == "closing_callback"
        c.listen().press("1")
        (stored,) = c.stored
        assert stored.queue_entered_at == entered
        assert stored.not_before == local(2026, 1, 13, 9)
        assert stored.due_at == local(2026, 1, 13, 11)
        assert c.record_data(EventKind.CLOSING_TIME)["policy"] == "callback"

    def test_serve_policy_keeps_the_caller_in_the_queue(self, call: MakeCaller) -> None:
        c = queued(call(at=local(2026, 1, 12, 14, 50)).dial(MOBILE), topic="3").listen()
        c.fire("closing")
        assert c.heard()[-1] == "closing_serve"
        c.listen()
        assert c.state.phase is Phase.QUEUED and c.queued and c.state.announce_at is not None

    def test_silent_known_caller_gets_the_callback_on_their_own_number(
        self, call: MakeCaller
    ) -> None:
        c = queued(call(at=local(2026, 1, 12, 14, 50)).dial(MOBILE)).listen().fire("closing")
        c.listen().stay_silent().stay_silent().stay_silent()
        assert c.stored[0].number_e164 == MOBILE

    def test_withheld_caller_without_a_number_is_told_to_call_again(self, call: MakeCaller) -> None:
        c = queued(call(at=local(2026, 1, 12, 14, 50)).dial(None, withheld=True)).listen()
        c.fire("closing").listen().stay_silent().stay_silent().stay_silent()
        assert c.heard()[-2:] == ["number_failed", "goodbye"]
        c.listen()
        assert c.state.outcome == CallOutcome.NO_CALLBACK_NUMBER and not c.stored


class TestHangUps:
    def test_in_the_menus(self, call: MakeCaller) -> None:
        c = call().dial(MOBILE).press("1").hang_up()
        assert c.state.outcome == CallOutcome.ABANDONED_IVR
        assert c.record_data(EventKind.ABANDONED) == {
            "stage": "ivr",
            "topic": None,
            "menu": "topic",
            "wait_s": None,
        }
        assert not c.hung_up_by_line and c.state.input_at is None and c.state.playback is None

    def test_in_the_queue(self, call: MakeCaller) -> None:
        c = queued(call().dial(MOBILE)).listen()  # the announcement takes 5 s
        c.later(timedelta(seconds=37))
        c.hang_up()
        assert LeaveQueue("health") in c.commands
        assert c.record_data(EventKind.ABANDONED)["wait_s"] == 42.0
        assert ClearTimer("announce") in c.commands and ClearTimer("closing") in c.commands
        assert c.state.outcome == CallOutcome.ABANDONED_QUEUE

    def test_during_the_read_back_of_their_own_number_the_request_stands(
        self, call: MakeCaller
    ) -> None:
        """They said yes to a callback; hanging up while their number is read back keeps it."""
        c = queued(call(staffed=2).dial(MOBILE)).press("1").hang_up()
        assert [s.number_e164 for s in c.stored] == [MOBILE]
        assert c.state.outcome == CallOutcome.CALLBACK_REQUESTED and c.ended
        assert not c.hung_up_by_line and not c.records(EventKind.ABANDONED)
        assert c.record_data(EventKind.ENDED)["outcome"] == "callback_requested"

    def test_while_entering_another_number_nothing_is_stored(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE)).press("1").press("2").press("040").hang_up()
        assert not c.stored and c.state.outcome == CallOutcome.ABANDONED_QUEUE

    def test_during_the_closing_message_the_promised_callback_is_stored(
        self, call: MakeCaller
    ) -> None:
        """ "The line is closing, we will call you back": a hang-up then keeps that promise."""
        c = queued(call(at=local(2026, 1, 12, 14, 50)).dial(MOBILE)).listen().fire("closing")
        c.hang_up()
        assert [s.number_e164 for s in c.stored] == [MOBILE]
        assert c.state.outcome == CallOutcome.CALLBACK_REQUESTED

    def test_after_confirming_the_request_stands(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE)).press("1").press("1").hang_up()
        assert c.state.outcome == CallOutcome.CALLBACK_REQUESTED and len(c.stored) == 1
        assert not c.records(EventKind.ABANDONED)

    def test_an_advisor_for_a_call_that_is_gone_is_released(self, call: MakeCaller) -> None:
        c = queued(call().dial(MOBILE)).hang_up()
        c.send(AdvisorConnected("nurse-2"))
        assert c.commands[-1] == ReleaseAdvisor("nurse-2")

    def test_an_advisor_for_a_caller_who_left_the_queue_is_released(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE)).press("1")
        c.send(AdvisorConnected("nurse-2"))
        assert c.commands[-1] == ReleaseAdvisor("nurse-2")
        assert c.state.phase is Phase.CALLBACK

    def test_the_line_hangs_up_only_after_the_last_words(self, call: MakeCaller) -> None:
        c = queued(call(staffed=2).dial(MOBILE)).press("1").press("1")
        assert not c.hung_up_by_line
        c.listen()
        assert isinstance(c.commands[-2], Hangup) or c.hung_up_by_line


class TestTimeMovesOn:
    """What the caller was told, or what the line was, may have changed since."""

    def test_an_offer_that_no_longer_holds_is_not_taken_later(self, call: MakeCaller) -> None:
        """Offered, silent, then the backlog grows past the promise: 1 no longer books it."""
        c = queued(call(at=local(2026, 1, 12, 14), staffed=2, planned=2).dial(MOBILE))
        c.stay_silent()
        c.queue.callbacks_ahead = 200
        c.fire("announce")
        assert c.last_prompts()[-1].key == "health_urgent"
        c.listen()
        c.later(timedelta(minutes=30))
        c.send(DigitPressed("1"))
        assert not c.stored and c.state.phase is Phase.QUEUED

    def test_pressing_1_late_rechecks_the_time(self, call: MakeCaller) -> None:
        """Pressed during music after a valid offer, but the time can no longer be kept."""
        c = queued(call(at=local(2026, 1, 12, 14), staffed=2, planned=2).dial(MOBILE))
        c.stay_silent()
        c.queue.callbacks_ahead = 200
        c.later(timedelta(seconds=20))
        c.send(DigitPressed("1"))
        assert not c.stored and c.state.in_queue
        assert c.last_prompts()[-1].key == "health_urgent"

    def test_a_topic_chosen_just_after_closing_gets_the_after_hours_offer(
        self, call: MakeCaller
    ) -> None:
        c = call(at=local(2026, 1, 12, 14, 59)).dial(MOBILE).press("1")
        c.now = local(2026, 1, 12, 15, 0)
        c.send(DigitPressed("1"))
        assert not c.queued
        assert c.last_text() == "Jos haluat, että soitamme sinulle huomenna aamupäivällä, paina 1."

    def test_a_topic_chosen_just_after_opening_is_queued(self, call: MakeCaller) -> None:
        c = call(at=local(2026, 1, 12, 8, 58), free=2).dial(MOBILE).press("1").listen()
        assert c.state.callback_after_hours and c.state.menu is Menu.TOPIC
        c.now = local(2026, 1, 12, 9, 0)
        c.send(DigitPressed("1"))
        assert c.queued and c.state.closing_at == local(2026, 1, 12, 15)

    def test_back_in_the_queue_after_closing_the_policy_applies(self, call: MakeCaller) -> None:
        """Bad numbers while the line closed: the caller is not left in a closed queue."""
        c = queued(call(at=local(2026, 1, 12, 14, 58), staffed=2).dial(None, withheld=True))
        c.press("1")
        assert c.state.closing_at is None  # left the queue, and its closing timer with it
        c.now = local(2026, 1, 12, 15) + timedelta(seconds=5)
        c.press("1#").press("12#").press("123#")
        assert c.heard()[-1] == "closing_callback"
        assert not c.queued and c.state.closing_handled

    def test_a_line_open_round_the_clock_sets_no_closing_timer(
        self, call: MakeCaller, config: HotlineConfig
    ) -> None:
        cfg = config
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
            cfg = changed(cfg, f"hours.{day}", ["00:00-24:00"])
        cfg = changed(cfg, "calendar.holidays", None)
        cfg = changed(cfg, "calendar.closures", [])
        cfg = changed(cfg, "calendar.special_hours", [])
        c = queued(call(cfg=cfg).dial(MOBILE))
        assert c.queued and c.state.closing_at is None


class TestWireNoise:
    @pytest.mark.parametrize("noise", ["", "12", "x", " "])
    def test_anything_but_one_keypad_key_is_ignored(self, call: MakeCaller, noise: str) -> None:
        """An empty or garbled digit never counts as a choice (nor cancels a callback)."""
        existing = ExistingCallback(7, "fi", "social", local(2026, 1, 13, 15), None)
        c = call(existing=existing).dial(MOBILE).listen()
        before = c.state.to_dict()
        assert c.send(DigitPressed(noise)) == []
        assert c.state.to_dict() == before and not c.cancelled

    def test_a_timer_the_engine_never_set_is_ignored(self, call: MakeCaller) -> None:
        c = queued(call().dial(MOBILE))
        entered = c.state.queue_entered_at
        assert c.send(TimerFired("queue_entered", entered)) == []  # type: ignore[arg-type]
        assert c.state.queue_entered_at == entered
