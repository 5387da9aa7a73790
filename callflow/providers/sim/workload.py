"""Who calls the simulated line, and when.

Arrivals are a Poisson process whose rate follows the hour of the day, the
weekday and the month: the seeds' county takes 50–70 calls a weekday,
Mondays busiest, with a January–February peak, most of them in the first
hours after opening. A few calls come while the line is closed. Each caller
gets a language and a topic from the configured mix, a patience, and a few
human habits: a withheld number, a wrong key, a change of mind.

The stationary workload (constant rate, exponential patience) is the one
queueing theory has formulas for; the simulator is checked against them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar

WEEKDAY_FACTOR = (1.3, 1.0, 0.95, 0.95, 0.8, 0.0, 0.0)
"""Monday busiest (the seeds), averaging 1.0 over the working week."""
MONTH_FACTOR = (1.25, 1.2, 1.05, 1.0, 0.95, 0.85, 0.75, 0.85, 1.0, 1.0, 1.0, 0.95)
"""The January–February peak and a quieter summer."""
OPEN_HOUR_WEIGHT = (1.5, 1.3, 1.0, 0.9, 0.75, 0.55)
"""Relative load of the first, second, … open hour: mornings are busiest."""
CLOSED_SHARE = 0.05
"""Calls that arrive in the two hours either side of the opening hours."""
WRONG_KEY_SHARE = 0.05
IVR_HANGUP_SHARE = 0.02
REPEAT_SHARE = 0.1
"""Callers with a pending callback who call again before it comes."""
KEEP_PENDING_SHARE = 0.85


@dataclass(frozen=True, slots=True)
class Caller:
    """One simulated caller's habits for one call."""

    arrives_at: datetime
    withheld: bool
    language: str
    topic: str
    patience: timedelta
    wrong_key: bool = False
    """Presses a key the menu does not offer before the right one."""
    hangs_up_in_menu: bool = False
    takes_callback: bool = True
    keeps_pending: bool = True
    calls_again: bool = False
    """Calls again about a callback they already have, if they have one when calling."""


