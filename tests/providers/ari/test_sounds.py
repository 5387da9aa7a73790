"""Prompts as Asterisk media: a caller on Asterisk hears what the text says, from files we list.

Numbers are checked against ``num2words``, an independent speller: our files' words,
joined as the language writes a number (Finnish and Swedish as one compound, English
with spaces where num2words has spaces or hyphens), must be num2words' words.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from num2words import num2words

from callflow.config.models import AriConfig, HotlineConfig, placeholders_in
from callflow.engine.prompts import (
    DigitGroups,
    PromptRef,
    PromptValue,
    When,
    prompt,
    render_text,
)
from callflow.engine.whisper import whisper
from callflow.errors import ConfigError
from callflow.providers.ari.sounds import media_for, sound_files
from tests.providers.ari.lines import ari_section

HELSINKI = ZoneInfo("Europe/Helsinki")
MONDAY = date(2026, 1, 12)
ARI = ari_section()
Style = Literal["at", "by", "morning"]
STYLES: tuple[Style, ...] = ("at", "by", "morning")
LANGUAGES = ("fi", "sv", "en")
READ_BACK = DigitGroups(("040", "123", "4567"))


def when(days_ahead: int, style: Style, hour: int = 14, minute: int = 30) -> When:
    local = datetime.combine(MONDAY + timedelta(days=days_ahead), datetime.min.time(), HELSINKI)
    return When(local.replace(hour=hour, minute=minute).astimezone(UTC), MONDAY, style)


def texts(media: list[str], config: HotlineConfig, ari: AriConfig = ARI) -> list[str]:
    """What Asterisk says for *media*: each file's text. Every medium is a file we list
    (KeyError otherwise), never Asterisk's own ``number:`` or ``digits:``."""
    listed = {f"sound:{file.name}": file.text for file in sound_files(config, ari)}
    return [listed[uri] for uri in media]


def heard(media: list[str], config: HotlineConfig, ari: AriConfig = ARI) -> str:
    return " ".join(texts(media, config, ari))


def numbers_heard(media: list[str], config: HotlineConfig, language: str) -> str:
    """The words of the number files in *media*, joined as *language* writes a number."""
    pieces = texts([uri for uri in media if "/number-" in uri], config)
    return " ".join(pieces) if language == "en" else "".join(pieces)


def written(reference: str, language: str) -> str:
    """num2words' *reference* as :func:`numbers_heard` joins words: Finnish and Swedish
    compounds without spaces; English without hyphens and commas ("twenty-one",
    "one thousand, one hundred"), which an English voice does not say."""
    if language == "en":
        return reference.replace("-", " ").replace(",", "")
    return reference.replace(" ", "")


def spelled(n: int, language: str) -> str:
    return str(num2words(n, lang=language))


def digit_by_digit(text: str, language: str) -> str:
    return " ".join(spelled(int(ch), language) for ch in text if ch.isdigit())


def clock(hour: int, minute: int, config: HotlineConfig, language: str) -> str:
    """The numbers of the language's time format as its text is read: "9.30" nine
    thirty, "9.05" nine oh five (the zero as written; English clocks say "oh"), "9.00"
    nine."""
    zero = "oh" if language == "en" else spelled(0, language)

    def two_digits(n: int) -> str:
        return spelled(n, language) if n >= 10 else f"{zero} {spelled(n, language)}"

    read = {
        "h": spelled(hour, language),
        "hh": two_digits(hour),
        "mm": two_digits(minute) if minute else "",
    }
    fields = [f for _, f, _, _ in string.Formatter().parse(config.languages[language].time_format)]
    return " ".join(read[field] for field in fields if field and read[field])


