"""Prompts as Asterisk media: our sound files for the words and for the numbers.

A prompt becomes a list of ARI media URIs that ``channels.play`` plays in
turn. Its text is split at its ``{placeholders}``: the words between them
are sound files; a number is a few sound files of number words in the
language's own grammar (:mod:`callflow.providers.ari.number_words`), a phone
number read back is its digits one by one; a time or a day is said by the
prompt :func:`~callflow.engine.prompts.spoken_when` chooses, the very
decision the text rendering follows; a topic's name, a language's name (in
the whisper), a weekday and "tomorrow" are sound files of their own; a name
left empty (the whisper's, for a topic the line no longer has) is not said.
A text without placeholders is one sound file.

Every medium is a ``sound:`` file, never Asterisk's ``number:`` or
``digits:``: Asterisk has no Finnish or Swedish number grammar, and a stop
sent while it says one is lost (its say functions swallow it), so a caller's
key could not cut a position or a read-back short. A file stops within
milliseconds.

Where the files are: in Asterisk's language directories, as
``<lang>/<sounds>/<name>`` (``/var/lib/asterisk/sounds/fi/callflow/greeting.wav``).
Asterisk's sound index (``GET /sounds``, which ``callflow ari doctor`` reads)
takes the first directory under ``sounds/`` for the language, so only this
layout lets it see them. The media URI names the language explicitly
(``sound:fi/callflow/greeting``), so a Swedish caller never hears a Finnish
file through Asterisk's language fallback. Names within a language:

* ``<key>``: a prompt without placeholders; ``<key>-1``, ``<key>-2``, …: the
  spoken pieces of one with placeholders (pieces of blanks and punctuation
  only are skipped and not counted);
* ``time_format-<n>``, ``date_format-<n>``: words in the language's time and
  date formats (the "den" of ``"den {d}.{m}."``);
* ``day-tomorrow``, ``day-monday`` … ``day-sunday``, ``topic-<queue>``, and in
  the line's default language (the whisper's) ``language-<code>``;
* ``number-0`` … ``number-19``, ``number-20`` … ``number-90``, ``number-100``
  … ``number-900``, ``number-thousand`` and the language's own extras
  (``number-1000`` "tuhat", ``number-and``, ``number-oh``): the pieces numbers
  are said with.

A language without a number grammar here cannot be said on Asterisk:
:func:`sound_files` (so ``callflow prompts build``) refuses it, naming the
languages it can say.

:func:`sound_files` lists every file :func:`media_for` can name, with its
text, for ``callflow prompts build``.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from callflow.config.models import (
    ADVISOR_PROMPTS,
    WEEKDAYS,
    AriConfig,
    HotlineConfig,
    LanguageConfig,
)
from callflow.engine.prompts import DigitGroups, PromptRef, PromptValue, When, spoken_when
from callflow.errors import ConfigError, Problem
from callflow.providers.ari.number_words import GRAMMARS, NumberGrammar

NUMBER = "number-"
"""The names of the number pieces: ``number-20``, ``number-thousand``."""
SOUND = "sound:"
"""The scheme of every medium we play; the rest of the URI is the sound's name."""


@dataclass(frozen=True, slots=True)
class SoundFile:
    """One sound file a line can play, and the text it says."""

    name: str
    """Asterisk's name for it, without extension: ``fi/callflow/greeting``."""
    language: str
    text: str


def media_for(ref: PromptRef, config: HotlineConfig, ari: AriConfig) -> list[str]:
    """The media URIs that say *ref*, in order."""
    speaker = _Speaker(config, ari, ref.language)
    return speaker.prompt(ref.key, dict(ref.params))


def sound_files(config: HotlineConfig, ari: AriConfig) -> list[SoundFile]:
    """Every sound file :func:`media_for` can name, once each; :class:`ConfigError` when
    a language's numbers cannot be said."""
    problems = number_problems(config)
    if problems:
        raise ConfigError(str(config.source or "configuration"), problems)
    files: dict[str, SoundFile] = {}

    def add(code: str, name: str, text: str) -> None:
        full = f"{code}/{ari.sounds}/{name}"
        files.setdefault(full, SoundFile(full, code, text))

    own = config.line.default_language
    for code in config.languages:
        language = config.languages[code]
        for key, text in language.prompts.items():
            if key in ADVISOR_PROMPTS and code != own:
                continue  # an advisor hears them in the line's own language only
            for words in _words(key, text):
                add(code, words.sound, words.text)
        for name, text in (
            ("time_format", language.time_format),
            ("date_format", language.date_format),
        ):
            for words in _words(name, text):
                add(code, words.sound, words.text)
        add(code, "day-tomorrow", language.tomorrow)
        for weekday, text in zip(WEEKDAYS, language.weekdays, strict=True):
            add(code, f"day-{weekday}", text)
        for queue in config.queues:
            add(code, f"topic-{queue}", config.queues[queue].names.get(code, queue))
        for piece, text in GRAMMARS[code].pieces().items():
            add(code, f"{NUMBER}{piece}", text)
    for code in config.languages:
        add(own, f"language-{code}", config.languages[code].name)
    return list(files.values())


