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
