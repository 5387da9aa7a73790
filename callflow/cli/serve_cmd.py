"""``callflow serve``: run the line, and its web app beside it on ``--host``/``--port``.

On every line the web app serves the advisors' desk, the wallboard and the admin
pages (their addresses are in the ``serve.started`` log line) with the advisor
API and metrics.

With no telephony provider configured, the line runs against the simulator
in accelerated real time on the configured database (SQLite by default), so
a newcomer sees calls arrive, queue, overflow into callbacks and get called
back — and ``callflow report`` afterwards shows what happened. The pages run
on the simulated line's time: the board moves with it, and whoever signs in
on the desk and makes themselves available is given simulated callers and
callbacks beside the simulated advisors.

With ``[provider.twilio]`` configured, the one HTTP app also takes Twilio's
webhooks, and queued callers are connected with free advisors while it runs.
Every webhook must carry Twilio's signature; only ``--dev-unsigned-webhooks``
(a rehearsal without a carrier, never production) turns that off, and says so.

With ``[provider.ari]`` configured, it runs the Asterisk adapter on the
line's Stasis application (the password from ``ARI_PASSWORD``) on the same
event loop as the HTTP app.

Which of these it is, :mod:`callflow.cli.composition` decides; this command
runs what it is given. The HTTP app is served with the limits of ``[web]``,
and ``/metrics`` on an address of its own when ``[web]`` gives one, as
``callflow web`` serves it (:mod:`callflow.cli.http_server`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
import structlog
from click.core import ParameterSource

from callflow.cli.common import (
    config_option,
    database_option,
    load,
    log_level_option,
    reports_errors,
)
from callflow.cli.composition import Choice, Overrides, choose, open_line
from callflow.cli.http_server import listening, serve_apps
from callflow.cli.times import in_line_zone, local_time_option

log = structlog.get_logger("callflow.serve")

ONLY_FOR = (
    (("speed", "seed", "at"), "a simulated line (no provider configured)"),
    (("dev_unsigned_webhooks",), "a line on Twilio ([provider.twilio])"),
)
"""The options only some lines take, and which."""
PAGES = {"desk": "/desk", "board": "/board", "admin": "/admin", "sign_in": "/sign-in"}
"""The web app's pages people open, as ``serve.started`` names them."""


@click.command("serve")
@config_option
@database_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address the web app (pages, API, webhooks) listens on.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="The port the web app listens on; 0 takes a free one.",
)
@click.option(
    "--dev-unsigned-webhooks",
    is_flag=True,
    help="Development only: accept webhooks without Twilio's signature (logged as a warning).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=1, max=100_000),
    default=60.0,
    show_default=True,
    help="Simulated line only: simulated seconds per real second.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Simulated line only: same seed, same callers [default: random].",
)
@local_time_option(
    "--at",
    help="Simulated line only: line time to start from [default: now, or the next opening "
    "if closed].",
)
@log_level_option("info")
@reports_errors
@click.pass_context
def serve(
    ctx: click.Context,
    config_file: Any,
    database_url: str | None,
    host: str,
    port: int,
    dev_unsigned_webhooks: bool,
    speed: float,
    seed: int | None,
    at: datetime | None,
    log_level: str,
) -> None:
    """Run the line and its web app (desk, board, admin pages, API): with
    [provider.twilio], its webhooks too; with [provider.ari], the calls of an Asterisk;
    without a provider, simulated callers and advisors, and work for whoever makes
    themselves available on the desk.

    Stop with Ctrl-C: the calls in progress are written to the store first.
    """
    config = load(config_file, log_level)
    overrides = Overrides(
        database_url=database_url,
        verify_signatures=not dev_unsigned_webhooks,
        speed=speed,
        seed=seed,
        start=in_line_zone(at, config.line.timezone),
    )
    choice = choose(config, overrides)
    _refuse_options_not_for(choice, ctx)
    with (
        listening(host, port, config.web) as sockets,
        open_line(config, choice, overrides, running=True) as line,
    ):
        urls = sockets.urls()
        pages = {name: urls["url"] + path for name, path in PAGES.items()}
        serve_apps(
            line.apps(sockets),
            config.web,
            log_level,
            announce=lambda: log.info("serve.started", **urls, **pages, **line.facts()),
            beside=line.run,
        )
        log.info("serve.stopped", **line.facts())


def _refuse_options_not_for(choice: Choice, ctx: click.Context) -> None:
    """A usage error naming the options given that this line does not take."""
    takes = {
        "speed": choice.simulated,
        "seed": choice.simulated,
        "at": choice.simulated,
        "dev_unsigned_webhooks": choice.webhooks,
    }
    for options, only_for in ONLY_FOR:
        refused = [
            name
            for name in options
            if not takes[name] and ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
        ]
        if refused:
            named = ", ".join(f"--{name.replace('_', '-')}" for name in refused)
            raise click.UsageError(f"{named}: only for {only_for}")
