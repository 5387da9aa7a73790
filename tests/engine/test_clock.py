"""Clocks: the accelerated one a live provider's timers run on in rehearsals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callflow.engine.clock import AcceleratedClock, FakeClock, real_seconds
from tests.store.helpers import T0


def test_line_time_runs_speed_times_fast_on_an_accelerated_clock() -> None:
    clock = AcceleratedClock(T0, speed=100)
    assert real_seconds(clock, clock.now() + timedelta(seconds=50)) == pytest.approx(0.5, 0.05)


def test_an_instant_already_past_is_due_at_once() -> None:
    assert real_seconds(AcceleratedClock(T0, speed=100), T0 - timedelta(seconds=1)) == 0.0
    assert real_seconds(FakeClock(T0), T0 + timedelta(seconds=3)) == 3.0


def test_a_clock_cannot_stand_still_or_run_backwards() -> None:
    with pytest.raises(ValueError, match="positive"):
        AcceleratedClock(T0, speed=0)


class RealSeconds:
    """A real clock that moves only when told to."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


class TestLineTime:
    def test_line_time_is_start_plus_real_time_times_speed(self) -> None:
        real = RealSeconds()
        clock = AcceleratedClock(T0, speed=60, monotonic=real)
        real.seconds += 2.5
        assert clock.now() == T0 + timedelta(minutes=2, seconds=30)

    def test_a_standing_clock_shows_its_start_until_it_runs(self) -> None:
        """The simulated line's clock: the web app starting up takes no line time."""
        real = RealSeconds()
        clock = AcceleratedClock(T0, speed=60, monotonic=real, running=False)
        real.seconds += 10
        assert clock.now() == T0
        clock.start_running()
        real.seconds += 1
        assert clock.now() == T0 + timedelta(minutes=1)

    def test_a_running_clock_is_not_set_back_by_starting_it_again(self) -> None:
        real = RealSeconds()
        clock = AcceleratedClock(T0, speed=2, monotonic=real)
        real.seconds += 5
        clock.start_running()
        assert clock.now() == T0 + timedelta(seconds=10)
