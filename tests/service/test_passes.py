"""The connectors' loop: a pass whenever woken, and a stop that is never lost."""

from __future__ import annotations

import asyncio

from callflow.engine.clock import FakeClock
from callflow.service.passes import run_passes
from callflow.store.session import OutageLog
from tests.store.helpers import T0


def test_a_stop_that_comes_with_a_wake_up_stops_the_loop() -> None:
    """``callflow serve`` stopping while a caller joins a queue: the connector's loop ends at
    once instead of sweeping on (``asyncio.wait_for`` on Python 3.11 swallowed that cancel)."""

    async def scenario() -> bool:
        woken = asyncio.Event()
        passes: list[int] = []

        async def one_pass() -> None:
            passes.append(1)

        looping = asyncio.create_task(
            run_passes(one_pass, woken, 3600, OutageLog(FakeClock(T0)), "test.pass_failed")
        )
        await asyncio.sleep(0)  # it waits for a wake-up
        woken.set()
        looping.cancel()
        await asyncio.wait({looping}, timeout=1)
        return looping.cancelled()

    assert asyncio.run(scenario())


def test_a_wake_up_runs_a_pass_and_is_used_up() -> None:
    async def scenario() -> list[int]:
        woken = asyncio.Event()
        passes: list[int] = []

        async def one_pass() -> None:
            passes.append(len(passes) + 1)

        looping = asyncio.create_task(
            run_passes(one_pass, woken, 3600, OutageLog(FakeClock(T0)), "test.pass_failed")
        )
        await asyncio.sleep(0)
        woken.set()
        for _ in range(5):  # the pass runs, and no second one without another wake-up
            await asyncio.sleep(0)
        looping.cancel()
        await asyncio.wait({looping}, timeout=1)
        return passes

    assert asyncio.run(scenario()) == [1]
