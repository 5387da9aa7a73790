"""The simulated line, put together: callers and advisors in accelerated real time, and
phones for the callback workers.

:class:`SimulatedProvider` implements :class:`~callflow.providers.port.Provider`,
so a newcomer runs ``callflow serve`` and ``callflow worker`` without a
carrier and watches calls arrive, queue, overflow into callbacks and get
called back on the real database. Nobody calls the simulated line over HTTP:
it has no webhooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime

import structlog

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import Clock
from callflow.providers.port import Webhooks
from callflow.providers.sim.dialler import SimulatedDialler
from callflow.providers.sim.runs import prepare, run_in_real_time
from callflow.providers.sim.simulation import Simulation
from callflow.store.session import Database

log = structlog.get_logger("callflow.sim")


class SimulatedProvider:
    """The configured line with simulated people, *speed* times faster than real time;
    the same *seed*, the same people (a random one when None)."""

    name = "sim"

    def __init__(
        self,
        config: HotlineConfig,
        database: Database,
        clock: Clock,
        *,
        speed: float,
        seed: int | None = None,
        start: datetime | None = None,
    ) -> None:
        self.config = config
        self.database = database
        self.clock = clock
        self.speed = speed
        self.seed = seed
        self.calendar = Calendar.from_config(config)
        self._start = start
        self.simulation: Simulation | None = None
        """The running line, once :meth:`run` has started it."""

    def starts_at(self) -> datetime:
        """The line time the run starts from: the one given, else now, or the next opening
        if the line is closed now (a closed line would show nothing for hours)."""
        if self._start is None:
            now = self.clock.now()
            self._start = now if self.calendar.is_open(now) else self.calendar.next_opening(now)
            if self._start != now:
                log.info(
                    "serve.closed_now", starting_at=self.calendar.local(self._start).isoformat()
                )
        return self._start

    def facts(self) -> Mapping[str, object]:
        simulation = self.simulation
        if simulation is None:
            return {"speed": self.speed, "line_time": self._local(self.starts_at())}
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
        start = self.starts_at()
        prepare(self.database, self.config, start)
        seed = self.seed if self.seed is not None else self.clock.now().microsecond
        self.simulation = Simulation(self.config, self.database, seed=seed, start=start)
        await run_in_real_time(self.simulation, speed=self.speed)

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
