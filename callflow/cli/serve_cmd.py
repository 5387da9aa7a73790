"""``callflow serve``: run the line.

With no telephony provider configured, the line runs against the simulator
in accelerated real time on the configured database (SQLite by default), so
a newcomer sees calls arrive, queue, overflow into callbacks and get called
back — and ``callflow report`` afterwards shows what happened.
"""

from __future__ import annotations

import signal
from datetime import datetime
from types import FrameType
from typing import Any

import click
import structlog

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
from callflow.engine.calendar import Calendar
from callflow.engine.clock import SystemClock
from callflow.providers.sim.runs import run_in_real_time

log = structlog.get_logger("callflow.serve")


@click.command("serve")
@config_option
@database_option
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
def serve(
    config_file: Any,
    database_url: str | None,
    speed: float,
    seed: int | None,
    at: datetime | None,
    log_level: str,
) -> None:
    """Run the line; without a telephony provider, against simulated callers and advisors.

    Stop with Ctrl-C: the calls in progress are written to the store first.
    """
    config = load(config_file, log_level)
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
