"""``callflow calendar``: close the line, or give a date special hours, while it runs.

Closures and special hours are stored beside the file's (which stays the
baseline) through the one path the pages and the API take too, checked by
``callflow config check``'s rules before anything is stored: a closure that
ends before it starts, or special hours too short for a queue's callback
promise, are refused with the setting's key and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from callflow.cli.settings_common import (
    Line,
    LocalTimeOrNow,
    capitalised,
    changed_by,
    day_rows,
    described,
    done,
    exception_text,
    file_value,
    line_minute,
    line_options,
    now,
    open_line,
    reports_changes,
    source,
)
from callflow.cli.times import LocalDate, LocalTime
from callflow.config import live_keys
from callflow.config.live_keys import CLOSURE_PREFIX, SPECIAL_PREFIX
from callflow.config.models import Closure, SpecialHours
from callflow.store.line_settings import Settings
from callflow.values.durations import DURATION_HELP, parse_duration

CLOSED = "closed"
SHOWN_DAYS = 14
MOST_DAYS = 400


@click.group("calendar")
def calendar_group() -> None:
    """The line's calendar while it runs: closures and special hours stored beside the
    file's, in force on every running process within 2 s.

    Times are the line's local time, like 2026-12-08T10:00 or "2026-12-08 10:00".
    """


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not {DURATION_HELP}", ctx, param) from None


@calendar_group.command("close")
@click.option("--from", "start", type=LocalTimeOrNow(), help="When the closure starts, or now.")
@click.option("--to", "end", type=LocalTime(), help="When it ends.")
@click.option(
    "--for", "length", callback=_duration, metavar="DURATION", help="How long it lasts (1h, 90m)."
)
@click.option("--date", "day", type=LocalDate(), help="Close this whole day instead.")
@click.option("--reason", required=True, help="Why (the pages and `calendar show` say it).")
@line_options
@reports_changes
def close(
    start: datetime | str | None,
    end: datetime | None,
    length: timedelta | None,
    day: date | None,
    reason: str,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Close the line from --from to --to (or for --for), or all of --date.

    Callers already waiting get their queue's closing policy; new callers hear that the
    line is closed and when it opens.
    """
    whole_day = day is not None and start is None and end is None and length is None
    span = day is None and start is not None and (end is None) != (length is None)
    if not (whole_day or span):
        raise click.UsageError("give --date DAY, or --from with either --to or --for")
    with open_line(config_file, database_url, log_level) as line:
        at = now()
        if day is not None:
            setting = live_keys.day_closure(day, reason)
        else:
            assert start is not None
            first = line_minute(start, line.zone, at)
            if length is not None:
                last = _after(first, length, line)
            else:
                assert end is not None
                last = line_minute(end, line.zone, at)
            setting = live_keys.closure(first, last, reason)
        key, value = setting.key, setting.value
        change = line.rules.change(key, value, by=changed_by(), now=at)
    replaced = f" in place of {described(key, change.old_value)}" if change.old_value else ""
    click.echo(f"{capitalised(described(key, value))}{replaced}: {done(change)}")


def _after(first: datetime, length: timedelta, line: Line) -> datetime:
    """*length* after local *first*, counted in real time (a night the clocks turn too)."""
    instant = first.replace(tzinfo=line.zone).astimezone(UTC) + length
    return instant.astimezone(line.zone).replace(tzinfo=None)


