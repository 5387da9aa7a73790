"""``callflow worker``: one callback dispatcher process; run as many as you like.

With ``[provider.twilio]`` configured, callbacks are placed through that
Twilio account (credentials from the environment; the leg statuses arrive
at ``callflow serve``, which shares the database). With ``[provider.ari]``,
they are placed through Asterisk on a Stasis application of the worker's
own (the line's belongs to ``callflow serve``). With no telephony
provider, residents and advisors are simulated phones
(:mod:`callflow.providers.sim.phones`) answering at ``--speed`` times real
time, so the whole dispatch can be watched working on the real database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import uuid
from datetime import timedelta
from pathlib import Path

import click
import structlog
from prometheus_client import start_http_server

from callflow.cli.common import (
    config_option,
    database_option,
    load,
    log_level_option,
    open_database,
    reports_errors,
    shown_url,
)
from callflow.config.load import database_url as configured_url
from callflow.engine.clock import SystemClock
from callflow.engine.durations import DURATION_HELP, parse_duration
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.dialler import AriDialler
from callflow.providers.ari.settings import AriSettings
from callflow.providers.port import CallbackDialler
from callflow.providers.sim.phones import SimulatedPhones
from callflow.providers.twilio.provider import TwilioProvider
from workers.dispatcher import Dispatcher
from workers.jobs import JobContext
from workers.metrics import WorkerMetrics
from workers.scheduler import Worker

log = structlog.get_logger("callflow.worker")


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not {DURATION_HELP}") from None


@click.command("worker")
@config_option
@database_option
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve this worker's Prometheus metrics on this port (127.0.0.1 unless --metrics-host).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.001, max=1_000_000),
    default=1.0,
    show_default=True,
    help="Simulated phones only: simulated seconds per real second.",
)
@click.option("--seed", type=int, default=None, help="Simulated phones only: same seed, same odds.")
@click.option(
    "--grace",
    default="30s",
    show_default=True,
    callback=_duration,
    help="On stop, how long calls in progress may finish before they are handed back.",
)
@log_level_option("info")
@reports_errors
def worker(
    config_file: Path | None,
    database_url: str | None,
    metrics_port: int | None,
    metrics_host: str,
    speed: float,
    seed: int | None,
    grace: timedelta,
    log_level: str,
) -> None:
    """Dispatch callbacks: pair due requests with ready advisors and call residents back.

    Stop with Ctrl-C or SIGTERM: nothing new is claimed, calls in progress get
    --grace to finish, the rest go back in line.
    """
    config = load(config_file, log_level)
    database = open_database(config, database_url)
    clock = SystemClock()
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    metrics = WorkerMetrics()
    if metrics_port is not None:
        start_http_server(metrics_port, addr=metrics_host, registry=metrics.registry)
    phones: SimulatedPhones | None = None
    twilio: TwilioProvider | None = None
    asterisk: AriDialler | None = None
    dialler: CallbackDialler
    if (config.provider.twilio or config.provider.ari) is not None and (
        speed != 1.0 or seed is not None
    ):
        raise click.UsageError("--speed and --seed are for simulated phones, not a real line")
    if config.provider.twilio is not None:
        twilio = TwilioProvider.from_environment(config, database, clock)
        dialler = twilio.dialler()
    elif config.provider.ari is not None:
        settings = AriSettings.from_environment(config)
        client = AriClient(
            settings.ari.url,
            settings.ari.username,
            settings.password,
            AriDialler.application(settings.ari.app),
        )
        dialler = asterisk = AriDialler(config, client, clock)
    else:
        dialler = phones = SimulatedPhones(config, database, clock, seed=seed, speed=speed)
    dispatcher = Dispatcher(config, database, dialler, clock=clock, owner=owner, metrics=metrics)
    runner = Worker(JobContext.create(config, database, clock, owner), dispatcher)
    log.info(
        "worker.starting",
        owner=owner,
        provider="twilio" if twilio else "ari" if asterisk else "sim",
        speed=speed,
        database=shown_url(configured_url(config, database_url)),
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, runner.stop, grace)
        hearing = None if asterisk is None else asyncio.create_task(asterisk.run())
        await runner.run()
        if hearing is not None:
            hearing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hearing
            await asterisk.client.aclose()  # type: ignore[union-attr]
        if phones is not None:
            await phones.settle()
        if twilio is not None:
            await twilio.http.close()

    try:
        asyncio.run(main())
    finally:
        database.close()
