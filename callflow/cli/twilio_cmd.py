"""``callflow twilio``: rehearse a Twilio line without a carrier."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import click

from callflow.cli.common import config_option, load, log_level_option, reports_errors
from callflow.cli.phone_cmd import CALLER_ID, DTMF
from callflow.providers.twilio.devphone import DevPhone, scripted
from callflow.providers.twilio.settings import TwilioAccount
from callflow.values.durations import DURATION_HELP, parse_duration
from callflow.values.numbers import check_callback_number, mask_digits

SERVER_URL = re.compile(r"https?://[^\s/?#]+/?")


def _digits(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    if value is None:
        return []
    items = [item.strip() for item in value.split(",")]
    for index, item in enumerate(items, start=1):
        if not DTMF.fullmatch(item):
            raise click.BadParameter(
                f"item {index} ({item!r}) is not keypad input; use digits 0-9, * and #, "
                "comma-separated, e.g. 2,1,1 or 1,1,1,2,0401234567#",
                ctx,
                param,
            )
    return items


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    try:
        length = parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not {DURATION_HELP}", ctx, param) from None
    if length < timedelta(0):
        raise click.BadParameter("give a length of zero or more", ctx, param)
    return length


def _server(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not SERVER_URL.fullmatch(value):
        raise click.BadParameter(
            f"{value!r} is not a server address like http://127.0.0.1:8080", ctx, param
        )
    return value.rstrip("/")


@click.group("twilio")
def twilio_group() -> None:
    """Twilio tools."""


@twilio_group.command("dial")
@click.option(
    "--url",
    "server_url",
    required=True,
    callback=_server,
    help="The running server (callflow serve), e.g. http://127.0.0.1:8080.",
)
@click.option("--from", "caller", metavar="NUMBER", help="Caller ID, e.g. +358401234567.")
@click.option("--withheld", is_flag=True, help="Caller ID withheld (the default without --from).")
@click.option(
    "--digits",
    callback=_digits,
    metavar="KEYS",
    help="Keys to press at each question, comma-separated; '' for silence.",
)
@click.option(
    "--public-url",
    default=None,
    help="The URL Twilio calls, which it signs [default: [provider.twilio].public_url].",
)
@click.option(
    "--hold",
    default="3s",
    show_default=True,
    callback=_duration,
    help="How long each turn of hold music lasts.",
)
@click.option(
    "--patience",
    default="2m",
    show_default=True,
    callback=_duration,
    help="How long the caller waits in a queue before hanging up.",
)
@config_option
@log_level_option("warning")
@reports_errors
def dial(
    server_url: str,
    caller: str | None,
    withheld: bool,
    digits: list[str],
    public_url: str | None,
    hold: timedelta,
    patience: timedelta,
    config_file: Path | None,
    log_level: str,
) -> None:
    """Call a running Twilio line as Twilio would: requests signed with TWILIO_AUTH_TOKEN,
    its TwiML followed (redirects, actions, the queue's waitUrl), the conversation printed.

    Ends with one JSON line: {"call_sid": ..., "ended_by": "line"|"caller", "requests": N}.
    """
    if caller is not None and withheld:
        raise click.UsageError("give --from NUMBER or --withheld, not both")
    if caller is not None and not CALLER_ID.fullmatch(caller):
        raise click.BadParameter(
            f"'{mask_digits(caller)}' is not a phone number; use e.g. +358401234567",
            param_hint="--from",
        )
    config = load(config_file, log_level)
    section = config.provider.twilio
    if public_url is None and section is None:
        raise click.UsageError(
            "this configuration has no [provider.twilio]; give --public-url of the server"
        )
    account = TwilioAccount.from_environment()
    number = ""
    if caller is not None:
        checked = check_callback_number(caller, config.callbacks.allowed_regions)
        number = checked.e164 or caller  # Twilio passes caller ID as the network gives it
    phone = DevPhone(
        server_url=server_url,
        public_url=public_url or (section.public_url if section else ""),
        account=account,
        caller=number,
        line_number=config.line.number,
        keys=scripted(digits),
        out=sys.stdout,
        hold=hold,
        patience=patience,
    )
    result = asyncio.run(phone.call())
    click.echo(json.dumps(result.as_json()))
