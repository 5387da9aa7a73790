"""``callflow worker``: one callback dispatcher process; run as many as you like.

With ``[provider.twilio]`` configured, callbacks are placed through that
Twilio account (credentials from the environment; the leg statuses arrive
at ``callflow serve``, which shares the database). With ``[provider.ari]``,
they are placed through Asterisk on a Stasis application of the worker's
own (the line's belongs to ``callflow serve``). With no telephony
provider, residents and advisors are simulated phones
(:mod:`callflow.providers.sim.dialler`) answering at ``--speed`` times real
time, so the whole dispatch can be watched working on the real database.
Which of these it is, :mod:`callflow.cli.composition` decides.
"""

from __future__ import annotations

import asyncio
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
    reports_errors,
)
from callflow.cli.composition import Overrides, choose, open_line
from callflow.values.durations import DURATION_HELP, parse_duration
from workers.metrics import WorkerMetrics

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
    overrides = Overrides(database_url=database_url, speed=speed, seed=seed)
    choice = choose(config, overrides)
    if not choice.simulated and (speed != 1.0 or seed is not None):
        raise click.UsageError("--speed and --seed are for simulated phones, not a real line")
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    metrics = WorkerMetrics()
    if metrics_port is not None:
        start_http_server(metrics_port, addr=metrics_host, registry=metrics.registry)
    with open_line(config, choice, overrides) as line:
        log.info(
            "worker.starting",
            owner=owner,
            provider=line.provider.name,
            speed=speed,
            database=line.shown_database,
        )

        async def main() -> None:
            async with line.worker(owner, metrics) as runner:
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, runner.stop, grace)
                await runner.run()

        asyncio.run(main())
