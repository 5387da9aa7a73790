"""Emergency messages, as a caller hears them and as the log records them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.commands import Ask, EnterQueue, Play
from callflow.engine.events import ExistingCallback
from callflow.engine.prompts import render_text
from callflow.engine.state import Phase
from callflow.engine.vocabulary import CallOutcome, EventKind
from tests.engine.caller import Caller
from tests.engine.conftest import EXAMPLE_FILE, MakeCaller, with_settings

HELSINKI = ZoneInfo("Europe/Helsinki")
MOBILE = "+358401234567"
TEXTS = {
    "fi": "Terveysaseman tietojärjestelmässä on häiriö.",
    "sv": "Hälsostationens datasystem har en störning.",
    "en": "The health centre's systems are down.",
}
FI, SV, EN = "1", "2", "3"
HEALTH, SOCIAL, OTHER = "1", "2", "3"


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=HELSINKI).astimezone(UTC)


def message(mode: str = "serve", **fields: Any) -> dict[str, Any]:
    """An emergency message as an admin stores it: on since Monday 12 January, 08:00."""
    return {"texts": TEXTS, "mode": mode, "start": datetime(2026, 1, 12, 8), **fields}


def line_with(scope: str, mode: str = "serve", **fields: Any) -> HotlineConfig:
    return with_settings({f"emergency.{scope}": message(mode, **fields)})


def only_finnish(settings: dict[str, Any]) -> HotlineConfig:
    """A one-language line (Finnish) with *settings* stored over it."""
    file = copy.deepcopy(EXAMPLE_FILE)
    file["languages"] = {"fi": file["languages"]["fi"]}
    for queue in file["queues"].values():
        queue["names"] = {"fi": queue["names"]["fi"]}
    for block in file["staffing"]:
        block["languages"] = ["fi"]
    file["simulation"]["languages"] = {"fi": 1.0}
    texts = {"fi": TEXTS["fi"]}
    return with_settings({key: {**value, "texts": texts} for key, value in settings.items()}, file)


def said(c: Caller) -> list[str]:
    """Every sentence the caller heard, rendered."""
    return [
        render_text(p, c.config) for x in c.commands if isinstance(x, Play | Ask) for p in x.prompts
    ]


class TestLineServe:
    def test_said_in_the_chosen_language_right_after_the_language_menu(
        self, call: MakeCaller
    ) -> None:
        """Greeting and language menu as usual; the message in Swedish once the caller
        chooses Swedish; then the topic menu and the queue, the message not said again."""
        c = call(cfg=line_with("line")).dial(MOBILE)
        assert c.heard() == ["greeting", "language_option", "language_option", "language_option"]
        c.press(SV)
        assert c.last_text() == TEXTS["sv"]
        c.listen()
        assert c.last_prompts()[0].key == "topic_intro"
        c.press(HEALTH)
        assert c.queued and c.state.phase is Phase.QUEUED
        assert said(c).count(TEXTS["sv"]) == 1 and TEXTS["fi"] not in said(c)
        assert "emergency" not in c.record_data(EventKind.TOPIC_CHOSEN)

    def test_a_one_language_line_says_it_after_the_greeting(self, call: MakeCaller) -> None:
        c = call(cfg=only_finnish({"emergency.line": message()})).dial(MOBILE)
        assert (
            c.last_text() == f"Tervetuloa sosiaali- ja terveyspalvelujen neuvontaan. {TEXTS['fi']}"
        )
        c.listen()
        assert c.last_prompts()[0].key == "topic_intro"

    def test_a_caller_with_an_open_callback_hears_it_before_the_question(
        self, call: MakeCaller
    ) -> None:
        existing = ExistingCallback(7, "en", "social", local(2026, 1, 13, 15), None)
        c = call(cfg=line_with("line"), existing=existing).dial(MOBILE)
        assert c.heard() == ["greeting", "emergency_line", "pending_exists"]
        c.press("2").listen()  # cancelled: on to the topics, the message not said again
        assert c.last_prompts()[0].key == "topic_intro"
        assert said(c).count(TEXTS["en"]) == 1

    def test_with_the_line_closed_it_comes_before_the_hours(self, call: MakeCaller) -> None:
        c = call(at=local(2026, 1, 12, 18), cfg=line_with("line")).dial(MOBILE).press(EN)
        assert c.heard()[-3:] == ["emergency_line", "closed", "closed_callback"]

    @pytest.mark.parametrize(
        ("start", "end"),
        [
            (datetime(2026, 1, 12, 7), datetime(2026, 1, 12, 9, 59)),  # ended a minute ago
            (datetime(2026, 1, 12, 10, 1), None),  # starts in a minute
        ],
    )
    def test_a_message_not_in_force_is_not_said(
        self, call: MakeCaller, start: datetime, end: datetime | None
    ) -> None:
        c = call(cfg=line_with("line", "close", start=start, end=end)).dial(MOBILE)
        c.press(FI).listen().press(HEALTH)
        assert c.queued and c.state.open_at_arrival
        assert not any(key.startswith("emergency") for key in c.heard())
        assert not c.records(EventKind.CALL_CLOSED_HOURS)


class TestLineCallbacksOnly:
    def test_only_topics_that_take_callbacks_and_an_offer_instead_of_the_queue(
        self, call: MakeCaller
    ) -> None:
        cfg = with_settings(
            {
                "emergency.line": message("callbacks_only"),
                "queues.other.callbacks.enabled": False,
            }
        )
        c = call(cfg=cfg).dial(MOBILE).press(FI).listen()
        options = [dict(p.params)["digit"] for p in c.last_prompts() if p.key == "topic_option"]
        assert options == [1, 2]
        c.press(HEALTH)
        assert (
            c.last_text()
            == "Jos haluat, että soitamme sinulle tänään kello 10.30 mennessä, paina 1."
        )
        assert not any(isinstance(x, EnterQueue) for x in c.commands)
        offered = c.record_data(EventKind.CALLBACK_OFFERED)
        assert c.record_data(EventKind.TOPIC_CHOSEN)["emergency"] == "line"
        c.press("1").press("1")
        (stored,) = c.stored
        assert stored.expected_at == offered["expected_at"] == local(2026, 1, 12, 10, 30)
        assert stored.queue_entered_at == stored.requested_at  # no place in a queue to keep
        c.listen()
        assert c.state.outcome == CallOutcome.CALLBACK_REQUESTED

    def test_a_promise_it_cannot_keep_is_not_offered(self, call: MakeCaller) -> None:
        """The offer's time is the queue's honest estimate: with the backlog past the
        promise there is none, and the health queue's alternative is said instead."""
        c = call(cfg=line_with("line", "callbacks_only"), callbacks_ahead=500)
        c.dial(MOBILE).press(FI).listen().press(HEALTH)
        assert c.heard()[-2:] == ["health_urgent", "goodbye"]
        c.listen()
        assert c.state.outcome == CallOutcome.CLOSED and not c.stored

    def test_a_caller_whose_number_fails_is_not_put_in_the_queue(self, call: MakeCaller) -> None:
        c = call(cfg=line_with("line", "callbacks_only")).dial(None, withheld=True)
        c.press(FI).listen().press(HEALTH).press("1")
        c.press("1#").press("12#").press("123#")
        assert c.heard()[-2:] == ["number_failed", "goodbye"] and not c.queued

    def test_no_topic_taking_callbacks_means_the_message_and_goodbye(
        self, call: MakeCaller
    ) -> None:
        settings: dict[str, Any] = {"emergency.line": message("callbacks_only")}
        for queue in ("health", "social", "other"):
            settings[f"queues.{queue}.callbacks.enabled"] = False
            settings[f"queues.{queue}.closing_policy"] = "serve"
        c = call(cfg=with_settings(settings)).dial(MOBILE)
        assert c.heard() == ["greeting", "emergency_line"] * 3 + ["goodbye"]
        c.listen()
        assert c.hung_up_by_line and c.state.outcome == CallOutcome.CLOSED


