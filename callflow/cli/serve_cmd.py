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

The HTTP app is served with the limits of ``[web]`` (header size, idle
connections, connections at once), and ``/metrics`` on an address of its own
when ``[web]`` gives one: a second server in the same process, started and
stopped with the first (:func:`run_http`, which ``callflow web`` uses too).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import socket
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractContextManager
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
from callflow.cli.times import in_line_zone, local_time_option
from callflow.config.load import database_url as configured_url
from callflow.config.models import HotlineConfig, WebConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import SystemClock
from callflow.providers.sim.runs import run_in_real_time

log = structlog.get_logger("callflow.serve")


SIMULATION_ONLY = ("speed", "seed", "at")
PROVIDER_ONLY = ("host", "port", "dev_unsigned_webhooks")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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
    from callflow.web.app import create_app, create_metrics_app  # noqa: PLC0415

    with listen(host, port) as listening, listen_metrics(config.web) as metrics_listening:
        database = open_database(config, database_url)
        try:
            clock = SystemClock()
            twilio = TwilioProvider.from_environment(
                config, database, clock, verify_signatures=verify_signatures
            )
            served = [(create_app(config, database, clock=clock, twilio=twilio), listening)]
            if metrics_listening is not None:
                served.append(
                    (create_metrics_app(config, database, clock=clock), metrics_listening)
                )
            run_http(
                served,
                config.web,
                log_level,
                announce=lambda: log.info(
                    "serve.started",
                    provider="twilio",
                    url=url_of(listening),
                    metrics_url=url_of(metrics_listening or listening) + "/metrics",
                    public_url=twilio.settings.twilio.public_url,
                    database=shown_url(configured_url(config, database_url)),
                ),
            )
        finally:
            database.close()
    log.info("serve.stopped", provider="twilio")


def _serve_ari(
    config: HotlineConfig, database_url: str | None, host: str, port: int, log_level: str
) -> None:
    """The Asterisk adapter and, beside it on the same event loop, the HTTP app (advisor
    API, metrics) under uvicorn, until Ctrl-C or SIGTERM."""
    from callflow.providers.ari.adapter import AsteriskLine  # noqa: PLC0415
    from callflow.providers.ari.settings import AriSettings  # noqa: PLC0415
    from callflow.web.app import create_app, create_metrics_app  # noqa: PLC0415

    settings = AriSettings.from_environment(config)
    with listen(host, port) as listening, listen_metrics(config.web) as metrics_listening:
        database = open_database(config, database_url)
        try:
            clock = SystemClock()

            async def run_line() -> None:
                async with settings.client() as client:
                    await AsteriskLine(config, database, clock, client).run()

            served = [(create_app(config, database, clock=clock), listening)]
            if metrics_listening is not None:
                served.append(
                    (create_metrics_app(config, database, clock=clock), metrics_listening)
                )
            run_http(
                served,
                config.web,
                log_level,
                announce=lambda: log.info(
                    "serve.started",
                    provider="ari",
                    url=url_of(listening),
                    metrics_url=url_of(metrics_listening or listening) + "/metrics",
                    asterisk=settings.ari.url,
                    app=settings.ari.app,
                    database=shown_url(configured_url(config, database_url)),
                ),
                beside=run_line,
            )
        finally:
            database.close()
    log.info("serve.stopped", provider="ari")


def run_http(
    served: Sequence[tuple[Any, socket.socket]],
    web: WebConfig,
    log_level: str,
    *,
    announce: Callable[[], None],
    beside: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Each app of *served* under uvicorn on its socket, and *beside* on the same event
    loop, until Ctrl-C or SIGTERM; or until one of them ends (the others are then
    stopped), *beside*'s error then being the command's. *announce* says it has started,
    once Ctrl-C would stop it gracefully."""
    # The web stack loads only here: the simulated line need not wait for it.
    import uvicorn  # noqa: PLC0415

    servers = [(uvicorn.Server(_uvicorn_config(app, web, log_level)), sock) for app, sock in served]

    async def serve() -> None:
        running = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
        companion = asyncio.create_task(beside()) if beside is not None else None
        try:
            await asyncio.wait(
                [*running, *([companion] if companion else [])],
                return_when=asyncio.FIRST_COMPLETED,
            )
            for server, _ in servers:
                server.should_exit = True
            await asyncio.gather(*running)
        finally:
            if companion is not None:
                companion.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await companion

    def stop(signum: int, frame: FrameType | None) -> None:
        for server, _ in servers:
            server.handle_exit(signum, frame)

    # Each server takes the stop signals while it serves and raises them again once it
    # has shut down, for the handler it found: the next server's, and last this one, so
    # the signal lands on servers already stopped instead of killing the process before
    # the database is closed and the stop is logged.
    previous = {n: signal.signal(n, stop) for n in STOP_SIGNALS}
    try:
        announce()
        asyncio.run(serve())
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _uvicorn_config(app: Any, web: WebConfig, log_level: str) -> Any:
    """uvicorn's settings for *app*: its limits from ``[web]``. uvicorn has no timeout for
    reading a request's headers; ``max_connections`` bounds what slow clients can hold."""
    import uvicorn  # noqa: PLC0415

    return uvicorn.Config(
        app,
        log_config=None,  # our log lines are JSON; per-request lines would repeat /metrics
        log_level=log_level,
        access_log=False,
        http="h11",  # the implementation whose header limit is set here
        h11_max_incomplete_event_size=web.max_header_bytes,
        timeout_keep_alive=math.ceil(web.keep_alive.total_seconds()),
        limit_concurrency=web.max_connections,
    )


def url_of(listening: socket.socket) -> str:
    host, port = listening.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def listen_metrics(web: WebConfig) -> AbstractContextManager[socket.socket | None]:
    """The socket of ``/metrics``'s own address, when ``[web]`` gives one."""
    if web.metrics_host is None or web.metrics_port is None:
        return contextlib.nullcontext()
    return listen(web.metrics_host, web.metrics_port)


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound first so a taken port is a clear error, not uvicorn's exit."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
        listening.listen()
    except OSError as exc:
        listening.close()
        raise click.ClickException(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}"
        ) from exc
    return listening
