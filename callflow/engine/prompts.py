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


@dataclass(slots=True)
class When:
    """An instant to be said relative to the day of the call.

    ``style`` "at" says when something happens ("tomorrow at 9.00"), "by"
    gives a latest time ("today by 14.00"), "morning" a half day.
    """

    at: datetime
    today: date
    style: Literal["at", "by", "morning"]


@dataclass(slots=True)
class DigitGroups:
    """A phone number to read back in groups: ``040 123 4567``."""

    groups: tuple[str, ...]

    def __str__(self) -> str:
        return " ".join(self.groups)


PromptValue = int | str | When | DigitGroups


@dataclass(slots=True)
class PromptRef:
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


def render_when(when: When, language: LanguageConfig, config: HotlineConfig) -> str:
    local = when.at.astimezone(ZoneInfo(config.line.timezone))
    time_text = language.time_format.format(
        h=local.hour, hh=f"{local.hour:02d}", mm=f"{local.minute:02d}"
    )
    days_ahead = (local.date() - when.today).days
    prompts = language.prompts
    if days_ahead <= 0:
        key = "at_today" if when.style == "at" else "by_today"
        return prompts[key].format(time=time_text)
    day = _day_words(local.date(), days_ahead, language)
    if when.style == "morning":
        return prompts["morning_day"].format(day=day)
    key = "at_day" if when.style == "at" else "by_day"
    return prompts[key].format(day=day, time=time_text)


def _day_words(day: date, days_ahead: int, language: LanguageConfig) -> str:
    if days_ahead == 1:
        return language.tomorrow
    if days_ahead < 7:
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