class TestLineClose:
    def test_recorded_as_a_closed_hours_call(self, call: MakeCaller) -> None:
        """Reports count it as closed, not offered: the arrival says closed and the closed
        hours event names the emergency."""
        c = call(cfg=line_with("line", "close")).dial(MOBILE)
        assert c.record_data(EventKind.CALL_ARRIVED)["open"] is False
        assert c.record_data(EventKind.CALL_CLOSED_HOURS) == {
            "next_opening": local(2026, 1, 13, 9),
            "emergency": "line",
        }

    def test_with_the_after_hours_offer_the_message_replaces_the_closed_words(
        self, call: MakeCaller
    ) -> None:
        cfg = with_settings(
            {
                "emergency.line": message("close"),
                "queues.social.callbacks.when_closed": False,
            }
        )
        c = call(cfg=cfg).dial(MOBILE)
        assert c.heard() == ["greeting", "language_option", "language_option", "language_option"]
        c.press(EN)
        assert c.last_text() == (
            f"{TEXTS['en']} You can ask us to call you back when the line is open again."
        )
        c.listen()
        options = [dict(p.params)["digit"] for p in c.last_prompts() if p.key == "topic_option"]
        assert options == [1, 3]
        c.press(HEALTH)
        assert c.last_text() == "If you would like us to call you back today by 10:30, press 1."
        c.press("1").press("1").listen()
        assert len(c.stored) == 1 and c.state.outcome == CallOutcome.CALLBACK_REQUESTED
        assert not any(isinstance(x, EnterQueue) for x in c.commands)

    def test_without_the_offer_every_language_hears_its_greeting_and_the_message(
        self, call: MakeCaller
    ) -> None:
        c = call(cfg=line_with("line", "close", after_hours_offer=False)).dial(MOBILE)
        assert c.heard() == ["greeting", "emergency_line"] * 3 + ["goodbye"]
        assert said(c)[1::2] == [TEXTS["fi"], TEXTS["sv"], TEXTS["en"]]
        c.listen()
        assert c.hung_up_by_line and c.state.outcome == CallOutcome.CLOSED

    def test_without_the_offer_a_one_language_line_says_it_once(self, call: MakeCaller) -> None:
        cfg = only_finnish({"emergency.line": message("close", after_hours_offer=False)})
        c = call(cfg=cfg).dial(MOBILE)
        assert c.heard() == ["greeting", "emergency_line", "goodbye"]

    def test_switched_on_while_the_caller_was_in_the_menus(self, call: MakeCaller) -> None:
        """They chose their language before it was on: they hear it when they choose a
        topic, with the offer it allows."""
        c = call().dial(MOBILE).press(FI).listen()
        c.rules_become(line_with("line", "close"), told=False)
        c.press(HEALTH)
        assert c.last_text() == TEXTS["fi"]
        c.listen()
        assert c.last_prompts()[0].key == "offer_callback" and not c.queued


