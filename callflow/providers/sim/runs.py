"""Whole simulated runs: days of the configured line, or the line in accelerated real time.

``callflow simulate`` runs days as fast as the machine allows and reports
them with the same computation as ``callflow report``; ``callflow serve``
without a telephony provider runs the line at a fixed multiple of real time
so a newcomer can watch calls arrive, queue, overflow and get called back.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import Clock
from callflow.providers.sim.simulation import Simulation
from callflow.providers.sim.staff import with_advisors
from callflow.store.migrate import ensure_current
from callflow.store.models import Call
from callflow.store.queues import sync_queues
from callflow.store.session import Database


@dataclass(frozen=True, slots=True)
class DaysRun:
    """A finished run of whole days."""

    simulation: Simulation
    first: date
    last: date
    callers: int
    wall_s: float


def line_for(config: HotlineConfig, advisors: int | None) -> HotlineConfig:
    """The configured line, or the same plan with *advisors* people in it."""
    return config if advisors is None else with_advisors(config, advisors)


def prepare(database: Database, config: HotlineConfig, at: datetime) -> None:
    ensure_current(database)
    with database.transaction() as session:
        sync_queues(session, config, at)


@contextmanager
def throwaway_database() -> Iterator[Database]:
    """A SQLite database in a temporary directory, gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="callflow-sim-") as directory:
        database = Database.connect(f"sqlite:///{directory}/simulation.sqlite3")
        try:
            yield database
        finally:
            database.close()


def calls_already_in(database: Database, config: HotlineConfig, first: date, days: int) -> int:
    """Calls the database already holds for those days: a second run over them would
    mix two days into one report."""
    calendar = Calendar.from_config(config)
    start = calendar.at_minute(first, 0)
    end = calendar.at_minute(first + timedelta(days=days), 0)
    prepare(database, config, start)
    with database.reading() as session:
        return (
            session.scalar(
                select(func.count()).where(Call.started_at >= start, Call.started_at < end)
            )
            or 0
        )


def run_days(
    config: HotlineConfig,
    database: Database,
    first: date,
    days: int,
    *,
    seed: int,
    calls_per_day: float | None = None,
    on_callers: Callable[[int], None] | None = None,
    on_arrival: Callable[[], None] | None = None,
) -> DaysRun:
    """Simulate *days* days from *first*, start to finish (callbacks left at the end of
    the last day stay pending, as they would on the line)."""
    calendar = Calendar.from_config(config)
    start = calendar.at_minute(first, 0)
    prepare(database, config, start)
    simulation = Simulation(
        config,
        database,
        seed=seed,
        start=start,
        calls_per_day=calls_per_day,
        run_id=run_id_of(seed, first),
    )
    simulation.on_arrival = on_arrival
    began = time.perf_counter()
    callers = simulation.schedule_days(first, days)
    if on_callers is not None:
        on_callers(callers)
    last = first + timedelta(days=days - 1)
    simulation.run_until(calendar.at_minute(last + timedelta(days=1), 0))
    return DaysRun(simulation, first, last, callers, time.perf_counter() - began)


def run_id_of(seed: int, first: date) -> str:
    """The call ids' start for a run of days from *first* with *seed*: the same run gives
    the same ids (the question's share is drawn by them), and another seed or first day
    others (a run over days already in the database is refused: :func:`calls_already_in`)."""
    return hashlib.blake2b(f"{seed}:{first.isoformat()}".encode(), digest_size=4).hexdigest()


async def run_in_real_time(
    simulation: Simulation,
    clock: Clock,
    *,
    tick: timedelta = timedelta(milliseconds=100),
) -> None:
    """Run *simulation* on to *clock*'s time, a tick of real time at a time, day after
    day, until cancelled (the store is committed either way). *clock* is the line's: the
    web app beside reads the same, so its "now" is the simulation's, less a tick at most."""
    calendar = simulation.calendar
    planned = calendar.local_date(simulation.clock.now())
    simulation.schedule_days(planned, 1)
    try:
        while True:
            now = clock.now()
            tomorrow = calendar.at_minute(planned + timedelta(days=1), 0)
            if now >= tomorrow - timedelta(hours=1):
                planned += timedelta(days=1)
                simulation.schedule_days(planned, 1)
            simulation.run_until(now)
            await asyncio.sleep(tick.total_seconds())
    finally:
        simulation.close()
