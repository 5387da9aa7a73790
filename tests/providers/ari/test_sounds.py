"""Prompts as Asterisk media: a caller on Asterisk hears what the text says, from files we list."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pytest

from callflow.config.models import AriConfig, HotlineConfig, placeholders_in
from callflow.engine.prompts import (
    DigitGroups,
    PromptRef,
    PromptValue,
    When,
    prompt,
    render_text,
)
from callflow.providers.ari.sounds import NUMBER_FILES, media_for, sound_files, whisper_media
from tests.providers.ari.lines import ari_section

HELSINKI = ZoneInfo("Europe/Helsinki")
MONDAY = date(2026, 1, 12)
ARI = ari_section()
Style = Literal["at", "by", "morning"]
STYLES: tuple[Style, ...] = ("at", "by", "morning")


def when(days_ahead: int, style: Style, hour: int = 14, minute: int = 30) -> When:
    local = datetime.combine(MONDAY + timedelta(days=days_ahead), datetime.min.time(), HELSINKI)
    return When(local.replace(hour=hour, minute=minute).astimezone(UTC), MONDAY, style)


def heard(media: list[str], config: HotlineConfig, ari: AriConfig = ARI) -> str:
    """What Asterisk says for *media*: each file's text, each number and digit group."""
    texts = {file.name: file.text for file in sound_files(config, ari)}
    said = []
    for uri in media:
        scheme, _, what = uri.partition(":")
        assert scheme in ("sound", "number", "digits"), uri
        said.append(texts[what] if scheme == "sound" else what)  # KeyError: file not listed
    return " ".join(said)


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def samples(config: HotlineConfig, language: str) -> list[PromptRef]:
    """Every prompt of *language* the engine says, with values for its placeholders: each
    *when* style and day naming, a number, a topic. (The prompts a *when* is said with,
    ``at_day`` and the like, come nested in those.)"""
    texts = config.languages[language].prompts
    values: dict[str, PromptValue] = {
        "digit": 2,
        "position": 4,
        "minutes": 12,
        "topic": config.queues["health"].names[language],
        "number": DigitGroups(("040", "123", "4567")),
    }
    refs = []
    for days_ahead in (0, 1, 3, 9):
        for style in STYLES:
            moment = when(days_ahead, style)
            params = {**values, "when": moment, "next_opening": moment}
            for key, text in texts.items():
                used = placeholders_in(text)
                if used <= params.keys():
                    refs.append(prompt(key, language, **{name: params[name] for name in used}))
    return refs


class TestMedia:
    @pytest.mark.parametrize("language", ["fi", "sv", "en"])
    def test_every_prompt_says_its_text(self, config: HotlineConfig, language: str) -> None:
        """Words, numbers, times, days and topics: the media say the rendered sentence,
        and every sound file they name is one the builder renders."""
        for ref in samples(config, language):
            media = media_for(ref, config, ARI)
            assert words(heard(media, config)) == words(render_text(ref, config)), ref

    def test_files_sit_in_the_language_directory(self, config: HotlineConfig) -> None:
        """Where Asterisk's sound index finds them; the URI names the language itself."""
        ari = ari_section(sounds="hotline/v2")
        assert media_for(prompt("greeting", "sv"), config, ari) == ["sound:sv/hotline/v2/greeting"]

    def test_a_placeholder_splits_the_text_and_punctuation_is_not_a_file(
        self, config: HotlineConfig
    ) -> None:
        assert media_for(prompt("language_option", "sv", digit=2), config, ARI) == [
            "sound:sv/callflow/language_option-1",
            "number:2",
        ]

    def test_a_number_is_read_back_group_by_group(self, config: HotlineConfig) -> None:
        ref = prompt("readback", "fi", number=DigitGroups(("+46", "70", "123 45")))
        assert media_for(ref, config, ARI) == [
            "sound:fi/callflow/readback-1",
            "digits:46",
            "digits:70",
            "digits:12345",
            "sound:fi/callflow/readback-2",
        ]

    def test_on_the_hour_no_minutes_are_said(self, config: HotlineConfig) -> None:
        ref = prompt("offer_callback", "fi", when=when(0, "by", hour=9, minute=0))
        assert media_for(ref, config, ARI) == [
            "sound:fi/callflow/offer_callback-1",
            "sound:fi/callflow/by_today-1",
            "number:9",
            "sound:fi/callflow/by_today-2",
            "sound:fi/callflow/offer_callback-2",
        ]

    def test_a_date_says_the_words_of_the_date_format(self, config: HotlineConfig) -> None:
        ref = prompt("offer_callback", "sv", when=when(9, "morning"))
        assert media_for(ref, config, ARI)[1:5] == [
            "sound:sv/callflow/date_format-1",
            "number:21",
            "number:1",
            "sound:sv/callflow/morning_day-1",
        ]

    def test_a_topic_the_line_does_not_have_is_a_bug_not_a_silence(
        self, config: HotlineConfig
    ) -> None:
        with pytest.raises(ValueError, match="names no queue"):
            media_for(prompt("topic_option", "fi", topic="Kalastus", digit=4), config, ARI)


class TestWhisper:
    def test_topic_language_and_wait_in_the_line_s_own_language(
        self, config: HotlineConfig
    ) -> None:
        media = whisper_media("social", "sv", 7, config, ARI)
        assert media[1] == "sound:fi/callflow/topic-social"
        assert words(heard(media, config)) == words(
            "Takaisinsoitto. Aihe Sosiaalipalveluihin liittyvät asiat, kieli svenska. "
            "Soittaja on odottanut 7 minuuttia."
        )

    def test_a_topic_no_longer_configured_is_left_unsaid(self, config: HotlineConfig) -> None:
        media = whisper_media("retired", "sv", 7, config, ARI)
        assert not any("topic-" in uri for uri in media)
        assert "number:7" in media


class TestSoundFiles:
    def test_each_file_once_with_its_text(self, config: HotlineConfig) -> None:
        files = sound_files(config, ARI)
        assert len({f.name for f in files}) == len(files)
        by_name = {f.name: f for f in files}
        assert by_name["fi/callflow/greeting"].text == config.languages["fi"].prompts["greeting"]
        assert by_name["sv/callflow/day-monday"].text == "på måndag"
        assert by_name["en/callflow/date_format-1"].text == "on"
        assert by_name["fi/callflow/language-sv"].text == "svenska"

    def test_asterisk_s_number_sounds_in_each_language_it_speaks_by_the_english_rule(
        self, config: HotlineConfig
    ) -> None:
        """Finnish and Swedish numbers come from our files; a language say.c has its own
        rule for (German) needs Asterisk's sound package instead."""
        german = config.languages["en"].model_copy(update={"digit": 4})
        line = config.model_copy(update={"languages": {**config.languages, "de": german}})
        files = {f.name: f.text for f in sound_files(line, ARI)}
        for language in ("fi", "sv", "en"):
            assert {n for n in NUMBER_FILES if f"{language}/digits/{n}" in files} == set(
                NUMBER_FILES
            )
        assert files["fi/digits/thousand"] == "tuhatta"
        assert files["sv/digits/7"] == "7"
        assert "de/callflow/greeting" in files
        assert not any(name.startswith("de/digits/") for name in files)
