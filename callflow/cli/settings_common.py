"""What the commands that change the line while it runs share (``calendar``, ``emergency``,
``queues``, ``prompts set``, ``config history|undo|reload|check``).

Every change goes through :class:`~callflow.service.rules.LineRules`, the one path the
pages and the API take too, so a change from the terminal is checked by the same rules,
kept in the same history and heard by every running process alike. What is here is the
terminal's side of it: who made a change (``cli:<login>``), local times read and shown in
the line's timezone, a refused change printed as ``config check`` prints a problem, and
each setting shown with where it comes from (the file, or a stored change: by whom, when).
"""

from __future__ import annotations

import functools
import getpass
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
from sqlalchemy.engine import make_url

from callflow.cli.common import (
    EXIT_CONFIG,
    config_option,
    database_option,
    load,
    log_level_option,
    open_to_read,
    reports_errors,
    shown_url,
)
from callflow.cli.times import LocalTime
from callflow.config.live_keys import CLOSURE_PREFIX, SPECIAL_PREFIX
from callflow.config.load import checked, database_url
from callflow.config.models import (
    EMERGENCY_SCOPE_LINE,
    Closure,
    DailyRange,
    EmergencyConfig,
    HotlineConfig,
    SpecialHours,
)
from callflow.engine.calendar import Calendar
from callflow.engine.clock import SystemClock
from callflow.errors import ConfigError, StoreError, UnknownChange
from callflow.service.rules import LineRules
from callflow.store.line_settings import LineChangeView, Settings, read_settings
from callflow.store.migrate import ensure_current, revision_mismatch
from callflow.store.session import Database
from callflow.values.durations import format_duration

F = TypeVar("F", bound=Callable[..., Any])

IN_FORCE_SOON = "In force on every running process within 2 s."
NOW = "now"


# -- who and when ----------------------------------------------------------------------------


def changed_by() -> str:
    """Who a change from the terminal is kept as: ``cli:<login name>``, else ``cli``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container's nameless uid)
        return "cli"


def now() -> datetime:
    return SystemClock().now()


class LocalTimeOrNow(LocalTime):
    """A local time of the line (``2026-12-08 10:00``), or ``now``."""

    name = "ISO-TIME|now"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.strip().lower() == NOW:
            return NOW
        return super().convert(value, param, ctx)


def line_minute(value: datetime | str, zone: ZoneInfo, at: datetime) -> datetime:
    """*value* (a time, or ``now`` = *at*) as the line's naive wall-clock time, to the minute:
    the form the file writes its closures and emergency messages in. A time with an offset
    is turned into the line's."""
    if value == NOW:
        local = at.astimezone(zone)
    elif isinstance(value, datetime) and value.tzinfo is not None:
        local = value.astimezone(zone)
    else:
        assert isinstance(value, datetime)
        local = value
    return local.replace(tzinfo=None, second=0, microsecond=0)


def minute_text(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M}"


def when(change: LineChangeView, zone: ZoneInfo) -> str:
    """When *change* was made, in the line's time."""
    return minute_text(change.at.astimezone(zone))


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def done(change: LineChangeView) -> str:
    """The end of every line that says what a change did."""
    return f"change #{change.id} by {change.by}. {IN_FORCE_SOON}"


# -- the line ----------------------------------------------------------------------------------


class Line:
    """The line a command works on: its file alone, its database, and its rules in force
    (read when first asked for)."""

    def __init__(self, file: HotlineConfig, database: Database) -> None:
        self.file = file
        self.database = database

    @functools.cached_property
    def rules(self) -> LineRules:
        return LineRules.load(self.file, self.database)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.file.line.timezone)

    def stored(self) -> Settings:
        """The stored settings, each with the change that set it."""
        with self.database.reading() as session:
            return read_settings(session)

    def warn_if_refused(self, stored: Settings) -> None:
        """Stored settings the file no longer admits are not in force: say so."""
        if stored.values and not self.rules.current.settings:
            click.echo(
                "warning: the stored settings do not fit the file, so the file's rules are in "
                "force (`callflow config check` says why)",
                err=True,
            )


def line_options(function: F) -> F:
    """``--config``, ``--database-url`` and ``--log-level``: the line whose settings change."""
    return config_option(database_option(log_level_option("warning")(function)))


@contextmanager
def open_line(config_file: Path | None, url: str | None, log_level: str) -> Iterator[Line]:
    """The line of the file at *config_file* (checked), on its database at *url*."""
    with line_of(load(config_file, log_level), url) as line:
        yield line


@contextmanager
def line_of(config: HotlineConfig, url: str | None) -> Iterator[Line]:
    """The line of *config*, already loaded, on its database at *url* (brought to this
    release's schema). The queues' rows are left as the running line wrote them: this
    admin's copy of the file may differ, and a setting needs none of them."""
    database = Database.connect(database_url(config, url))
    try:
        ensure_current(database)
        yield Line(config, database)
    finally:
        database.close()


def reports_changes(function: F) -> F:
    """:func:`reports_errors` (which says a refused change as ``config check`` says a
    problem: ``KEY: VALUE — REASON`` for each, exit 2), and an unknown change id, exit 2."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except UnknownChange as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_CONFIG) from None

    return reports_errors(wrapper)  # type: ignore[return-value]


# -- what a setting says, and where it comes from -----------------------------------------------


def source(key: str, stored: Settings, zone: ZoneInfo) -> str:
    """``stored: change #12 by cli:anna at 2026-12-07 10:02``, or ``file``."""
    change = stored.changes.get(key)
    if change is None:
        return "file"
    return f"stored: change #{change.id} by {change.by} at {when(change, zone)}"


