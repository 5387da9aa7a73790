"""The stationary line: the textbook queue, run by the real engine and the real store.

Poisson arrivals at a constant rate, exponential handle times, exponential
patience (or none), one queue, one language, no callbacks, never closed:
the M/M/n (Erlang C) and M/M/n+M (Erlang A) models. Checking the simulator
against their formulas checks the engine's queue and the simulator
together; with the same machinery an admin can ask "what if" of a
steady load.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import EventKind
from callflow.providers.sim.runs import prepare
from callflow.providers.sim.simulation import Simulation
from callflow.providers.sim.staff import AdvisorHabits
from callflow.providers.sim.workload import Caller
from callflow.store.models import Call, CallEvent
from callflow.store.session import Database

START = datetime(2026, 1, 5, tzinfo=UTC)
"""Any instant will do on a line that never closes; a fixed one keeps runs repeatable."""
NEVER = timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class StationaryLoad:
    calls_per_hour: float
    mean_handle_s: float
    advisors: int
    hours: float
    mean_patience_s: float | None = None
    """None: callers never give up (Erlang C)."""

    @property
    def load(self) -> float:
        """Offered load per advisor, ρ = λ / (n μ)."""
        return self.calls_per_hour * self.mean_handle_s / 3600 / self.advisors

    @property
    def warmup_hours(self) -> float:
        """Arrivals this early are left out: the line starts empty, not in balance.

        Five relaxation times of the queue, at least an hour and at most a quarter of
        the run. Near full load an M/M/n queue forgets its start slowly — its
        relaxation time is about one handle time ÷ (√n − √a)² for a offered erlangs —
        and an empty start would make the waits look shorter than they are.
        """
        offered = self.load * self.advisors
        if offered < self.advisors:
            relaxation_s = self.mean_handle_s / (math.sqrt(self.advisors) - math.sqrt(offered)) ** 2
        else:  # overloaded: impatience is what balances the queue
            relaxation_s = 10 * (self.mean_patience_s or self.mean_handle_s)
        return min(max(5 * relaxation_s / 3600, 1.0), self.hours / 4)


def stationary_config(config: HotlineConfig, load: StationaryLoad) -> HotlineConfig:
    """*config* reduced to the textbook line: its first queue and default language, open
    around the clock, no callbacks, *load.advisors* advisors always on."""
    topic = config.topic_order[0]
    language = config.line.default_language
    raw = config.model_dump(exclude={"source"})
    always = [{"start_minute": 0, "end_minute": 24 * 60}]
    raw["hours"] = dict.fromkeys(raw["hours"], always)
    raw["calendar"] = {"holidays": None, "closures": [], "special_hours": []}
    raw["languages"] = {language: raw["languages"][language]}
    queue = raw["queues"][topic]
    queue["callbacks"] = {**queue["callbacks"], "enabled": False, "when_closed": False}
    queue["default_handle_time"] = timedelta(seconds=load.mean_handle_s)
    raw["queues"] = {topic: queue}
    raw["menu"]["fallback_topic"] = topic
    raw["callbacks"]["retry"]["allowed_hours"] = always[0]
    raw["staffing"] = [
        {
            "days": list(raw["hours"]),
            "hours": always[0],
            "skill": queue["skill"],
            "languages": [language],
            "advisors": load.advisors,
        }
    ]
    raw["simulation"] = {
        **raw["simulation"],
        "languages": {},
        "topics": {topic: 1.0},
        "withheld_share": 1.0,
    }
    return HotlineConfig.model_validate(raw)


class ExponentialHabits(AdvisorHabits):
    """Exponential handle times and no wrap-up or breaks: the M/M/n server."""

    def __init__(self, config: HotlineConfig, rng: random.Random, mean_handle_s: float) -> None:
        super().__init__(config, rng)
        self.mean_handle_s = mean_handle_s

    def handle_time(self, topic: str) -> timedelta:
        return timedelta(seconds=self.rng.expovariate(1 / self.mean_handle_s))

    def wrap_up(self) -> timedelta:
        return timedelta(0)

    def lunch_at(self, shift_start: datetime, shift_end: datetime, seat: int) -> None:
        return None


def run_stationary(
    config: HotlineConfig, database: Database, load: StationaryLoad, *, seed: int
) -> dict[str, Any]:
    """Run *load* on the textbook line and measure it from the event log."""
    line = stationary_config(config, load)
    prepare(database, line, START)
    rng = random.Random(seed)
    simulation = Simulation(
        line,
        database,
        seed=rng.getrandbits(32),
        start=START,
        habits=ExponentialHabits(line, random.Random(rng.getrandbits(32)), load.mean_handle_s),
    )
    simulation.sign_in_everyone()
    topic = line.topic_order[0]
    language = line.line.default_language
    arrivals = random.Random(rng.getrandbits(32))
    patience = random.Random(rng.getrandbits(32))
    simulation.schedule_callers(
        Caller(
            arrives_at=at,
            withheld=True,
            language=language,
            topic=topic,
            patience=NEVER
            if load.mean_patience_s is None
            else timedelta(seconds=patience.expovariate(1 / load.mean_patience_s)),
        )
        for at in _poisson(arrivals, START, load.hours, load.calls_per_hour)
    )
    simulation.run_until(None)
    threshold = line.reports.service_level_within.total_seconds()
    with database.reading() as session:
        measured = measure(
            session, START + timedelta(hours=load.warmup_hours), threshold, simulation.run_id
        )
    return {
        "calls_per_hour": load.calls_per_hour,
        "mean_handle_s": load.mean_handle_s,
        "advisors": load.advisors,
        "hours": load.hours,
        "mean_patience_s": load.mean_patience_s,
        "load_per_advisor": round(load.load, 4),
        "warmup_hours": load.warmup_hours,
        "service_level_within_s": threshold,
        **measured,
    }


def measure(session: Session, since: datetime, threshold_s: float, run_id: str) -> dict[str, Any]:
    """Wait measures over every caller of run *run_id* who entered the queue from *since* on
    (a database may hold earlier runs).

    ``mean_wait_s`` counts everyone: the answered until answered, the
    abandoned until they hung up, those answered at once as 0 (as queueing
    theory does). ``p_wait`` is the share that waited at all, and
    ``service_level`` the share answered within *threshold_s*, both of all
    callers who entered the queue.
    """
    wait = CallEvent.data["wait_s"].as_float()
    answered = CallEvent.kind == EventKind.ANSWERED
    row = session.execute(
        select(
            func.count(),
            func.sum(case((answered, 1), else_=0)),
            func.sum(case((answered, 0), else_=1)),
            func.avg(wait),
            func.sum(case((wait > 0, 1), else_=0)),
            func.sum(case((answered & (wait <= threshold_s), 1), else_=0)),
        )
        .join(Call, Call.id == CallEvent.call_id)
        .where(
            Call.id.startswith(run_id, autoescape=True),
            Call.queue_entered_at >= since,
            CallEvent.kind.in_((EventKind.ANSWERED, EventKind.ABANDONED)),
        )
    ).one()
    offered, answered_n, abandoned, mean_wait, waited, within = row
    if not offered:
        return {"offered": 0, "answered": 0, "abandoned": 0}
    return {
        "offered": offered,
        "answered": answered_n,
        "abandoned": abandoned,
        "abandon_share": round(abandoned / offered, 5),
        "mean_wait_s": round(float(mean_wait), 3),
        "p_wait": round(waited / offered, 5),
        "service_level": round(within / offered, 5),
    }


def _poisson(rng: random.Random, start: datetime, hours: float, per_hour: float) -> list[datetime]:
    arrivals, elapsed = [], rng.expovariate(per_hour)
    while elapsed < hours:
        arrivals.append(start + timedelta(hours=elapsed))
        elapsed += rng.expovariate(per_hour)
    return arrivals