@calendar_group.command("special-hours")
@click.argument("day", metavar="DATE", type=LocalDate())
@click.argument("hours")
@click.option("--reason", required=True, help="Why (the pages and `calendar show` say it).")
@line_options
@reports_changes
def special_hours(
    day: date,
    hours: str,
    reason: str,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Open DATE for HOURS instead of its usual hours: 09:00-12:00, several comma-separated
    (09:00-11:00,12:00-14:00), or closed. Hours on a day the line is usually closed are an
    extra opening; they replace the file's special hours for DATE, if it has some."""
    ranges = [] if hours.strip().lower() == CLOSED else [h.strip() for h in hours.split(",")]
    setting = live_keys.special_hours(day, ranges, reason)
    key, value = setting.key, setting.value
    with open_line(config_file, database_url, log_level) as line:
        in_file = file_value(line.rules.raw_file, key)
        change = line.rules.change(key, value, by=changed_by(), now=now())
    before = change.old_value or in_file
    replaced = f" in place of {described(key, before)}" if before else ""
    click.echo(f"{capitalised(described(key, value))}{replaced}: {done(change)}")


@calendar_group.command("remove")
@click.argument("given", metavar="KEY_OR_DATE")
@line_options
@reports_changes
def remove(given: str, config_file: Path | None, database_url: str | None, log_level: str) -> None:
    """Take a stored closure or special hours back out: its key
    (calendar.closures.2026-12-08T10:00), its start (2026-12-08T10:00) or its date.

    The file's own are changed in the file; `callflow calendar show` lists which is which.
    """
    with open_line(config_file, database_url, log_level) as line:
        key = _stored_key(given, line.stored())
        change = line.rules.change(key, None, by=changed_by(), now=now())
        in_file = file_value(line.rules.raw_file, key)
    again = f"; the file's {described(key, in_file)} apply again" if in_file else ""
    click.echo(f"Removed {key} ({described(key, change.old_value)}){again}: {done(change)}")


def _stored_key(given: str, stored: Settings) -> str:
    """The stored closure or special hours *given* names: its key, its start or its date."""
    keys = sorted(k for k in stored.values if k.startswith((CLOSURE_PREFIX, SPECIAL_PREFIX)))
    if given in keys:
        return given
    text = given.strip().replace(" ", "T")
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{given!r} is not a stored setting's key, a date (2026-12-24) or a start "
            "(2026-12-08T10:00)",
            param_hint="KEY_OR_DATE",
        ) from None
    if "T" in text:
        found = [k for k in keys if k == f"{CLOSURE_PREFIX}{at:%Y-%m-%dT%H:%M}"]
    else:
        found = [k for k in keys if k.split(".")[-1].split("T")[0] == text]
    if len(found) == 1:
        return found[0]
    if found:
        raise click.BadParameter(
            f"{given} names {len(found)} stored settings; give one of: {', '.join(found)}",
            param_hint="KEY_OR_DATE",
        )
    raise click.BadParameter(
        f"no closure or special hours is stored for {given} (the file's own are changed in "
        "the file); `callflow calendar show` lists them",
        param_hint="KEY_OR_DATE",
    )


@calendar_group.command("show")
@click.option(
    "--days",
    type=click.IntRange(1, MOST_DAYS),
    default=SHOWN_DAYS,
    show_default=True,
    help="How many days from today.",
)
@line_options
@reports_changes
def show(days: int, config_file: Path | None, database_url: str | None, log_level: str) -> None:
    """The calendar in force, day by day from today, then each closure and special hours
    in those days with where it comes from: the file, or a stored change (by whom, when,
    and its key for `callflow calendar remove`)."""
    with open_line(config_file, database_url, log_level) as line:
        stored = line.stored()
        line.warn_if_refused(stored)
        calendar = line.rules.calendar
        first = calendar.local_date(now())
        last = first + timedelta(days=days)
        click.echo(
            f"{line.file.line.name}, {first:%a %Y-%m-%d} to "
            f"{last - timedelta(days=1):%a %Y-%m-%d} ({line.file.line.timezone}):"
        )
        click.echo("\n".join(day_rows(calendar, first, days)))
        exceptions = sorted(_exceptions(line, stored, first, last), key=lambda row: row[0])
    click.echo()
    if not exceptions:
        click.echo("No closures or special hours in these days.")
        return
    click.echo("Closures and special hours in these days:")
    for _, text, where in exceptions:
        click.echo(f"  {text}\n      {where}")


Listed = tuple[date, str, str]
"""A closure or special hours: its first day, what it says, where it comes from."""


def _exceptions(line: Line, stored: Settings, first: date, last: date) -> Iterator[Listed]:
    in_force = line.rules.current.settings
    restated = {k.removeprefix(SPECIAL_PREFIX) for k in in_force if k.startswith(SPECIAL_PREFIX)}
    calendar = line.file.calendar
    for closure in calendar.closures:
        yield from _closure(closure, first, last, "file")
    for special in calendar.special_hours:
        if first <= special.date < last and special.date.isoformat() not in restated:
            yield special.date, exception_text(special), "file"
    for key, value in in_force.items():
        where = f"{source(key, stored, line.zone)}; key {key}"
        if key.startswith(CLOSURE_PREFIX):
            yield from _closure(Closure.model_validate(value), first, last, where)
        elif key.startswith(SPECIAL_PREFIX):
            day = date.fromisoformat(key.removeprefix(SPECIAL_PREFIX))
            if first <= day < last:
                special = SpecialHours.model_validate({"date": day, **value})
                yield day, exception_text(special), where


def _closure(closure: Closure, first: date, last: date, where: str) -> Iterator[Listed]:
    if closure.date is not None:
        begins = ends = closure.date
    else:
        assert closure.start is not None and closure.end is not None
        begins, ends = closure.start.date(), closure.end.date()
    if begins < last and ends >= first:
        yield begins, exception_text(closure), where