def read_aloud(text: str, language: str) -> str:
    """*text* with the numerals a voice would say in words (Asterisk's files say words)."""
    return re.sub(r"\d+", lambda m: spelled(int(m.group()), language), text)


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def letters(text: str) -> str:
    """The words of *text* without the spaces: a compound and its pieces compare equal."""
    return "".join(words(text))


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
        "number": READ_BACK,
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
    @pytest.mark.parametrize("language", LANGUAGES)
    def test_every_prompt_says_its_text(self, config: HotlineConfig, language: str) -> None:
        """Words, numbers, times, days and topics: the media say the rendered sentence
        (its numerals as words), and every sound file they name is one the builder renders."""
        time_text = config.languages[language].time_format.format(h=14, hh="14", mm="30")
        for ref in samples(config, language):
            text = render_text(ref, config)
            text = text.replace(str(READ_BACK), digit_by_digit(str(READ_BACK), language))
            text = text.replace(time_text, clock(14, 30, config, language))
            said = heard(media_for(ref, config, ARI), config)
            assert letters(read_aloud(said, language)) == letters(read_aloud(text, language)), ref

    def test_files_sit_in_the_language_directory(self, config: HotlineConfig) -> None:
        """Where Asterisk's sound index finds them; the URI names the language itself."""
        ari = ari_section(sounds="hotline/v2")
        assert media_for(prompt("greeting", "sv"), config, ari) == ["sound:sv/hotline/v2/greeting"]

    def test_a_placeholder_splits_the_text_and_punctuation_is_not_a_file(
        self, config: HotlineConfig
    ) -> None:
        assert media_for(prompt("language_option", "sv", digit=2), config, ARI) == [
            "sound:sv/callflow/language_option-1",
            "sound:sv/callflow/number-2",
        ]

    def test_a_number_is_read_back_digit_by_digit(self, config: HotlineConfig) -> None:
        ref = prompt("readback", "fi", number=DigitGroups(("+46", "70", "123 45")))
        media = media_for(ref, config, ARI)
        assert (media[0], media[-1]) == (
            "sound:fi/callflow/readback-1",
            "sound:fi/callflow/readback-2",
        )
        assert texts(media[1:-1], config) == [
            *("neljä", "kuusi", "seitsemän", "nolla"),
            *("yksi", "kaksi", "kolme", "neljä", "viisi"),
        ]

    @pytest.mark.parametrize("language", LANGUAGES)
    def test_a_read_back_spells_each_digit_as_num2words(
        self, config: HotlineConfig, language: str
    ) -> None:
        media = media_for(prompt("readback", language, number=READ_BACK), config, ARI)
        assert " ".join(texts([m for m in media if "/number-" in m], config)) == (
            digit_by_digit("0401234567", language)
        )

    def test_on_the_hour_no_minutes_are_said(self, config: HotlineConfig) -> None:
        ref = prompt("offer_callback", "fi", when=when(0, "by", hour=9, minute=0))
        assert media_for(ref, config, ARI) == [
            "sound:fi/callflow/offer_callback-1",
            "sound:fi/callflow/by_today-1",
            "sound:fi/callflow/number-9",
            "sound:fi/callflow/by_today-2",
            "sound:fi/callflow/offer_callback-2",
        ]

    def test_minutes_below_ten_keep_their_zero(self, config: HotlineConfig) -> None:
        """Swedish "klockan 9.05" is nio noll fem, as the text is read."""
        ref = prompt("offer_callback", "sv", when=when(0, "at", hour=9, minute=5))
        assert texts(media_for(ref, config, ARI), config)[2:5] == ["nio", "noll", "fem"]

    def test_a_date_says_the_words_of_the_date_format(self, config: HotlineConfig) -> None:
        ref = prompt("offer_callback", "sv", when=when(9, "morning"))
        assert media_for(ref, config, ARI)[1:6] == [
            "sound:sv/callflow/date_format-1",
            "sound:sv/callflow/number-20",
            "sound:sv/callflow/number-1",
            "sound:sv/callflow/number-1",
            "sound:sv/callflow/morning_day-1",
        ]

    def test_a_topic_the_line_does_not_have_is_a_bug_not_a_silence(
        self, config: HotlineConfig
    ) -> None:
        with pytest.raises(ValueError, match="names no queue"):
            media_for(prompt("topic_option", "fi", topic="Kalastus", digit=4), config, ARI)


