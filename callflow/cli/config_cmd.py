"""``callflow config``: check a configuration before it goes live; the history of the
changes made while it runs, undoing one, and asking every running process to read its
file again."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from callflow.cli.common import (
    config_option,
    database_option,
    load,
    log_level_option,
    reports_errors,
    shown_url,
)
from callflow.cli.settings_common import (
    changed_by,
    day_rows,
    described,
    done,
    line_of,
    line_options,
    now,
    open_line,
    read_stored,
    reports_changes,
    stored_rows,
    stored_summary,
    when,
    with_stored,
)
from callflow.cli.times import in_line_zone, local_time_option
from callflow.config.load import read_file
from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import SystemClock
from callflow.errors import StoreError
from callflow.store.line_settings import RELOAD_KEY, LineChangeView, history

SHOWN_TRANSITIONS = 10
SHOWN_CHANGES = 20
MOST_CHANGES = 1000
LONGEST_SHOWN_VALUE = 80


@click.group("config")
def config_group() -> None:
    """Configuration files, and the changes made while the line runs."""


@config_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@config_option
@database_option
@local_time_option("--at", help="Show openings after this local time [default: now].")
@log_level_option("warning")
@reports_errors
def config_check(
    file: Path | None,
    config_file: Path | None,
    database_url: str | None,
    at: datetime | None,
    log_level: str,
) -> None:
    """Check FILE (or --config); list every problem, or show the hours it gives with the
    settings stored while the line runs laid over it, and where each comes from.

    The stored settings are read from the line's database (nothing is created or
    migrated); one it cannot read is said in one line, and the file is shown alone.
    Exit 0 when the file (with the stored settings) is sound, 2 when it is not.
    """
    config = load(file or config_file, log_level)
    assert config.source is not None
    stored = read_stored(config, database_url)
    raw_file = read_file(config.source)
    effective = config
    if stored.settings is not None and stored.settings.values:
        effective = with_stored(config.source, raw_file, stored.settings, shown_url(stored.url))
    calendar = Calendar.from_config(effective)
    at = in_line_zone(at, config.line.timezone) or SystemClock().now()
    click.echo(f"{config.source}: OK")
    click.echo(_summary(config))
    click.echo()
    click.echo(_effective_week(calendar, at))
    click.echo()
    click.echo(_transitions(calendar, at))
    click.echo()
    click.echo(stored_summary(stored))
    if stored.settings is not None:
        zone = ZoneInfo(config.line.timezone)
        rows = stored_rows(stored.settings, raw_file, zone)
        if rows:
            click.echo("\n".join(rows))


def _summary(config: HotlineConfig) -> str:
    line = config.line
    return (
        f"Line {line.name} {line.number} ({line.timezone}); "
        f"languages {', '.join(config.language_order)}; queues {', '.join(config.topic_order)}"
    )


def _effective_week(calendar: Calendar, now: datetime) -> str:
    rows = ["Effective week (holidays, closures and special hours applied):"]
    rows.extend(day_rows(calendar, calendar.local_date(now), 7))
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


@config_group.command("history")
@click.option(
    "--limit",
    type=click.IntRange(1, MOST_CHANGES),
    default=SHOWN_CHANGES,
    show_default=True,
    help="How many changes, the latest first.",
)
@click.option("--key", "prefix", default=None, help="Only keys that begin with this.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@line_options
@reports_changes
def config_history(
    limit: int,
    prefix: str | None,
    as_json: bool,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """The changes made while the line runs, the latest first: id, when (the line's
    time), who, the key, the old value and the new. `callflow config undo ID` undoes one."""
    with open_line(config_file, database_url, log_level) as line:
        with line.database.reading() as session:
            changes = history(session, limit=limit, key_prefix=prefix)
        zone = line.zone
    if as_json:
        rows = [c.as_json() | {"at": c.at.astimezone(zone).isoformat()} for c in changes]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
    elif not changes:
        click.echo("No changes stored" + (f" under {prefix}." if prefix else "."))
    else:
        click.echo("\n".join(_history_row(change, zone) for change in changes))


def _history_row(change: LineChangeView, zone: ZoneInfo) -> str:
    head = f"#{change.id:<5} {when(change, zone)}  {change.by}"
    if change.key == RELOAD_KEY:
        return f"{head}  reload of the configuration files requested"
    undoes = f"  (undoes #{change.undoes})" if change.undoes else ""
    old, new = (_cut(described(change.key, v)) for v in (change.old_value, change.new_value))
    return f"{head}  {change.key}  {old} → {new}{undoes}"


def _cut(text: str) -> str:
    if len(text) <= LONGEST_SHOWN_VALUE:
        return text
    return text[: LONGEST_SHOWN_VALUE - 1] + "…"


@config_group.command("undo")
@click.argument("change_id", metavar="CHANGE_ID", type=click.IntRange(1))
@line_options
@reports_changes
def config_undo(
    change_id: int, config_file: Path | None, database_url: str | None, log_level: str
) -> None:
    """Undo change CHANGE_ID: put back the value it replaced, as a change of its own (kept
    in the history, and undone in turn if need be)."""
    with open_line(config_file, database_url, log_level) as line:
        change = line.rules.undo(change_id, by=changed_by(), now=now())
    click.echo(
        f"Undid change #{change_id}: {change.key} back to "
        f"{described(change.key, change.new_value)}: {done(change)}"
    )


@config_group.command("reload")
@line_options
@reports_changes
def config_reload(config_file: Path | None, database_url: str | None, log_level: str) -> None:
    """Ask every running serve and worker to read its configuration file again (as SIGHUP
    does to one). The file is checked first, with the stored settings over it: a file
    with a problem is refused whole, each problem printed, and nothing is asked (nor is
    anything written before: the check only reads the database)."""
    config = load(config_file, log_level)
    assert config.source is not None
    stored = read_stored(config, database_url)
    if stored.settings is None:
        raise StoreError(f"no reload asked for: {stored.why_not}")
    with_stored(config.source, read_file(config.source), stored.settings, shown_url(stored.url))
    with line_of(config, database_url) as line:
        change_id = line.rules.request_reload(by=changed_by(), now=now())
    click.echo(
        f"Reload of {config.source} requested: change #{change_id} by {changed_by()}. "
        "Every running serve and worker reads its file again within 2 s."
    )