class TestQueue:
    def test_serve_says_it_to_that_queue_s_callers_before_they_queue(
        self, call: MakeCaller
    ) -> None:
        c = call(cfg=line_with("health")).dial(MOBILE).press(SV).listen().press(HEALTH)
        assert c.last_text() == TEXTS["sv"] and not c.queued
        c.listen()
        assert c.queued and c.state.phase is Phase.QUEUED
        assert "emergency" not in c.record_data(EventKind.TOPIC_CHOSEN)

    def test_other_queues_do_not_hear_it(self, call: MakeCaller) -> None:
        c = call(cfg=line_with("health", "close")).dial(MOBILE).press(FI).listen().press(SOCIAL)
        assert c.queued and "emergency_health" not in c.heard()

    def test_callbacks_only_offers_a_callback_instead_of_the_queue(self, call: MakeCaller) -> None:
        c = call(cfg=line_with("health", "callbacks_only")).dial(MOBILE)
        c.press(EN).listen().press(HEALTH).listen()
        assert c.heard()[-2:] == ["emergency_health", "offer_callback"]
        assert c.last_text() == "If you would like us to call you back today by 10:30, press 1."
        assert not c.queued and c.record_data(EventKind.TOPIC_CHOSEN)["emergency"] == "health"
        c.press("1").press("1")
        assert c.stored[0].topic == "health"

    def test_close_with_the_offer(self, call: MakeCaller) -> None:
        c = call(cfg=line_with("health", "close")).dial(MOBILE)
        c.press(FI).listen().press(HEALTH).listen()
        assert c.heard()[-2:] == ["emergency_health", "offer_callback"] and not c.queued
        c.stay_silent()  # no answer to the offer: goodbye, no queue
        assert c.heard()[-1] == "goodbye"
        c.listen()
        assert c.state.outcome == CallOutcome.CLOSED and not c.stored

    def test_close_without_the_offer_says_it_and_goodbye(self, call: MakeCaller) -> None:
        c = call(cfg=line_with("health", "close", after_hours_offer=False)).dial(MOBILE)
        c.press(FI).listen().press(HEALTH)
        assert c.last_text() == f"{TEXTS['fi']} Kiitos soitostasi. Näkemiin."
        c.listen()
        assert c.hung_up_by_line and c.state.outcome == CallOutcome.CLOSED
        assert c.record_data(EventKind.TOPIC_CHOSEN)["emergency"] == "health"
        assert not c.records(EventKind.CALL_CLOSED_HOURS)  # the line was open: offered

    def test_the_strictest_of_the_line_s_and_the_queue_s_decides(self, call: MakeCaller) -> None:
        cfg = with_settings(
            {
                "emergency.line": message("callbacks_only"),
                "emergency.health": message("close", after_hours_offer=False),
            }
        )
        c = call(cfg=cfg).dial(MOBILE).press(FI).listen().press(HEALTH)
        assert c.heard()[-2:] == ["emergency_health", "goodbye"]
        assert c.record_data(EventKind.TOPIC_CHOSEN)["emergency"] == "health"

    def test_after_hours_the_queue_s_message_comes_before_the_offer(self, call: MakeCaller) -> None:
        c = call(at=local(2026, 1, 12, 18), cfg=line_with("health")).dial(MOBILE)
        c.press(FI).listen().press(HEALTH).listen()
        assert c.heard()[-2:] == ["emergency_health", "offer_callback"]
        assert c.last_text() == "Jos haluat, että soitamme sinulle huomenna aamupäivällä, paina 1."

    def test_a_hang_up_during_the_message_is_an_abandon_in_the_menus(
        self, call: MakeCaller
    ) -> None:
        c = call(cfg=line_with("health")).dial(MOBILE).press(FI).listen().press(HEALTH)
        c.later(timedelta(seconds=2))
        c.hang_up()
        assert c.state.outcome == CallOutcome.ABANDONED_IVR and not c.queued