class TestNumbersInTheirOwnGrammar:
    """Positions, minutes and clock times spelled as num2words spells them."""

    @pytest.mark.parametrize("language", LANGUAGES)
    @pytest.mark.slow
    def test_every_position_below_a_thousand(self, config: HotlineConfig, language: str) -> None:
        """21 is "kaksikymmentä" + "yksi", "tjugo" + "ett", "twenty" + "one"; 115 is
        "sata" + "viisitoista", "etthundra" + "femton", "one hundred" + "and" + "fifteen"."""
        words_around = None
        for n in range(1000):
            media = media_for(prompt("queue_position", language, position=n), config, ARI)
            assert numbers_heard(media, config, language) == written(spelled(n, language), language)
            others = [uri for uri in media if "/number-" not in uri]
            assert words_around in (None, others), "the words around the number change"
            words_around = others

    @pytest.mark.parametrize("language", LANGUAGES)
    @pytest.mark.parametrize("n", [1000, 1001, 1100, 2026, 21000, 100_000, 101_015, 999_999])
    def test_thousands(self, config: HotlineConfig, language: str, n: int) -> None:
        """The minutes an advisor's whisper says may run into thousands (a callback the
        next day), and a date format may say the year."""
        media = media_for(prompt("queue_wait_minutes", language, minutes=n), config, ARI)
        assert numbers_heard(media, config, language) == written(spelled(n, language), language)

    def test_a_million_and_more_is_said_digit_by_digit(self, config: HotlineConfig) -> None:
        media = media_for(prompt("queue_wait_minutes", "en", minutes=1_000_000), config, ARI)
        assert numbers_heard(media, config, "en") == "one zero zero zero zero zero zero"

    @pytest.mark.parametrize("language", LANGUAGES)
    @pytest.mark.slow
    def test_every_minute_of_the_day(self, config: HotlineConfig, language: str) -> None:
        """Promises, opening hours and the latest time may fall on any minute: each is
        said as its text reads, "kello 9.30" nine thirty."""
        for minutes in range(24 * 60):
            hour, minute = divmod(minutes, 60)
            ref = prompt("callback_confirmed", language, when=when(0, "at", hour, minute))
            media = media_for(ref, config, ARI)
            assert numbers_heard(media, config, language) == written(
                clock(hour, minute, config, language), language
            ), f"{hour}:{minute:02d}"

    def test_a_language_we_cannot_count_in_is_refused(self, config: HotlineConfig) -> None:
        """Not said in English grammar behind the admin's back: the build stops and says why."""
        german = config.languages["en"].model_copy(update={"digit": 4})
        line = config.model_copy(update={"languages": {**config.languages, "de": german}})
        with pytest.raises(ConfigError) as refused:
            sound_files(line, ARI)
        [problem] = refused.value.problems
        assert problem.path == "languages.de"
        assert "en, fi, sv" in problem.allowed


class TestWhisper:
    def test_topic_language_and_wait_in_the_line_s_own_language(
        self, config: HotlineConfig
    ) -> None:
        media = media_for(whisper(config, "social", "sv", timedelta(minutes=7)), config, ARI)
        assert media[1] == "sound:fi/callflow/topic-social"
        assert "sound:fi/callflow/language-sv" in media
        assert words(heard(media, config)) == words(
            "Takaisinsoitto. Aihe Sosiaalipalveluihin liittyvät asiat, kieli svenska. "
            "Soittaja on odottanut seitsemän minuuttia."
        )

    def test_a_topic_no_longer_configured_is_left_unsaid(self, config: HotlineConfig) -> None:
        media = media_for(whisper(config, "retired", "sv", timedelta(minutes=7)), config, ARI)
        assert not any("topic-" in uri for uri in media)
        assert "sound:fi/callflow/number-7" in media

    def test_its_words_are_built_like_any_prompt_s(self, config: HotlineConfig) -> None:
        """``callflow prompts build`` makes the whisper's files from the text of the line's
        own language, the one advisors hear it in, and of no other."""
        names = {file.name: file.text for file in sound_files(config, ARI)}
        assert names["fi/callflow/whisper-1"] == "Takaisinsoitto. Aihe"
        assert "sv/callflow/whisper-1" not in names


class TestSoundFiles:
    def test_each_file_once_with_its_text(self, config: HotlineConfig) -> None:
        files = sound_files(config, ARI)
        assert len({f.name for f in files}) == len(files)
        by_name = {f.name: f for f in files}
        assert by_name["fi/callflow/greeting"].text == config.languages["fi"].prompts["greeting"]
        assert by_name["sv/callflow/day-monday"].text == "på måndag"
        assert by_name["en/callflow/date_format-1"].text == "on"
        assert by_name["fi/callflow/language-sv"].text == "svenska"

    def test_the_number_pieces_of_each_language(self, config: HotlineConfig) -> None:
        """A few dozen files a language, not one per number: ``prompts build`` stays quick."""
        files = {f.name: f.text for f in sound_files(config, ARI)}
        for language in LANGUAGES:
            pieces = [name for name in files if name.startswith(f"{language}/callflow/number-")]
            assert 35 <= len(pieces) <= 45, language
        assert files["fi/callflow/number-20"] == "kaksikymmentä"
        assert files["fi/callflow/number-thousand"] == "tuhatta"
        assert files["sv/callflow/number-1"] == "ett"
        assert files["en/callflow/number-oh"] == "oh"
        assert not any("/digits/" in name for name in files)
