"""``callflow phone``: be the caller, from a terminal."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

import click

from callflow.cli.common import (
    config_option,
    database_option,
    load,
    log_level_option,
    open_database,
    reports_errors,
)
from callflow.cli.times import in_line_zone, local_time_option
from callflow.engine.clock import SystemClock
from callflow.providers.sim.console import ConsolePhone, Keys, scripted_keys
from callflow.service.rules import LineRules
from callflow.values.durations import DURATION_HELP, parse_duration
from callflow.values.numbers import check_callback_number, mask_digits

DTMF = re.compile(r"[0-9*#]*")
CALLER_ID = re.compile(r"\+?[0-9 ()\-]+")


def _digits(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [item.strip() for item in value.split(",")]
    for index, item in enumerate(items, start=1):
        if not DTMF.fullmatch(item):
            raise click.BadParameter(
                f"item {index} ({item!r}) is not keypad input; use digits 0-9, * and #, "
                "comma-separated, e.g. 1,1,1,1 or 1,1,1,2,0401234567#",
                ctx,
                param,
            )
    return items


MAX_PATIENCE = timedelta(hours=12)


def _patience(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    try:
        patience = parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not {DURATION_HELP}", ctx, param) from None
    if not timedelta(0) < patience <= MAX_PATIENCE:
        raise click.BadParameter(f"{value!r}: give a wait between 1s and 12h", ctx, param)
    return patience


def _keyboard() -> Keys:
    def read() -> str | None:
        try:
            text = input("keys (Enter = silence, h = hang up)> ").strip()
        except (EOFError, KeyboardInterrupt):
            return None  # end of input or Ctrl-C: the caller hangs up
        if text.lower() in ("h", "hangup", "hang up", "q"):
            return None
        if not DTMF.fullmatch(text):
            click.echo("  (only 0-9, * and # are on a phone keypad; staying silent)", err=True)
            return ""
        return text

    return read


@click.command("phone")
@config_option
@database_option
@local_time_option("--at", help="Line time of the call, e.g. 2026-01-12T10:00 [default: now].")
@click.option("--from", "caller", metavar="NUMBER", help="Caller ID, e.g. 0401234567.")
@click.option("--withheld", is_flag=True, help="Caller ID withheld (the default without --from).")
@click.option(
    "--digits",
    callback=_digits,
    metavar="KEYS",
    help="Keys to press at each question, comma-separated, e.g. 1,1,1,1; keys together "
    "(1111) are pressed one after another without waiting for the next question; '' for "
    "silence.",
)
@click.option(
    "--busy",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Advisors on calls when the call arrives (all, if more than staffed).",
)
@click.option(
    "--patience",
    default="20m",
    show_default=True,
    callback=_patience,
    help="How long the caller waits in a queue before hanging up.",
)
@log_level_option("warning")
@reports_errors
def phone(
    config_file: Path | None,
    database_url: str | None,
    at: datetime | None,
    caller: str | None,
    withheld: bool,
    digits: list[str] | None,
    busy: int,
    patience: timedelta,
    log_level: str,
) -> None:
    """Call the line from the terminal: hear the prompts as text, press keys, wait in the
    queue on a virtual clock, and leave a callback request in the real database.

    Ends with one JSON line: {"outcome": ..., "callback": {...}|null, "call_id": ...}.
    """
    if caller is not None and withheld:
        raise click.UsageError("give --from NUMBER or --withheld, not both")
    if caller is not None and not CALLER_ID.fullmatch(caller):
        raise click.BadParameter(
            f"'{mask_digits(caller)}' is not a phone number; use e.g. 0401234567 or +358401234567",
            param_hint="--from",
        )
    config = load(config_file, log_level)
    caller_e164 = None
    if caller is not None:
        checked = check_callback_number(caller, config.callbacks.allowed_regions)
        caller_e164 = checked.e164
        if checked.e164 is None:
            click.echo(
                f"note: caller ID cannot be called back ({checked.problem}); "
                "the line will ask for a number",
                err=True,
            )
    start_at = in_line_zone(at, config.line.timezone) or SystemClock().now()
    database = open_database(config, database_url)
    try:
        result = ConsolePhone(
            LineRules.load(config, database).config,  # the line as it runs, stored settings too
            database,
            start_at=start_at,
            caller_e164=caller_e164,
            withheld=caller is None,
            busy=busy,
            keys=scripted_keys(digits) if digits is not None else _keyboard(),
            out=sys.stdout,
            patience=patience,
        ).run()
    finally:
        database.close()
    click.echo(json.dumps(result.as_json(), ensure_ascii=False))
