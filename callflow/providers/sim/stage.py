"""What every part of a simulation shares: the configuration, the virtual clock and loop,
the calendar, the seeded draws, the store batch, the floor and the running tally.

The parts (:mod:`.arrivals`, :mod:`.shifts`, :mod:`.callbacks`) each hold one idea and
act on the same stage, so a caller, an advisor and a callback see one line at one instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import structlog

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import FakeClock
from callflow.providers.sim.floor import SimulatedFloor
from callflow.providers.sim.loop import VirtualLoop
from callflow.providers.sim.staff import AdvisorHabits
from callflow.providers.sim.workload import Workload
from callflow.store.session import Batch

log = structlog.get_logger("callflow.sim")


@dataclass
class Tally:
    """Running counts, for progress lines; the report is computed from the store."""

    arrived: int = 0
    answered: int = 0
    abandoned: int = 0
    callbacks_requested: int = 0
    callbacks_dialled: int = 0
    callbacks_completed: int = 0
    web_requests: int = 0
    """Requests stored from the web page (refusals are not counted)."""
    surveys_answered: int = 0


@dataclass
class Stage:
    """The simulated line the parts act on; one per :class:`~.simulation.Simulation`."""

    config: HotlineConfig
    rng: random.Random
    """Every draw of a run comes from here, in event order: one seed, one day."""
    clock: FakeClock
    loop: VirtualLoop
    calendar: Calendar
    floor: SimulatedFloor
    batch: Batch
    habits: AdvisorHabits
    workload: Workload
    tally: Tally = field(default_factory=Tally)

    def tell(self, event: str, **details: object) -> None:
        """Log what happened, stamped with the line's (simulated) local time."""
        log.info(
            event,
            line_time=self.calendar.local(self.clock.now()).strftime("%a %H:%M:%S"),
            **details,
        )