def number_problems(config: HotlineConfig) -> list[Problem]:
    """Languages of *config* whose numbers we have no grammar for, so cannot say."""
    known = ", ".join(sorted(GRAMMARS))
    return [
        Problem(
            f"languages.{code}",
            code,
            f"numbers in this language cannot be said on Asterisk yet (we can say {known}); "
            "leave the language out of an Asterisk line, or add its grammar to "
            "callflow/providers/ari/number_words.py",
        )
        for code in config.languages
        if code not in GRAMMARS
    ]


@dataclass(frozen=True, slots=True)
class _Words:
    sound: str
    """The file's name within the language's sounds: ``at_day-1``."""
    text: str


@dataclass(frozen=True, slots=True)
class _Value:
    field: str


@functools.lru_cache(maxsize=4096)
def _parts(name: str, text: str) -> tuple[_Words | _Value, ...]:
    """*text* as words and placeholders, in order; its words named after *name*."""
    pieces = list(string.Formatter().parse(text))
    if all(field is None for _, field, _, _ in pieces):
        return (_Words(name, "".join(literal for literal, *_ in pieces).strip()),)
    parts: list[_Words | _Value] = []
    for literal, field, _, _ in pieces:
        if any(ch.isalnum() for ch in literal):
            parts.append(
                _Words(f"{name}-{sum(isinstance(p, _Words) for p in parts) + 1}", literal.strip())
            )
        if field is not None:
            parts.append(_Value(field))
    return tuple(parts)


def _words(name: str, text: str) -> list[_Words]:
    return [part for part in _parts(name, text) if isinstance(part, _Words)]


class _Speaker:
    """Says things in one language of one line."""

    def __init__(self, config: HotlineConfig, ari: AriConfig, code: str) -> None:
        self.config = config
        self.code = code
        self.language: LanguageConfig = config.languages[code]
        self.grammar: NumberGrammar = GRAMMARS[code]
        self.base = f"{SOUND}{code}/{ari.sounds}"

    def sound(self, name: str) -> str:
        return f"{self.base}/{name}"

    def number(self, n: int) -> list[str]:
        return self.numbers(self.grammar.number(n))

    def numbers(self, pieces: list[str]) -> list[str]:
        return [self.sound(f"{NUMBER}{piece}") for piece in pieces]

    def template(self, name: str, text: str, say: Callable[[str], list[str]]) -> list[str]:
        media: list[str] = []
        for part in _parts(name, text):
            if isinstance(part, _Words):
                media.append(self.sound(part.sound))
            else:
                media.extend(say(part.field))
        return media

    def prompt(self, key: str, values: Mapping[str, PromptValue]) -> list[str]:
        return self.template(
            key, self.language.prompts[key], lambda field: self.value(field, values[field])
        )

    def value(self, field: str, value: PromptValue) -> list[str]:
        if isinstance(value, When):
            return self.when(value)
        if isinstance(value, DigitGroups):
            return self.numbers(self.grammar.digits("".join(value.groups)))
        if isinstance(value, int):
            return self.number(value)
        if not value:
            return []
        if field == "language":
            return [self.sound(self.language_name(value))]
        return [self.sound(self.topic(field, value))]

    def topic(self, field: str, name: str) -> str:
        """The sound of a queue's name as the caller's language says it."""
        for queue in self.config.queues:
            if self.config.queues[queue].names.get(self.code, queue) == name:
                return f"topic-{queue}"
        raise ValueError(f"no sound says {{{field}}} = {name!r}: it names no queue in {self.code}")

    def language_name(self, name: str) -> str:
        """The sound of a language's name, as the whisper says it (in the line's own)."""
        for code, language in self.config.languages.items():
            if language.name == name:
                return f"language-{code}"
        raise ValueError(f"no sound says {{language}} = {name!r}: it names no language")

    def when(self, when: When) -> list[str]:
        spoken = spoken_when(when, self.config)

        def say(field: str) -> list[str]:
            if field == "time":
                return self.time(spoken.local)
            if spoken.day == "tomorrow":
                return [self.sound("day-tomorrow")]
            if spoken.day == "weekday":
                return [self.sound(f"day-{WEEKDAYS[spoken.local.weekday()]}")]
            day = spoken.local.date()
            numbers = {"d": day.day, "m": day.month, "y": day.year}
            return self.template(
                "date_format", self.language.date_format, lambda f: self.number(numbers[f])
            )

        return self.template(spoken.key, self.language.prompts[spoken.key], say)

    def time(self, local: datetime) -> list[str]:
        """As the time's text reads: "9.30", "9.05" ("nine oh five"), "9.00" (just "nine")."""
        said = {
            "h": self.grammar.number(local.hour),
            "hh": self.grammar.two_digits(local.hour),
            "mm": self.grammar.two_digits(local.minute) if local.minute else [],
        }
        return self.template(
            "time_format", self.language.time_format, lambda field: self.numbers(said[field])
        )
