"""``callflow serve``: run the line.

With no telephony provider configured, the line runs against the simulator
in accelerated real time on the configured database (SQLite by default), so
a newcomer sees calls arrive, queue, overflow into callbacks and get called
back — and ``callflow report`` afterwards shows what happened.

With ``[provider.twilio]`` configured, it serves the one HTTP app — Twilio's
webhooks beside the advisor API — with uvicorn on ``--host``/``--port``, and
connects queued callers with free advisors while it runs. Every webhook
must carry Twilio's signature; only ``--dev-unsigned-webhooks`` (a
rehearsal without a carrier, never production) turns that off, and says so.

With ``[provider.ari]`` configured, it runs the Asterisk adapter on the
line's Stasis application (the password from ``ARI_PASSWORD``) and, on the
same event loop, the HTTP app for the advisor API and metrics.

The HTTP app is served with the limits of ``[web]``, and ``/metrics`` on an
address of its own when ``[web]`` gives one, as ``callflow web`` serves it
(:mod:`callflow.cli.http_server`).
"""

from __future__ import annotations

import signal
from datetime import datetime
from types import FrameType
from typing import Any

import click
import structlog
from click.core import ParameterSource

from callflow.cli.common import (
    config_option,
    database_option,
    load,
    log_level_option,
    open_database,
    reports_errors,
    shown_url,
)
from callflow.cli.http_server import listen, listen_metrics, serve_app
from callflow.cli.times import in_line_zone, local_time_option
from callflow.config.load import database_url as configured_url
from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import SystemClock
from callflow.providers.sim.runs import run_in_real_time

log = structlog.get_logger("callflow.serve")


SIMULATION_ONLY = ("speed", "seed", "at")
PROVIDER_ONLY = ("host", "port", "dev_unsigned_webhooks")


@click.command("serve")
@config_option
@database_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="With a provider: the address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="With a provider: the port to listen on; 0 takes a free one.",
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
    help="Simulated seconds per real second.",
)
@click.option("--seed", type=int, default=None, help="Same seed, same callers [default: random].")
@local_time_option(
    "--at", help="Line time to start from [default: now, or the next opening if closed]."
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
    """Run the line: with [provider.twilio], its webhooks over HTTP; with [provider.ari],
    the calls of an Asterisk; without a provider, against simulated callers and advisors.

    Stop with Ctrl-C: the calls in progress are written to the store first.
    """
    config = load(config_file, log_level)
    given = {
        name
        for name in (*SIMULATION_ONLY, *PROVIDER_ONLY)
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    }
    if config.provider.twilio is not None:
        _refuse(given & set(SIMULATION_ONLY), "a simulated line (no provider configured)")
        _serve_twilio(config, database_url, host, port, not dev_unsigned_webhooks, log_level)
        return
    if config.provider.ari is not None:
        _refuse(given & set(SIMULATION_ONLY), "a simulated line (no provider configured)")
        _refuse(given & {"dev_unsigned_webhooks"}, "a line on Twilio ([provider.twilio])")
        _serve_ari(config, database_url, host, port, log_level)
        return
    _refuse(
        given & set(PROVIDER_ONLY), "a line with a provider ([provider.twilio] or [provider.ari])"
    )
    calendar = Calendar.from_config(config)
    start = in_line_zone(at, config.line.timezone) or SystemClock().now()
    if at is None and not calendar.is_open(start):
        start = calendar.next_opening(start)
        log.info("serve.closed_now", starting_at=calendar.local(start).isoformat())
    database = open_database(config, database_url)
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    log.info(
        "serve.started",
        provider="sim",
        speed=speed,
        database=shown_url(configured_url(config, database_url)),
        line_time=calendar.local(start).isoformat(),
    )
    try:
        simulation = run_in_real_time(
            config,
            database,
            start=start,
            speed=speed,
            seed=seed if seed is not None else SystemClock().now().microsecond,
            should_stop=lambda: bool(stopping),
        )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        database.close()
    tally = simulation.tally
    log.info(
        "serve.stopped",
        line_time=calendar.local(simulation.clock.now()).isoformat(),
        calls=tally.arrived,
        answered=tally.answered,
        abandoned=tally.abandoned,
        callbacks_requested=tally.callbacks_requested,
        callbacks_dialled=tally.callbacks_dialled,
        callbacks_completed=tally.callbacks_completed,
    )


def _refuse(options: set[str], only_for: str) -> None:
    if options:
        named = ", ".join(f"--{name.replace('_', '-')}" for name in sorted(options))
        raise click.UsageError(f"{named}: only for {only_for}")


def _serve_twilio(
    config: HotlineConfig,
    database_url: str | None,
    host: str,
    port: int,
    verify_signatures: bool,
    log_level: str,
) -> None:
    """The HTTP app with Twilio's webhooks, under uvicorn, until Ctrl-C or SIGTERM."""
    from callflow.providers.twilio.provider import TwilioProvider  # noqa: PLC0415
    from callflow.web.app import create_app  # noqa: PLC0415

    with listen(host, port) as listening, listen_metrics(config.web) as metrics_listening:
        database = open_database(config, database_url)
        try:
            clock = SystemClock()
            twilio = TwilioProvider.from_environment(
                config, database, clock, verify_signatures=verify_signatures
            )
            app = create_app(config, database, clock=clock, twilio=twilio)
            serve_app(
                app, listening, metrics_listening, config, database, clock, log_level,
                started="serve.started",
                facts={
                    "provider": "twilio",
                    "public_url": twilio.settings.twilio.public_url,
                    "database": shown_url(configured_url(config, database_url)),
                },
            )  # fmt: skip
        finally:
            database.close()
    log.info("serve.stopped", provider="twilio")


def _serve_ari(
    config: HotlineConfig, database_url: str | None, host: str, port: int, log_level: str
) -> None:
    """The Asterisk adapter and, beside it on the same event loop, the HTTP app (advisor
    API, metrics) under uvicorn, until Ctrl-C or SIGTERM."""
    from callflow.providers.ari.adapter import AsteriskAdapter  # noqa: PLC0415
    from callflow.providers.ari.settings import AriSettings  # noqa: PLC0415
    from callflow.web.app import create_app  # noqa: PLC0415

    settings = AriSettings.from_environment(config)
    with listen(host, port) as listening, listen_metrics(config.web) as metrics_listening:
        database = open_database(config, database_url)
        try:
            clock = SystemClock()

            async def run_line() -> None:
                async with settings.client() as client:
                    await AsteriskAdapter(config, database, clock, client).run()

            app = create_app(config, database, clock=clock)
            serve_app(
                app, listening, metrics_listening, config, database, clock, log_level,
                started="serve.started",
                facts={
                    "provider": "ari",
                    "asterisk": settings.ari.url,
                    "app": settings.ari.app,
                    "database": shown_url(configured_url(config, database_url)),
                },
                beside=run_line,
            )  # fmt: skip
        finally:
            database.close()
    log.info("serve.stopped", provider="ari")
