"""What is in force on the line and where it comes from: the admin API's and pages' reads.

Each live setting (:mod:`callflow.config.layers`) is shown with its value as the
file writes it (``"4m"``, ``"09:00-12:00"``, local times as ISO text) and its
source: ``file`` (the configuration the process started with: the file, and its
defaults) or ``stored`` (with the change that set it: who, when). Closures are
listed beside the file's; special hours and emergency messages stored for a date
or scope stand in for the file's. The calendar ahead is the one the line runs,
with every exception that shapes each day.

The file's entries are read through the configuration's own models, so they come
out alike whether the rules hold the file as TOML read it or as the process's
configuration gave it (:func:`~callflow.config.layers.baseline_of`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from callflow.config.layers import QUEUE_KEYS
from callflow.config.models import (
    EMERGENCY_SCOPE_LINE,
    Closure,
    EmergencyConfig,
    HotlineConfig,
    SpecialHours,
    emergency_prompt,
)
from callflow.engine.calendar import public_holidays
from callflow.store.line_settings import LineChangeView, read_settings
from callflow.values.durations import format_duration
from callflow.web import WebContext
from callflow.web.line_settings import emergency_key, prompt_key, queue_key, raw_file

Source = Literal["file", "stored"]

CLOSURES = "calendar.closures."
SPECIAL_HOURS = "calendar.special_hours."
EMERGENCY = "emergency."


@dataclass(frozen=True, slots=True)
class InForce:
    """A live setting as it is in force now."""

    key: str
    value: Any
    """As the file writes it: durations as ``"4m"``, local times as ISO text."""
    source: Source
    change: LineChangeView | None = None
    """The stored change that set it (who, when)."""


@dataclass(frozen=True, slots=True)
class CalendarException:
    """A closure or special hours, as the calendar shows it (local times)."""

    key: str
    reason: str
    source: Source
    change: LineChangeView | None
    start: datetime
    end: datetime
    """The local span it covers: a whole-day closure and special hours cover their day."""
    hours: tuple[str, ...] | None = None
    """Special hours' open hours (none: closed that day); None for a closure."""

    @property
    def is_closure(self) -> bool:
        return self.hours is None

    def touches(self, day: date) -> bool:
        start = datetime.combine(day, time())
        return self.start < start + timedelta(days=1) and self.end > start


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """One local date as the line runs it."""

    date: date
    open: tuple[tuple[datetime, datetime], ...]
    """Its open spans, local."""
    exceptions: tuple[CalendarException, ...]
    holiday: str | None
    """The public holiday's name, when the usual week gives way to it."""


@dataclass(frozen=True, slots=True)
class EmergencyView:
    """A scope's emergency message, if it has one, and whether it is said now."""

    scope: str
    message: EmergencyConfig | None
    source: Source | None
    change: LineChangeView | None
    state: Literal["on", "scheduled", "ended", "off"]