def hours_text(hours: list[DailyRange]) -> str:
    return ", ".join(str(r).replace("-", "–") for r in hours) or "closed"


def closure_text(closure: Closure) -> str:
    if closure.date is not None:
        return f"{closure.date:%a %Y-%m-%d} all day"
    assert closure.start is not None and closure.end is not None
    if closure.start.date() == closure.end.date():
        return f"{minute_text(closure.start)}–{closure.end:%H:%M}"
    return f"{minute_text(closure.start)} – {minute_text(closure.end)}"


def special_text(special: SpecialHours) -> str:
    return f"{special.date:%a %Y-%m-%d} {hours_text(special.hours)}"


def emergency_text(message: EmergencyConfig) -> str:
    """Its mode and when it is said; the texts are shown apart."""
    mode = message.mode.replace("_", " ")
    offer = "" if message.after_hours_offer else ", no after-hours offer"
    until = minute_text(message.end) if message.end else "switched off"
    return f"mode {mode}{offer}, from {minute_text(message.start)} until {until}"


def scope_text(scope: str) -> str:
    return "the whole line" if scope == EMERGENCY_SCOPE_LINE else f"queue {scope}"


def exception_text(exception: Closure | SpecialHours) -> str:
    """A closure or special hours, with its reason."""
    if isinstance(exception, Closure):
        return f"closed {closure_text(exception)} ({exception.reason})"
    return f"hours {special_text(exception)} ({exception.reason})"


def described(key: str, value: Any) -> str:
    """A stored *value* of *key* as an admin reads it; ``None`` is the file's again."""
    if value is None:
        return "the file's"
    if key.startswith(CLOSURE_PREFIX):
        return exception_text(Closure.model_validate(value))
    if key.startswith(SPECIAL_PREFIX):
        day = key.removeprefix(SPECIAL_PREFIX)
        return exception_text(SpecialHours.model_validate({"date": day, **value}))
    if key.startswith("emergency."):
        return f"emergency message, {emergency_text(EmergencyConfig.model_validate(value))}"
    return json.dumps(value, ensure_ascii=False, default=str)


def shown(value: Any) -> str:
    """A setting's value in force, written as the file writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if value is None:
        return "(none)"
    return str(value)


def file_value(raw_file: Mapping[str, Any], key: str) -> Any:
    """The file's value that stored *key* replaces, ``None`` where the file has none (a
    closure is added beside the file's; special hours replace the file's for their date)."""
    if key.startswith(SPECIAL_PREFIX):
        day = key.removeprefix(SPECIAL_PREFIX)
        entries = file_value(raw_file, "calendar.special_hours") or []
        same = [entry for entry in entries if str(entry.get("date")) == day]
        return {k: v for k, v in same[0].items() if k != "date"} if same else None
    if key.startswith(CLOSURE_PREFIX):
        return None
    value: Any = raw_file
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


# -- the calendar, day by day ------------------------------------------------------------------


def day_rows(calendar: Calendar, first: date, days: int) -> list[str]:
    """One row a day: its open hours, and why it differs from the usual week."""
    rows = []
    for offset in range(days):
        day = calendar.day(first + timedelta(days=offset))
        hours = (
            ", ".join(
                f"{calendar.local(s.start):%H:%M}–{calendar.local(s.end):%H:%M}" for s in day.spans
            )
            or "closed"
        )
        note = f"  ({day.note})" if day.note else ""
        rows.append(f"  {day.date:%a %Y-%m-%d}  {hours}{note}")
    return rows


# -- the stored settings, read without changing anything ---------------------------------------


@dataclass(frozen=True, slots=True)
class StoredRead:
    """The settings stored in the line's database, or why they could not be read."""

    url: str
    settings: Settings | None
    why_not: str | None = None


def read_stored(config: HotlineConfig, override: str | None) -> StoredRead:
    """The settings stored in *config*'s database, for a check: nothing is created or
    migrated, and a database out of reach is a reason, not an error."""
    url = database_url(config, override)
    database = open_to_read(url)
    if database is None:
        return StoredRead(url, None, f"there is no database file {make_url(url).database} yet")
    try:
        mismatch = revision_mismatch(database)
        if mismatch is not None:
            return StoredRead(url, None, mismatch)
        with database.reading() as session:
            return StoredRead(url, read_settings(session))
    except StoreError as exc:
        return StoredRead(url, None, str(exc).splitlines()[0])
    finally:
        database.close()


def with_stored(
    path: Path, raw_file: Mapping[str, Any], stored: Settings, where: str
) -> HotlineConfig:
    """The file at *path* (read as *raw_file*) with the *stored* settings over it;
    :class:`ConfigError` naming both when they do not fit together (a reload would be
    refused, and a starting process would run on the file alone)."""
    try:
        return checked(path, raw_file, stored.values)
    except ConfigError as exc:
        raise ConfigError(f"{path} with the settings stored in {where}", exc.problems) from None


def stored_rows(stored: Settings, raw_file: Mapping[str, Any], zone: ZoneInfo) -> list[str]:
    """Each stored setting: its value, the file's where it replaces one, and its change."""
    rows = []
    for key in sorted(stored.values):
        value = stored.values[key]
        replaced = file_value(raw_file, key)
        was = "" if replaced is None else f" (in place of the file's: {described(key, replaced)})"
        rows.append(f"  {key} = {described(key, value)}{was}")
        rows.append(f"      {source(key, stored, zone)}")
    return rows


def stored_summary(read: StoredRead) -> str:
    where = shown_url(read.url)
    if read.settings is None:
        return f"Stored settings not read ({read.why_not}): the file alone is shown."
    if not read.settings.values:
        return f"No stored settings in {where}: the file's rules are in force."
    return f"Stored settings over the file, from {where}:"
