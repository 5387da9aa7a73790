"""The simulated line as a provider: where it starts, what it says it did, how it stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from structlog.testing import capture_logs

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.providers.sim.provider import SimulatedProvider
from callflow.store.models import Call
from callflow.store.session import Database
from tests.store.helpers import T0

SUNDAY_NOON = datetime(2026, 1, 11, 10, 0, tzinfo=UTC)
MONDAY_OPENING = datetime(2026, 1, 12, 7, 0, tzinfo=UTC)  # 09:00 in Helsinki


def provider(
    config: HotlineConfig, database: Database, now: datetime, start: datetime | None = None
) -> SimulatedProvider:
    return SimulatedProvider(config, database, FakeClock(now), speed=3000, seed=7, start=start)


def test_a_closed_line_starts_at_its_next_opening_and_says_so(
    config: HotlineConfig, database: Database
) -> None:
    line = provider(config, database, SUNDAY_NOON)
    with capture_logs() as logs:
        assert line.starts_at() == MONDAY_OPENING
        assert line.facts() == {"speed": 3000, "line_time": "2026-01-12T09:00:00+02:00"}
    assert [entry["event"] for entry in logs] == ["serve.closed_now"]


def test_an_open_line_starts_now_and_a_given_start_is_kept(
    config: HotlineConfig, database: Database
) -> None:
    assert provider(config, database, T0).starts_at() == T0
    given = SUNDAY_NOON + timedelta(hours=1)
    assert provider(config, database, T0, start=given).starts_at() == given


def test_stopped_the_line_has_stored_every_call_it_counted(
    config: HotlineConfig, database: Database
) -> None:
    line = provider(config, database, T0)

    async def run_a_while() -> None:
        running = asyncio.create_task(line.run())
        await asyncio.sleep(0.5)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(run_a_while())
    facts = line.facts()
    assert str(facts["line_time"]) > "2026-01-12T10:05"
    assert int(str(facts["calls"])) >= 1
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Call)) == facts["calls"]
