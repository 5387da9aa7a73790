"""The engine's commands as TwiML documents: what each verb is, and what waits for later."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

from callflow.config.models import HotlineConfig
from callflow.engine.commands import (
    Ask,
    EnterQueue,
    Hangup,
    LeaveQueue,
    Play,
    StopPlayback,
)
from callflow.engine.prompts import DigitGroups, PromptRef
from callflow.engine.state import CallState, Menu, Phase
from callflow.providers.twilio.settings import TwilioAccount, TwilioSettings, twilio_settings
from callflow.providers.twilio.twiml import Cursor, Renderer
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN
from tests.providers.twilio.conftest import PUBLIC_URL, with_twilio
from tests.store.helpers import T0

GREETING = PromptRef("greeting", "fi")
OPTIONS = (
    PromptRef("language_option", "fi", (("digit", 1),)),
    PromptRef("language_option", "sv", (("digit", 2),)),
)


def renderer(config: HotlineConfig, **changes: object) -> Renderer:
    settings: TwilioSettings = twilio_settings(
        with_twilio(config, **changes), TwilioAccount(ACCOUNT_SID, AUTH_TOKEN)
    )
    return Renderer(settings)


def state(**fields: object) -> CallState:
    call = CallState(call_id="c1", started_at=T0, phase=Phase.IVR)
    for name, value in fields.items():
        setattr(call, name, value)
    return call


def xml(text: str) -> ET.Element:
    return ET.fromstring(text)


def test_a_question_is_a_gather_whose_action_brings_the_keys(config: HotlineConfig) -> None:
    ask = Ask("p1", (GREETING, *OPTIONS), 1, None, timedelta(seconds=6))
    rendered = renderer(config).render(
        [ask], state(menu=Menu.LANGUAGE), Cursor(0, 0), "call", config
    )
    gather = xml(rendered.twiml).find("Gather")
    assert gather is not None
    assert gather.attrib == {
        "action": f"{PUBLIC_URL}/twilio/voice/gather?s=0&pb=p1&k=ask",
        "actionOnEmptyResult": "true",
        "finishOnKey": "",
        "input": "dtmf",
        "method": "POST",
        "numDigits": "1",
        "timeout": "6",
    }
    voices = [say.attrib["voice"] for say in gather.iter("Say")]
    assert voices == ["Polly.Suvi", "Polly.Astrid"]  # greeting and option merged in Finnish


def test_a_recording_replaces_a_prompt_without_placeholders(config: HotlineConfig) -> None:
    audio = {"fi": {"greeting": "https://media.example.fi/tervetuloa.mp3"}}
    ask = Ask("p1", (GREETING, *OPTIONS), 1, None, timedelta(seconds=6))
    rendered = renderer(config, audio=audio).render([ask], state(), Cursor(0, 0), "call", config)
    gather = xml(rendered.twiml).find("Gather")
    assert gather is not None
    assert [child.tag for child in gather] == ["Play", "Say", "Say"]
    assert gather[0].text == "https://media.example.fi/tervetuloa.mp3"


def test_words_after_joining_a_queue_wait_for_its_first_turn(config: HotlineConfig) -> None:
    enter = EnterQueue("health", "fi", T0)
    play = Play("p4", (PromptRef("queue_position", "fi", (("position", 2),)),))
    cursor = Cursor(7, 0)
    rendered = renderer(config).render(
        [enter, play], state(phase=Phase.QUEUED, in_queue=True), cursor, "call", config
    )
    enqueue = xml(rendered.twiml).find("Enqueue")
    assert enqueue is not None and enqueue.text == "callflow-health"
    assert enqueue.attrib["waitUrl"] == f"{PUBLIC_URL}/twilio/voice/wait?s=8"
    assert enqueue.attrib["action"] == f"{PUBLIC_URL}/twilio/voice/left?v=1"
    (key,) = rendered.ahead
    assert key == "wait:s=8"
    turn = xml(rendered.ahead[key])
    assert "sijalla 2" in (turn.findtext("Say") or "")
    assert turn.findtext("Redirect") == f"{PUBLIC_URL}/twilio/voice/wait?s=8&pb=p4"
    assert (cursor.step, cursor.visit) == (9, 1)


def test_leaving_a_queue_then_the_next_question(config: HotlineConfig) -> None:
    ask = Ask("p6", (PromptRef("enter_number", "fi"),), 15, "#", timedelta(seconds=8))
    rendered = renderer(config).render(
        [LeaveQueue("health"), ask], state(phase=Phase.CALLBACK), Cursor(3, 2), "wait", config
    )
    assert [verb.tag for verb in xml(rendered.twiml)] == ["Leave"]
    gather = xml(rendered.ahead["left:v=2:leave"]).find("Gather")
    assert gather is not None
    assert (gather.attrib["numDigits"], gather.attrib["finishOnKey"]) == ("15", "#")


def test_music_keeps_listening_for_the_offer(config: HotlineConfig) -> None:
    waiting = state(phase=Phase.QUEUED, in_queue=True, offer_open=True)
    rendered = renderer(config).render([], waiting, Cursor(5, 1), "wait", config)
    document = xml(rendered.twiml)
    gather = document.find("Gather")
    assert gather is not None and "actionOnEmptyResult" not in gather.attrib
    assert gather.findtext("Play") == "https://media.example.fi/odotus.mp3"
    assert document.findtext("Redirect") == f"{PUBLIC_URL}/twilio/voice/wait?s=5"


def test_a_stopped_prompt_is_not_said(config: HotlineConfig) -> None:
    first = Play("p1", (GREETING,))
    second = Play("p2", (PromptRef("goodbye", "fi"),))
    rendered = renderer(config).render(
        [first, StopPlayback("p1"), second], state(), Cursor(0, 0), "call", config
    )
    assert [say.text for say in xml(rendered.twiml).iter("Say")] == ["Kiitos soitostasi. Näkemiin."]


def test_a_call_that_is_over_is_hung_up_on(config: HotlineConfig) -> None:
    over = state(phase=Phase.ENDED)
    for media in ([], [Hangup("closed")]):
        rendered = renderer(config).render(media, over, Cursor(0, 0), "call", config)
        assert [verb.tag for verb in xml(rendered.twiml)] == ["Hangup"]


class TestWordsKept:
    """Every caller hears the same greeting and menus: they are built once."""

    def test_the_same_step_is_the_same_document_for_every_caller(
        self, config: HotlineConfig
    ) -> None:
        lines = renderer(config)
        ask = Ask("p1", (GREETING, *OPTIONS), 1, None, timedelta(seconds=6))
        first, second = Cursor(0, 0), Cursor(0, 0)
        one = lines.render([ask], state(call_id="c1"), first, "call", config)
        other = lines.render([ask], state(call_id="c2"), second, "call", config)
        assert one.twiml == other.twiml
        assert (first, second) == (Cursor(1, 0), Cursor(1, 0))

    def test_a_later_step_is_asked_with_its_own_step_number(self, config: HotlineConfig) -> None:
        lines = renderer(config)
        ask = Ask("p1", (GREETING, *OPTIONS), 1, None, timedelta(seconds=6))
        lines.render([ask], state(), Cursor(0, 0), "call", config)
        later = lines.render([ask], state(), Cursor(4, 0), "call", config)
        gather = xml(later.twiml).find("Gather")
        assert gather is not None and "s=4&" in gather.attrib["action"]

    def test_each_caller_hears_their_own_number(self, config: HotlineConfig) -> None:
        """A read-back is the caller's own: never kept, never heard by the next caller."""
        lines = renderer(config)
        heard = []
        for groups in (("040", "123", "4567"), ("050", "765", "4321")):
            readback = PromptRef("readback", "fi", (("number", DigitGroups(groups)),))
            ask = Ask("p3", (readback,), 1, None, timedelta(seconds=6))
            rendered = lines.render([ask], state(menu=Menu.READBACK), Cursor(2, 0), "call", config)
            heard.append(" ".join(say.text or "" for say in xml(rendered.twiml).iter("Say")))
        assert "040 123 4567" in heard[0] and "050 765 4321" in heard[1]

    def test_the_offer_is_listened_for_only_while_it_stands(self, config: HotlineConfig) -> None:
        lines = renderer(config)
        open_offer = state(phase=Phase.QUEUED, in_queue=True, offer_open=True)
        declined = state(phase=Phase.QUEUED, in_queue=True, offer_open=True, offer_declined=True)
        listening = lines.render([], open_offer, Cursor(5, 1), "wait", config)
        deaf = lines.render([], declined, Cursor(5, 1), "wait", config)
        assert xml(listening.twiml).find("Gather") is not None
        assert xml(deaf.twiml).find("Gather") is None

    def test_a_prompt_changed_live_is_said_in_its_new_words(self, config: HotlineConfig) -> None:
        """A kept document says the words of the rules it was made under: a step under
        new rules is made afresh, and one under the old is still said as it was."""
        lines = renderer(config)
        goodbye = [Play("p9", (PromptRef("goodbye", "fi"),))]
        finnish = config.languages["fi"]
        reworded = config.model_copy(
            update={
                "languages": {
                    **config.languages,
                    "fi": finnish.model_copy(
                        update={"prompts": {**finnish.prompts, "goodbye": "Hei hei."}}
                    ),
                }
            }
        )

        def said(under: HotlineConfig) -> list[str | None]:
            rendered = lines.render(goodbye, state(), Cursor(0, 0), "call", under)
            return [say.text for say in xml(rendered.twiml).iter("Say")]

        assert said(config) == ["Kiitos soitostasi. Näkemiin."]
        assert said(reworded) == ["Hei hei."]
        assert said(config) == ["Kiitos soitostasi. Näkemiin."]
