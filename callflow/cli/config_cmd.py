"""``callflow config``: check a configuration before it goes live."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import click

from callflow.cli.common import config_option, load, log_level_option, reports_errors
from callflow.cli.times import in_line_zone, local_time_option
from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import SystemClock

SHOWN_TRANSITIONS = 10


@click.group("config")
def config_group() -> None:
    """Configuration files."""


@config_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@config_option
@local_time_option("--at", help="Show openings after this local time [default: now].")
@log_level_option("warning")
@reports_errors
def config_check(
    file: Path | None, config_file: Path | None, at: datetime | None, log_level: str
) -> None:
    """Check FILE (or --config); list every problem, or show the hours it gives.

    Exit 0 when the file is sound, 2 when it is not.
    """
    config = load(file or config_file, log_level)
    calendar = Calendar.from_config(config)
    now = in_line_zone(at, config.line.timezone) or SystemClock().now()
    click.echo(f"{config.source}: OK")
    click.echo(_summary(config))
    click.echo()
    click.echo(_effective_week(calendar, now))
    click.echo()
    click.echo(_transitions(calendar, now))


def _summary(config: HotlineConfig) -> str:
    line = config.line
    return (
        f"Line {line.name} {line.number} ({line.timezone}); "
        f"languages {', '.join(config.language_order)}; queues {', '.join(config.topic_order)}"
    )


def _effective_week(calendar: Calendar, now: datetime) -> str:
    rows = ["Effective week (holidays, closures and special hours applied):"]
    first = calendar.local_date(now)
    for offset in range(7):
        day = calendar.day(first + timedelta(days=offset))
        hours = (
            ", ".join(
                f"{calendar.local(s.start):%H:%M}–{calendar.local(s.end):%H:%M}" for s in day.spans
            )
            or "closed"
        )
        note = f"  ({day.note})" if day.note else ""
        rows.append(f"  {day.date:%a %Y-%m-%d}  {hours}{note}")
    return "\n".join(rows)


def _transitions(calendar: Calendar, now: datetime) -> str:
    rows = [
        f"Next {SHOWN_TRANSITIONS} openings and closings after "
        f"{calendar.local(now):%a %Y-%m-%d %H:%M %Z}:"
    ]
    previous = calendar.local_date(now)
    for transition in calendar.transitions(now, SHOWN_TRANSITIONS):
        day = calendar.local_date(transition.at)
        skipped = previous + timedelta(days=1)
        while skipped < day:
            closed = calendar.day(skipped)
            if closed.note:
                rows.append(f"  —       {skipped:%a %Y-%m-%d}        {closed.note}")
            skipped += timedelta(days=1)
        previous = day
        verb = "opens " if transition.opens else "closes"
        note = f"  ({transition.note})" if transition.note else ""
        rows.append(f"  {verb}  {calendar.local(transition.at):%a %Y-%m-%d %H:%M}{note}")
    return "\n".join(rows)
