"""``callflow emergency``: the message for a bad day, switched on and off in seconds.

A message (``[emergency.<scope>]`` of the file, or stored over it) is said to
every caller (scope ``line``) or to one queue's callers, in every language of
the line, from its start until its end or until it is switched off. Like
every live change it is checked by ``callflow config check``'s rules first: a
language left out, or a queue the line does not have, is refused with the key
and the reason.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from callflow.cli.settings_common import (
    LocalTimeOrNow,
    capitalised,
    changed_by,
    done,
    emergency_text,
    line_minute,
    line_options,
    now,
    open_line,
    reports_changes,
    scope_text,
    source,
)
from callflow.cli.times import LocalTime
from callflow.config import live_keys
from callflow.config.models import EMERGENCY_SCOPE_LINE, HotlineConfig

MODES = ("serve", "callbacks-only", "close")
ASTERISK_NOTE = (
    "On Asterisk its sound files are rendered by serve where it runs on the Asterisk host, "
    "else by `callflow prompts build` there."
)


@click.group("emergency")
def emergency_group() -> None:
    """The emergency message: said after the greeting (or after a queue is chosen), in
    every language, in force on every running process within 2 s."""


def _texts(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for value in values:
        code, sep, text = value.partition("=")
        code = code.strip()
        if not sep or not code:
            raise click.BadParameter(
                f'{value!r}: write a language and its text, like fi="Järjestelmähäiriön vuoksi …"',
                ctx,
                param,
            )
        if code in texts:
            raise click.BadParameter(f"{code} is given twice; give each language once", ctx, param)
        texts[code] = text.strip()
    return texts


def _scope_option(function: Any) -> Any:
    return click.option(
        "--queue",
        default=None,
        metavar="QUEUE",
        help="Only this queue's callers, after they choose it [default: the whole line].",
    )(function)


@emergency_group.command("on")
@click.option(
    "--text",
    "texts",
    multiple=True,
    required=True,
    callback=_texts,
    metavar="CODE=TEXT",
    help="The message in one language (repeat for each language of the line).",
)
@_scope_option
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="serve",
    show_default=True,
    help="After it: serve as usual, offer callbacks only, or close the line (or queue).",
)
@click.option(
    "--no-after-hours-offer",
    is_flag=True,
    help="With --mode close: say goodbye instead of offering the after-hours callback.",
)
@click.option(
    "--from", "start", type=LocalTimeOrNow(), default="now", show_default=True, help="From when."
)
@click.option(
    "--until", "end", type=LocalTime(), default=None, help="Until when [default: until off]."
)
@line_options
@reports_changes
def emergency_on(
    texts: dict[str, str],
    queue: str | None,
    mode: str,
    no_after_hours_offer: bool,
    start: datetime | str,
    end: datetime | None,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Switch the emergency message on (in place of one already on for that scope)."""
    scope = queue or EMERGENCY_SCOPE_LINE
    with open_line(config_file, database_url, log_level) as line:
        at = now()
        setting = live_keys.emergency(
            scope,
            texts,
            mode=mode.replace("-", "_"),
            after_hours_offer=not no_after_hours_offer,
            start=line_minute(start, line.zone, at),
            end=None if end is None else line_minute(end, line.zone, at),
        )
        change = line.rules.change(setting.key, setting.value, by=changed_by(), now=at)
        message = line.rules.config.emergency[scope]
        asterisk = line.rules.config.provider.ari is not None
    click.echo(
        f"Emergency message on for {scope_text(scope)}, {emergency_text(message)}: {done(change)}"
    )
    if asterisk:
        click.echo(ASTERISK_NOTE)


@emergency_group.command("off")
@_scope_option
@line_options
@reports_changes
def emergency_off(
    queue: str | None, config_file: Path | None, database_url: str | None, log_level: str
) -> None:
    """Switch the stored emergency message off (the file's own, if any, is changed in the
    file)."""
    scope = queue or EMERGENCY_SCOPE_LINE
    key = live_keys.emergency_key(scope)
    with open_line(config_file, database_url, log_level) as line:
        if scope not in (EMERGENCY_SCOPE_LINE, *line.rules.config.queues):
            raise click.BadParameter(
                f"{scope!r} is not a queue; queues are: {', '.join(line.rules.config.topic_order)}",
                param_hint="--queue",
            )
        if key in line.stored().values:
            change = line.rules.change(key, None, by=changed_by(), now=now())
            click.echo(f"Emergency message off for {scope_text(scope)}: {done(change)}")
        else:
            click.echo(f"No emergency message is stored for {scope_text(scope)}: nothing changed.")
        in_file = line.rules.config.emergency.get(scope)
    if in_file is not None:
        click.echo(
            f"The file's message for {scope_text(scope)} stays ({emergency_text(in_file)}): "
            f"remove [{key}] from {line.file.source} and run `callflow config reload`."
        )


@emergency_group.command("show")
@line_options
@reports_changes
def emergency_show(config_file: Path | None, database_url: str | None, log_level: str) -> None:
    """The emergency messages in force or to come, their texts and where each comes from."""
    with open_line(config_file, database_url, log_level) as line:
        stored = line.stored()
        line.warn_if_refused(stored)
        config = line.rules.config
        local_now = now().astimezone(line.zone).replace(tzinfo=None)
        rows = []
        for scope in _scopes(config):
            where = source(live_keys.emergency_key(scope), stored, line.zone)
            rows.extend(_message_rows(config, scope, local_now, where))
    click.echo("\n".join(rows) if rows else "No emergency message.")


def _scopes(config: HotlineConfig) -> list[str]:
    """The scopes that have a message: the line first, then the queues in menu order."""
    return [s for s in (EMERGENCY_SCOPE_LINE, *config.topic_order) if s in config.emergency]


def _message_rows(config: HotlineConfig, scope: str, local_now: datetime, where: str) -> list[str]:
    message = config.emergency[scope]
    if message.in_force(local_now):
        state = "in force now"
    elif message.start > local_now:
        state = "not yet in force"
    else:
        state = "ended"
    rows = [f"{capitalised(scope_text(scope))}: {state}; {emergency_text(message)}"]
    rows.extend(f"  {code}: {message.texts[code]}" for code in config.language_order)
    rows.append(f"  ({where})")
    return rows
