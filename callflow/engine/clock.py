"""Time, injected.

Everything that needs "now" takes a :class:`Clock`, so tests and the simulator
run whole days on a :class:`FakeClock` without waiting. All instants are aware
UTC datetimes.
"""

from __future__ import annotations

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
