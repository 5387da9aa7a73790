"""Time, injected.

Everything that needs "now" takes a :class:`Clock`, so tests and the simulator
run whole days on a :class:`FakeClock` without waiting. All instants are aware
UTC datetimes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class AcceleratedClock:
    """Wall-clock time running *speed* times fast from *start*.

    For a live provider rehearsing against a fake exchange whose own clock
    runs fast: the engine's timers then fire on the event loop after
    ``seconds / speed`` real seconds, in step with the exchange. And for the
    simulated line that ``callflow serve`` runs: the simulation and the web app
    read the one clock, so the board's "now" is the line's. That line's clock is
    made *standing* (``running=False``): it shows *start* until
    :meth:`start_running`, so the seconds spent starting the web app are not
    line time nobody saw. *monotonic* is the real clock it follows (injected in tests).
    """

    def __init__(
        self,
        start: datetime,
        speed: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        running: bool = True,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"a clock's speed must be positive, not {speed}")
        self._start = as_utc(start)
        self.speed = speed
        self._monotonic = monotonic
        self._origin: float | None = None
        if running:
            self.start_running()

    def start_running(self) -> None:
        """Line time runs on from *start* from this real instant (once: a running clock
        is not set back)."""
        if self._origin is None:
            self._origin = self._monotonic()

    def now(self) -> datetime:
        if self._origin is None:
            return self._start
        return self._start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed)


def real_seconds(clock: Clock, until: datetime) -> float:
    """Wall-clock seconds from now until *until* on *clock* (never negative)."""
    speed = getattr(clock, "speed", 1.0)
    return max(0.0, (until - clock.now()).total_seconds() / speed)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError(f"a clock cannot go back ({delta})")
        self._now += delta
        return self._now

    def set(self, at: datetime) -> datetime:
        at = as_utc(at)
        if at < self._now:
            raise ValueError(f"a clock cannot go back (from {self._now} to {at})")
        self._now = at
        return self._now


def as_utc(at: datetime) -> datetime:
    """Return *at* in UTC; a naive datetime is refused rather than guessed."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: give a timezone")
    return at.astimezone(UTC)
