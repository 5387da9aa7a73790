"""The simulated line as a provider: where its time starts, what it says it did, how it stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from structlog.testing import capture_logs

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.providers.sim.provider import SimulatedProvider, line_clock
from callflow.service.rules import LineRules
from callflow.store.models import Call
from callflow.store.session import Database
from tests.store.helpers import T0

SUNDAY_NOON = datetime(2026, 1, 11, 10, 0, tzinfo=UTC)
MONDAY_OPENING = datetime(2026, 1, 12, 7, 0, tzinfo=UTC)  # 09:00 in Helsinki
SPEED = 3000


class TestLineClock:
    def test_a_closed_line_starts_at_its_next_opening_and_says_so(
        self, config: HotlineConfig
    ) -> None:
        with capture_logs() as logs:
            clock = line_clock(config, FakeClock(SUNDAY_NOON), speed=SPEED)
        assert clock.now() == MONDAY_OPENING
        assert [entry["event"] for entry in logs] == ["serve.closed_now"]

    def test_an_open_line_starts_now_and_a_given_start_is_kept(self, config: HotlineConfig) -> None:
        assert line_clock(config, FakeClock(T0), speed=SPEED).now() == T0
        given = SUNDAY_NOON + timedelta(hours=1)
        assert line_clock(config, FakeClock(T0), speed=SPEED, start=given).now() == given

    def test_line_time_stands_at_the_start_until_the_line_runs(
        self, config: HotlineConfig, database: Database
    ) -> None:
        """Starting the web app takes no line time: the log says the line starts at its
        start, exactly."""
        clock = line_clock(config, FakeClock(SUNDAY_NOON), speed=SPEED)
        line = SimulatedProvider(LineRules.fixed(config), database, clock, speed=SPEED, seed=7)
        assert line.facts() == {"speed": SPEED, "line_time": "2026-01-12T09:00:00+02:00"}
        assert clock.speed == SPEED


def test_stopped_the_line_has_stored_every_call_it_counted_on_its_own_time(
    config: HotlineConfig, database: Database
) -> None:
    """The simulation runs on the line's clock, the one the web app reads."""
    clock = line_clock(config, FakeClock(T0), speed=SPEED)
    line = SimulatedProvider(LineRules.fixed(config), database, clock, speed=SPEED, seed=7)

    async def run_a_while() -> None:
        running = asyncio.create_task(line.run())
        await asyncio.sleep(0.5)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(run_a_while())
    facts = line.facts()
    assert line.simulation is not None
    assert T0 + timedelta(minutes=5) < line.simulation.clock.now() <= clock.now()
    assert int(str(facts["calls"])) >= 1
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Call)) == facts["calls"]
