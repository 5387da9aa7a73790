"""Prompt references and their rendering to text.

The engine names prompts (``PromptRef``) with typed parameters; it never
builds sentences. Text providers (console, Twilio ``<Say>``) render them with
:func:`render_text`; Asterisk maps the same references to sound files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from callflow.config.models import HotlineConfig, LanguageConfig


@dataclass(slots=True, unsafe_hash=True)
class When:
    """An instant to be said relative to the day of the call.

    ``style`` "at" says when something happens ("tomorrow at 9.00"), "by"
    gives a latest time ("today by 14.00"), "morning" a half day.
    """

    at: datetime
    today: date
    style: Literal["at", "by", "morning"]


@dataclass(slots=True, unsafe_hash=True)
class DigitGroups:
    """A phone number to read back in groups: ``040 123 4567``."""

    groups: tuple[str, ...]

    def __str__(self) -> str:
        return " ".join(self.groups)


PromptValue = int | str | When | DigitGroups


@dataclass(slots=True, unsafe_hash=True)
class PromptRef:
    """A prompt to say, and what fills it in.

    Prompts are values, never changed once made, and hashable (a provider may keep what
    it worked out for one, as the simulator keeps how long each takes to say). They are
    not frozen dataclasses because a frozen one costs three times as much to build, and
    every step builds several: so are :class:`When` and :class:`DigitGroups` in them.
    """

    key: str
    language: str
    params: tuple[tuple[str, PromptValue], ...] = ()


def prompt(key: str, language: str, **params: PromptValue) -> PromptRef:
    return PromptRef(key, language, tuple(params.items()))


def render_text(ref: PromptRef, config: HotlineConfig) -> str:
    """The sentence *ref* stands for, in its language."""
    language = config.languages[ref.language]
    values = {name: _render_value(value, ref.language, config) for name, value in ref.params}
    return language.prompts[ref.key].format(**values)


def _render_value(value: PromptValue, code: str, config: HotlineConfig) -> str:
    if isinstance(value, When):
        return render_when(value, config.languages[code], config)
    return str(value)


DayName = Literal["tomorrow", "weekday", "date"]
"""How a day after today is named: "tomorrow", its weekday (within a week), or its date."""


@dataclass(frozen=True, slots=True)
class SpokenWhen:
    """How a :class:`When` is said: the prompt that says it and what fills it in.

    Text (:func:`render_when`) and Asterisk's sound files
    (:mod:`callflow.providers.ari.sounds`) both follow this one decision, so a
    caller on Asterisk hears what the console prints.
    """

    key: str
    """``at_today``, ``by_today``, ``at_day``, ``by_day`` or ``morning_day``."""
    local: datetime
    """The instant in the line's timezone: its ``{time}``, and its ``{day}`` when named."""
    day: DayName | None
    """How ``{day}`` is said; None when the prompt says "today" and has no ``{day}``."""


def spoken_when(when: When, config: HotlineConfig) -> SpokenWhen:
    local = when.at.astimezone(ZoneInfo(config.line.timezone))
    days_ahead = (local.date() - when.today).days
    if days_ahead <= 0:
        return SpokenWhen("at_today" if when.style == "at" else "by_today", local, None)
    day: DayName = "tomorrow" if days_ahead == 1 else "weekday" if days_ahead < 7 else "date"
    if when.style == "morning":
        return SpokenWhen("morning_day", local, day)
    return SpokenWhen("at_day" if when.style == "at" else "by_day", local, day)


def render_when(when: When, language: LanguageConfig, config: HotlineConfig) -> str:
    spoken = spoken_when(when, config)
    local = spoken.local
    time_text = language.time_format.format(
        h=local.hour, hh=f"{local.hour:02d}", mm=f"{local.minute:02d}"
    )
    text = language.prompts[spoken.key]
    if spoken.day is None:
        return text.format(time=time_text)
    return text.format(day=_day_words(local.date(), spoken.day, language), time=time_text)


def _day_words(day: date, name: DayName, language: LanguageConfig) -> str:
    if name == "tomorrow":
        return language.tomorrow
    if name == "weekday":
        return language.weekdays[day.weekday()]
    return language.date_format.format(d=day.day, m=day.month, y=day.year)


def round_up(at: datetime, step: timedelta) -> datetime:
    """*at* (UTC) rounded up to a whole multiple of *step* since the epoch.

    Steps that divide an hour give whole local minutes in every timezone of
    whole-hour or half-hour offset, which covers Finland.
    """
    seconds = step.total_seconds()
    stamp = at.timestamp()
    rounded = math.ceil(stamp / seconds) * seconds
    return at if rounded == stamp else datetime.fromtimestamp(rounded, UTC)
