"""The whisper is the engine's prompt ``whisper`` (:mod:`callflow.engine.whisper`), which
Asterisk plays and Twilio says as it does any prompt: the same words on both, and an
admin's text in ``[languages.<code>.prompts]`` is what advisors hear on either."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from callflow.config.models import HotlineConfig, ProviderConfig, TwilioConfig, TwilioVoice
from callflow.engine.prompts import PromptRef
from callflow.engine.whisper import whisper
from callflow.providers.ari.sounds import media_for, sound_files
from callflow.providers.twilio.settings import TwilioAccount, twilio_settings
from callflow.providers.twilio.twiml import Speech
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN
from tests.providers.ari.lines import with_ari


def worded(config: HotlineConfig, text: str) -> HotlineConfig:
    """*config* with the Finnish (the line's own language) whisper reading *text*."""
    finnish = config.languages["fi"]
    prompts = {**finnish.prompts, "whisper": text}
    languages = {**config.languages, "fi": finnish.model_copy(update={"prompts": prompts})}
    return config.model_copy(update={"languages": languages})


def asterisk_says(config: HotlineConfig, ref: PromptRef) -> list[str]:
    """The words of the sound files Asterisk plays for *ref*, each file one we build."""
    line = with_ari(config)
    assert line.provider.ari is not None
    files = {f"sound:{file.name}": file.text for file in sound_files(line, line.provider.ari)}
    return words(" ".join(files[uri] for uri in media_for(ref, line, line.provider.ari)))


def twilio_says(config: HotlineConfig, ref: PromptRef) -> list[str]:
    """The words of the ``<Say>`` Twilio is given for *ref*, in the line's own voice."""
    voices = {
        "fi": TwilioVoice(voice="Polly.Suvi", language="fi-FI"),
        "sv": TwilioVoice(voice="Polly.Astrid", language="sv-SE"),
        "en": TwilioVoice(voice="Polly.Amy", language="en-GB"),
    }
    section = TwilioConfig(public_url="https://hotline.example.fi", voices=voices)
    line = config.model_copy(update={"provider": ProviderConfig(twilio=section)})
    settings = twilio_settings(line, TwilioAccount(ACCOUNT_SID, AUTH_TOKEN))
    response = VoiceResponse()
    Speech(settings).add(response, [ref])
    (say,) = ET.fromstring(str(response)).iter("Say")
    assert say.attrib["voice"] == "Polly.Suvi"
    return words(say.text or "")


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def test_both_providers_say_the_whisper_in_the_line_s_own_language(
    config: HotlineConfig,
) -> None:
    """A Swedish caller of the social queue who waited seven and a half minutes: the topic
    and the language by their Finnish names, the whole minutes (spelled out on Asterisk)."""
    ref = whisper(config, "social", "sv", timedelta(minutes=7, seconds=30))
    said = "Takaisinsoitto. Aihe Sosiaalipalveluihin liittyvät asiat, kieli svenska. "
    assert twilio_says(config, ref) == words(said + "Soittaja on odottanut 7 minuuttia.")
    assert asterisk_says(config, ref) == words(said + "Soittaja on odottanut seitsemän minuuttia.")


def test_the_admin_s_wording_is_what_advisors_hear_on_both(config: HotlineConfig) -> None:
    line = worded(config, "Soittaja odottaa: {topic}, {language}, {minutes} minuuttia.")
    ref = whisper(line, "health", "en", timedelta(minutes=21))
    said = "Soittaja odottaa: Terveyteen liittyvät asiat, English, "
    assert twilio_says(line, ref) == words(said + "21 minuuttia.")
    assert asterisk_says(line, ref) == words(said + "kaksikymmentä yksi minuuttia.")


def test_a_topic_the_line_no_longer_has_is_left_unsaid_by_both(config: HotlineConfig) -> None:
    """A callback requested for a queue since removed: neither provider says its internal
    name, and neither keeps the advisor from the call."""
    ref = whisper(config, "retired", "sv", timedelta(minutes=7))
    expected = words("Takaisinsoitto. Aihe , kieli svenska. Soittaja on odottanut")
    assert asterisk_says(config, ref)[: len(expected)] == expected
    assert twilio_says(config, ref)[: len(expected)] == expected