class Reading:
    """The rules in force with their sources, read once for one answer."""

    def __init__(self, context: WebContext) -> None:
        rules = context.rules.current
        self.config: HotlineConfig = rules.config
        self.calendar = rules.calendar
        self.now = context.clock.now()
        self.file = raw_file(context)
        self.stored: Mapping[str, Any] = rules.settings
        with context.database.reading() as session:
            changes = read_settings(session).changes
        self.changes = {key: changes.get(key) for key in self.stored}

    @property
    def local_now(self) -> datetime:
        return self.calendar.local(self.now).replace(tzinfo=None)

    def settings(self) -> list[InForce]:
        """Every live setting in force: the calendar's exceptions, the emergency messages,
        each queue's live settings and each language's prompts."""
        return [
            *self._closures(),
            *self._special_hours().values(),
            *self._emergencies().values(),
            *(setting for queue in self.config.topic_order for setting in self.queue(queue)),
            *(setting for code in self.config.language_order for setting in self.prompts(code)),
        ]

    def queue(self, queue: str) -> list[InForce]:
        """*queue*'s live settings (:data:`~callflow.config.layers.QUEUE_KEYS`): a stored
        one, else the value in force, which is the file's (or its default)."""
        found = []
        for name in QUEUE_KEYS:
            key = queue_key(queue, name)
            if key in self.stored:
                found.append(self._stored(key))
                continue
            value: Any = self.config.queues[queue]
            for part in name.split("."):
                value = getattr(value, part)
            found.append(InForce(key, _as_written(value), "file"))
        return found

    def prompts(self, language: str) -> list[InForce]:
        """*language*'s prompts in the file's order (its emergency messages, said as
        prompts, left out: they are set as messages)."""
        said = {emergency_prompt(scope) for scope in self.config.emergency}
        found = []
        for name, text in self.config.languages[language].prompts.items():
            key = prompt_key(language, name)
            if key in self.stored:
                found.append(self._stored(key))
            elif name not in said:
                found.append(InForce(key, text, "file"))
        return found

    def exceptions(self) -> list[CalendarException]:
        """Closures and special hours in force, in time order."""
        found = [*self._closures(), *self._special_hours().values()]
        return sorted((_exception(setting) for setting in found), key=lambda e: e.start)

    def calendar_ahead(self, days: int, language: str) -> list[CalendarDay]:
        """The coming *days* from today, as the line runs them; holidays named in
        *language*."""
        exceptions = self.exceptions()
        country = self.config.calendar.holidays
        holidays = public_holidays(country, language) if country else {}
        first = self.calendar.local_date(self.now)
        shown = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            spans = tuple(
                (self._local(span.start), self._local(span.end))
                for span in self.calendar.day(day).spans
            )
            touching = tuple(e for e in exceptions if e.touches(day))
            special = any(not e.is_closure for e in touching)
            holiday = None if special else holidays.get(day)
            shown.append(CalendarDay(day, spans, touching, holiday))
        return shown

    def emergencies(self) -> list[EmergencyView]:
        """The line's and each queue's emergency message, or that it has none."""
        settings = self._emergencies()
        views = []
        for scope in (EMERGENCY_SCOPE_LINE, *self.config.topic_order):
            message = self.config.emergency.get(scope)
            setting = settings.get(emergency_key(scope))
            if message is None or setting is None:
                views.append(EmergencyView(scope, None, None, None, "off"))
                continue
            if message.in_force(self.local_now):
                state: Literal["on", "scheduled", "ended"] = "on"
            elif message.start > self.local_now:
                state = "scheduled"
            else:
                state = "ended"
            views.append(EmergencyView(scope, message, setting.source, setting.change, state))
        return views

    # -- the pieces --------------------------------------------------------------------------

    def _stored(self, key: str) -> InForce:
        return InForce(key, self.stored[key], "stored", self.changes[key])

    def _closures(self) -> Iterator[InForce]:
        for entry in _entries(self.file, "closures"):
            closure = Closure.model_validate(entry)
            first = closure.date.isoformat() if closure.date else f"{closure.start:%Y-%m-%dT%H:%M}"
            yield InForce(f"{CLOSURES}{first}", _closure_written(closure), "file")
        for key in sorted(self.stored):
            if key.startswith(CLOSURES):
                yield self._stored(key)

    def _special_hours(self) -> dict[str, InForce]:
        """By key: a date's stored special hours stand in for the file's."""
        found: dict[str, InForce] = {}
        for entry in _entries(self.file, "special_hours"):
            special = SpecialHours.model_validate(entry)
            key = f"{SPECIAL_HOURS}{special.date.isoformat()}"
            written = {"hours": [str(hours) for hours in special.hours], "reason": special.reason}
            found[key] = InForce(key, written, "file")
        for key in sorted(self.stored):
            if key.startswith(SPECIAL_HOURS):
                found[key] = self._stored(key)
        return found

    def _emergencies(self) -> dict[str, InForce]:
        messages = self.file.get("emergency")
        found = {}
        for scope, value in messages.items() if isinstance(messages, Mapping) else ():
            message = EmergencyConfig.model_validate(value).model_dump(exclude_none=True)
            found[emergency_key(scope)] = InForce(
                emergency_key(scope), _as_written(message), "file"
            )
        for key in sorted(self.stored):
            if key.startswith(EMERGENCY):
                found[key] = self._stored(key)
        return found

    def _local(self, at: datetime) -> datetime:
        return self.calendar.local(at).replace(tzinfo=None)


def _entries(file: Mapping[str, Any], name: str) -> list[Any]:
    """The file's ``[[calendar.<name>]]`` entries."""
    calendar = file.get("calendar")
    entries = calendar.get(name) if isinstance(calendar, Mapping) else None
    return entries if isinstance(entries, list) else []


def _closure_written(closure: Closure) -> dict[str, Any]:
    if closure.date is not None:
        return {"date": closure.date.isoformat(), "reason": closure.reason}
    assert closure.start is not None and closure.end is not None  # by Closure's check
    return {
        "start": closure.start.isoformat(),
        "end": closure.end.isoformat(),
        "reason": closure.reason,
    }


def _as_written(value: Any) -> Any:
    """*value* as the file (and JSON) writes it: times as ISO text, durations as ``4m``."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Mapping):
        return {name: _as_written(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_written(item) for item in value]
    return value


def _exception(setting: InForce) -> CalendarException:
    """A closure or special hours in force (its value read as the checks read it)."""
    value = setting.value
    if setting.key.startswith(SPECIAL_HOURS):
        special = SpecialHours.model_validate(
            {"date": setting.key.removeprefix(SPECIAL_HOURS), **value}
        )
        start = datetime.combine(special.date, time())
        return CalendarException(
            setting.key, special.reason, setting.source, setting.change,
            start, start + timedelta(days=1), tuple(str(hours) for hours in special.hours),
        )  # fmt: skip
    closure = Closure.model_validate(value)
    if closure.date is not None:
        start = datetime.combine(closure.date, time())
        end = start + timedelta(days=1)
    else:
        assert closure.start is not None and closure.end is not None  # by Closure's check
        start, end = closure.start, closure.end
    return CalendarException(
        setting.key, closure.reason, setting.source, setting.change, start, end
    )