class NumberBook:
    """Distinct Finnish mobile numbers for callers, and who has a callback pending."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._issued: set[str] = set()
        self.pending: dict[str, int] = {}
        """Numbers with an open callback request, and its id."""

    def new_number(self) -> str:
        while True:
            number = f"+35840{self._rng.randrange(1_000_000, 10_000_000)}"
            if number not in self._issued:
                self._issued.add(number)
                return number

    def repeat_caller(self) -> str | None:
        if not self.pending:
            return None
        return self._rng.choice(sorted(self.pending))


class Workload:
    """Draws callers for a day (or a stationary stretch) from one seeded generator."""

    def __init__(
        self,
        config: HotlineConfig,
        calendar: Calendar,
        rng: random.Random,
        *,
        calls_per_day: float | None = None,
    ) -> None:
        sim = config.simulation
        self.calendar = calendar
        self.rng = rng
        self.numbers = NumberBook(rng)
        self.calls_per_day = calls_per_day if calls_per_day is not None else sim.calls_per_day
        self.mean_patience = sim.mean_patience
        self.withheld_share = sim.withheld_share
        self.accept_share = sim.callback_accept_share
        self._languages = _weights(
            sim.languages, config.language_order, config.line.default_language
        )
        self._topics = _weights(sim.topics, config.topic_order, None)
        self._topic_weights = dict(sim.topics)

    def expected_calls(self, day: date) -> float:
        """Mean number of calls on *day*: the base rate by weekday and month."""
        if not self.calendar.day(day).is_working_day:
            return 0.0
        # A Saturday or Sunday opened by special hours gets a quiet weekday's load.
        weekday = WEEKDAY_FACTOR[day.weekday()] or min(f for f in WEEKDAY_FACTOR if f)
        return self.calls_per_day * weekday * MONTH_FACTOR[day.month - 1]

    def day(self, day: date) -> list[Caller]:
        """Everyone who calls on *day*, in arrival order."""
        total = self.expected_calls(day)
        if total == 0:
            return []
        spans = self.calendar.day(day).spans
        open_hours = [
            (start, min(start + timedelta(hours=1), span.end))
            for span in spans
            for start in _hour_starts(span.start, span.end)
        ]
        weights = [
            OPEN_HOUR_WEIGHT[min(i, len(OPEN_HOUR_WEIGHT) - 1)]
            * ((end - start) / timedelta(hours=1))
            for i, (start, end) in enumerate(open_hours)
        ]
        scale = total * (1 - CLOSED_SHARE) / sum(weights)
        rates = [
            (start, end, w * scale) for (start, end), w in zip(open_hours, weights, strict=True)
        ]
        closed_hours = [
            (spans[0].start - timedelta(hours=2), spans[0].start),
            (spans[-1].end, spans[-1].end + timedelta(hours=2)),
        ]
        rates += [(start, end, total * CLOSED_SHARE / 2) for start, end in closed_hours]
        arrivals = sorted(
            at for start, end, count in rates for at in self.poisson(start, end, count)
        )
        return [self.caller(at) for at in arrivals]

    def stationary(
        self, start: datetime, hours: float, calls_per_hour: float
    ) -> Iterator[datetime]:
        """Poisson arrivals at a constant rate, lazily (long runs need no list)."""
        end = start + timedelta(hours=hours)
        at = start
        while True:
            at += timedelta(hours=self.rng.expovariate(calls_per_hour))
            if at >= end:
                return
            yield at

    def caller(self, at: datetime) -> Caller:
        rng = self.rng
        return Caller(
            arrives_at=at,
            withheld=rng.random() < self.withheld_share,
            language=_pick(rng, self._languages),
            topic=_pick(rng, self._topics),
            patience=timedelta(seconds=rng.expovariate(1 / self.mean_patience.total_seconds())),
            wrong_key=rng.random() < WRONG_KEY_SHARE,
            hangs_up_in_menu=rng.random() < IVR_HANGUP_SHARE,
            takes_callback=rng.random() < self.accept_share,
            keeps_pending=rng.random() < KEEP_PENDING_SHARE,
            calls_again=rng.random() < REPEAT_SHARE,
        )

    def language(self) -> str:
        """A language by the callers' mix (for a resident who writes instead)."""
        return _pick(self.rng, self._languages)

    def topic(self, *, among: Sequence[str]) -> str:
        """A topic by the callers' mix, among *among* only (evenly, if the mix weighs
        none of them)."""
        given = {n: w for n, w in self._topic_weights.items() if n in among and w > 0}
        return _pick(self.rng, _weights(given, among, None))

    def number_of(self, caller: Caller) -> str | None:
        """The number *caller* calls from, decided as they call: someone who calls again
        about a pending callback can only do so once there is one."""
        if caller.withheld:
            return None
        if caller.calls_again:
            again = self.numbers.repeat_caller()
            if again is not None:
                return again
        return self.numbers.new_number()

    def poisson(self, start: datetime, end: datetime, expected: float) -> Iterator[datetime]:
        """A Poisson process with *expected* arrivals spread evenly over [start, end)."""
        if expected <= 0 or end <= start:
            return
        span = (end - start).total_seconds()
        rate = expected / span
        t = self.rng.expovariate(rate)
        while t < span:
            yield start + timedelta(seconds=t)
            t += self.rng.expovariate(rate)


def _hour_starts(start: datetime, end: datetime) -> Iterator[datetime]:
    at = start
    while at < end:
        yield at
        at += timedelta(hours=1)


def _weights(
    given: dict[str, float], names: Sequence[str], default: str | None
) -> tuple[list[str], list[float]]:
    if given:
        chosen = [n for n in names if given.get(n, 0) > 0]
        return chosen, list(_cumulative([given[n] for n in chosen]))
    if default is not None:
        return [default], [1.0]
    return list(names), list(_cumulative([1.0] * len(names)))


def _cumulative(weights: list[float]) -> Iterator[float]:
    total, running = math.fsum(weights), 0.0
    for w in weights:
        running += w
        yield running / total


def _pick(rng: random.Random, table: tuple[list[str], list[float]]) -> str:
    names, cumulative = table
    draw = rng.random()
    for name, edge in zip(names, cumulative, strict=True):
        if draw < edge:
            return name
    return names[-1]
