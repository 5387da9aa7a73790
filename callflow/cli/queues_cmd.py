"""``callflow queues``: a queue's thresholds and policies, changed while the line runs.

The keys are :data:`~callflow.config.layers.QUEUE_KEYS`, written as the
file writes them under ``[queues.<queue>]`` (``overflow.queue_length``,
``closing_policy``, …), and a value is read as the file would read it: ``5``
is a number, ``false`` a yes/no, ``4m`` or ``serve`` text. Each change is
checked by ``callflow config check``'s rules first, so an unknown queue or
key, or a value the file could not have, is refused with the key and why.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click

from callflow.cli.settings_common import (
    changed_by,
    done,
    file_value,
    line_options,
    now,
    open_line,
    reports_changes,
    shown,
    source,
)
from callflow.config import live_keys
from callflow.config.layers import QUEUE_KEYS, key_problem
from callflow.config.models import HotlineConfig
from callflow.errors import SettingRefused


@click.group(
    "queues",
    help="A queue's overflow thresholds, closing policy and callbacks while the line runs, "
    f"in force on every running process within 2 s.\n\nKEY is one of: {', '.join(QUEUE_KEYS)}.",
)
def queues_group() -> None:
    """The queues' live settings (the help is built from QUEUE_KEYS, so it lists them all)."""


def toml_value(text: str) -> Any:
    """*text* as the file reads a value after ``key =``: ``5``, ``true``, ``"4m"``; text the
    file could not read as a value (``4m``, ``serve``) is that text."""
    if "\n" in text:
        return text
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    return value if isinstance(value, str | int | float | bool) else text


def queue_value(config: HotlineConfig, queue: str, key: str) -> Any:
    """The value of *queue*'s *key* in force (the file's default where it sets none);
    ``None`` for a queue or key the line does not have."""
    if queue not in config.queues or key not in QUEUE_KEYS:
        return None
    value: Any = config.queues[queue]
    for part in key.split("."):
        value = getattr(value, part)
    return value


@queues_group.command("set")
@click.argument("queue")
@click.argument("key")
@click.argument("value")
@line_options
@reports_changes
def queues_set(
    queue: str,
    key: str,
    value: str,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Set QUEUE's KEY to VALUE, read as the file reads a value.

    For example `health overflow.queue_length 5`, `health overflow.estimated_wait 4m`,
    `other closing_policy callback`, `social callbacks.when_closed false`.
    """
    setting = live_keys.queue_key(queue, key)
    with open_line(config_file, database_url, log_level) as line:
        before = queue_value(line.rules.config, queue, key)
        change = line.rules.change(setting, toml_value(value), by=changed_by(), now=now())
        after = queue_value(line.rules.config, queue, key)
    click.echo(f"Queue {queue}: {key} {shown(before)} → {shown(after)}: {done(change)}")


@queues_group.command("unset")
@click.argument("queue")
@click.argument("key")
@line_options
@reports_changes
def queues_unset(
    queue: str, key: str, config_file: Path | None, database_url: str | None, log_level: str
) -> None:
    """Put QUEUE's KEY back to the file's value."""
    setting = live_keys.queue_key(queue, key)
    with open_line(config_file, database_url, log_level) as line:
        if setting not in line.stored().values:
            problem = key_problem(setting, line.rules.raw_file)
            if problem is not None:
                raise SettingRefused([problem])
            in_force = shown(queue_value(line.rules.config, queue, key))
            click.echo(f"Queue {queue}: {key} is the file's ({in_force}): nothing changed.")
            return
        before = queue_value(line.rules.config, queue, key)
        change = line.rules.change(setting, None, by=changed_by(), now=now())
        after = queue_value(line.rules.config, queue, key)
    click.echo(f"Queue {queue}: {key} {shown(before)} → {shown(after)}, the file's: {done(change)}")


@queues_group.command("show")
@click.argument("queue", required=False)
@line_options
@reports_changes
def queues_show(
    queue: str | None, config_file: Path | None, database_url: str | None, log_level: str
) -> None:
    """Each queue's (or QUEUE's) settings in force and where each comes from: the file,
    the default, or a stored change (by whom, when)."""
    with open_line(config_file, database_url, log_level) as line:
        config = line.rules.config
        if queue is not None and queue not in config.queues:
            raise click.BadParameter(
                f"{queue!r} is not a queue; queues are: {', '.join(config.topic_order)}",
                param_hint="QUEUE",
            )
        stored = line.stored()
        line.warn_if_refused(stored)
        in_force = line.rules.current.settings
        rows = []
        for name in [queue] if queue else config.topic_order:
            rows.append(f"{name}:")
            for key in QUEUE_KEYS:
                setting = live_keys.queue_key(name, key)
                if setting in in_force:
                    where = source(setting, stored, line.zone)
                elif file_value(line.rules.raw_file, setting) is not None:
                    where = "file"
                else:
                    where = "default"
                value = shown(queue_value(config, name, key))
                rows.append(f"  {key:<36}{value:<16}{where}")
    click.echo("\n".join(rows))
