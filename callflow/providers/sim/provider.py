"""The simulated line, put together: callers and advisors in accelerated real time, and
phones for the callback workers.

:class:`SimulatedProvider` implements :class:`~callflow.providers.port.Provider`,
so a newcomer runs ``callflow serve`` and ``callflow worker`` without a
carrier and watches calls arrive, queue, overflow into callbacks and get
called back on the real database. Nobody calls the simulated line over HTTP
(it has no webhooks), but its web app serves the desk, the board and the admin
pages on the line's own time (:func:`line_clock`), and a person who makes
themselves available on the desk is given simulated callers and callbacks
(:mod:`.desk`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime

import structlog

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import AcceleratedClock, Clock
from callflow.providers.port import Webhooks
from callflow.providers.sim.dialler import SimulatedDialler
from callflow.providers.sim.runs import prepare, run_in_real_time
from callflow.providers.sim.simulation import Simulation
from callflow.service.rules import LineRules
from callflow.store.session import Database

log = structlog.get_logger("callflow.sim")


def line_clock(
    config: HotlineConfig, wall: Clock, *, speed: float, start: datetime | None = None
) -> AcceleratedClock:
    """The simulated line's time, *speed* times faster than real time, from *start*: else
    from now on *wall*, or from the next opening if the line is closed now (a closed line
    would show nothing for hours). It stands at its start until the line runs
    (:meth:`SimulatedProvider.run`), so the simulation and the web app read one time."""
    if start is None:
        calendar = Calendar.from_config(config)
        now = wall.now()
        start = now if calendar.is_open(now) else calendar.next_opening(now)
        if start != now:
            log.info("serve.closed_now", starting_at=calendar.local(start).isoformat())
    return AcceleratedClock(start, speed, running=False)


class SimulatedProvider:
    """The configured line with simulated people, *speed* times faster than real time;
    the same *seed*, the same people (a random one when None).

    *clock* is the process's: for ``callflow serve`` the line's (:func:`line_clock`),
    which :meth:`run` sets going; for a worker's phones, the wall clock."""

    name = "sim"

    def __init__(
        self,
        rules: LineRules,
        database: Database,
        clock: Clock,
        *,
        speed: float,
        seed: int | None = None,
    ) -> None:
        self.rules = rules
        config = self.config = rules.config
        self.database = database
        self.clock = clock
        self.speed = speed
        self.seed = seed
        self.calendar = Calendar.from_config(config)
        self.simulation: Simulation | None = None
        """The running line, once :meth:`run` has started it."""

    def facts(self) -> Mapping[str, object]:
        simulation = self.simulation
        if simulation is None:
            return {"speed": self.speed, "line_time": self._local(self.clock.now())}
        tally = simulation.tally
        return {
            "speed": self.speed,
            "line_time": self._local(simulation.clock.now()),
            "calls": tally.arrived,
            "answered": tally.answered,
            "abandoned": tally.abandoned,
            "callbacks_requested": tally.callbacks_requested,
            "callbacks_dialled": tally.callbacks_dialled,
            "callbacks_completed": tally.callbacks_completed,
        }

    def webhooks(self) -> Webhooks | None:
        return None

    async def run(self) -> None:
        """The line from the clock's time on, with people at the desk beside the
        simulated advisors, until cancelled."""
        start = self.clock.now()
        prepare(self.database, self.config, start)
        seed = self.seed if self.seed is not None else secrets.randbits(32)
        self.simulation = Simulation(
            self.config,
            self.database,
            seed=seed,
            start=start,
            people_at_the_desk=True,
            rules=self.rules,
        )
        loop = asyncio.get_running_loop()
        simulation = self.simulation
        self.rules.on_change(lambda _rules: loop.call_soon_threadsafe(simulation.rules_changed))
        if isinstance(self.clock, AcceleratedClock):
            self.clock.start_running()  # it stood at the line's start while the app started
        await run_in_real_time(self.simulation, self.clock)

    @asynccontextmanager
    async def dialling(self) -> AsyncIterator[SimulatedDialler]:
        """Simulated phones; on leaving, advisors still recording outcomes finish first."""
        dialler = SimulatedDialler(
            self.config, self.database, self.clock, seed=self.seed, speed=self.speed
        )
        try:
            yield dialler
        finally:
            await dialler.settle()

    def _local(self, at: datetime) -> str:
        return self.calendar.local(at).isoformat()
