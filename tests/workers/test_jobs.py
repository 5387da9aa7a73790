"""The scheduled jobs on a fake clock: closing time, the promise watch, the purge, the reaper."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.engine.vocabulary import CallbackStatus, EventKind
from callflow.service.rules import LineRules
from callflow.store.callbacks import cancel_callback
from callflow.store.claims import claim_next_callback
from callflow.store.models import CallbackRequest, CallEvent
from callflow.store.session import Database
from tests.fakes.dialler import ScriptedDialler
from tests.store.helpers import T0, Restarting, add_advisor, add_callback, number
from workers.dispatcher import Dispatcher
from workers.jobs import (
    JobContext,
    close_the_day,
    purge_old_numbers,
    reap_expired_leases,
    watch_promises,
)
from workers.scheduler import Worker

MONDAY_CLOSING = datetime(2026, 1, 12, 13, 0, tzinfo=UTC)  # 15:00 in Helsinki


def context(database: Database, config: HotlineConfig, clock: FakeClock, owner: str) -> JobContext:
    return JobContext.create(config, database, clock, owner)


def request(database: Database, callback_id: int) -> CallbackRequest:
    with database.reading() as session:
        found = session.get(CallbackRequest, callback_id)
        assert found is not None
        return found


def kinds_logged(database: Database, callback_id: int) -> list[EventKind]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(CallEvent.kind)
                .where(CallEvent.callback_id == callback_id)
                .order_by(CallEvent.id)
            )
        )


def test_closing_time_carries_over_what_missed_its_promise_once(
    database: Database, config: HotlineConfig
) -> None:
    """A same-day request still open at 15:00 is kept with its due time, marked late and
    served first tomorrow; one due tomorrow is left as it is. Two workers: done once."""
    with database.transaction() as session:
        missed = add_callback(session, number(1), entered=T0, deadline_class=1)
        tomorrow = add_callback(session, number(2), entered=T0, deadline_class=2)
        session.get_one(CallbackRequest, missed).due_at = MONDAY_CLOSING
        session.get_one(CallbackRequest, tomorrow).due_at = MONDAY_CLOSING + timedelta(days=1)
    clock = FakeClock(MONDAY_CLOSING)
    first = close_the_day(context(database, config, clock, "w1"), MONDAY_CLOSING)
    second = close_the_day(context(database, config, clock, "w2"), MONDAY_CLOSING)
    assert (first, second) == ([missed], None)
    carried = request(database, missed)
    assert (carried.status, carried.late, carried.deadline_class, carried.due_at) == (
        CallbackStatus.PENDING,
        True,
        0,
        MONDAY_CLOSING,
    )
    assert kinds_logged(database, missed)[-1] is EventKind.CALLBACK_CARRIED_OVER
    assert request(database, tomorrow).late is False


def test_the_promise_watch_flags_what_is_about_to_be_late(
    database: Database, config: HotlineConfig
) -> None:
    margin = config.dispatch.at_risk_margin
    with database.transaction() as session:
        soon = add_callback(session, number(1), entered=T0)
        later = add_callback(session, number(2), entered=T0)
        session.get_one(CallbackRequest, soon).due_at = T0 + margin
        session.get_one(CallbackRequest, later).due_at = T0 + margin + timedelta(minutes=1)
    clock = FakeClock(T0)
    ctx = context(database, config, clock, "w1")
    assert watch_promises(ctx) == [soon]
    assert watch_promises(ctx) == []  # flagged once
    clock.advance(timedelta(minutes=1))
    assert watch_promises(ctx) == [later]
    assert request(database, soon).at_risk_at == T0
    assert request(database, soon).deadline_class == 0


def test_the_purge_erases_old_numbers_once_a_night(
    database: Database, config: HotlineConfig
) -> None:
    retention = config.retention.numbers
    with database.transaction() as session:
        old = add_callback(session, number(1), entered=T0)
        recent = add_callback(session, number(2), entered=T0)
        still_open = add_callback(session, number(3), entered=T0)
        cancel_callback(session, old, T0, "caller cancelled")
        cancel_callback(session, recent, T0 + timedelta(days=1), "caller cancelled")
    night = T0 + retention + timedelta(hours=1)
    clock = FakeClock(night)
    purged = purge_old_numbers(context(database, config, clock, "w1"))
    assert purged is not None and purged.callback_numbers == 1
    assert purge_old_numbers(context(database, config, clock, "w2")) is None
    assert request(database, old).number_e164 is None
    assert request(database, recent).number_e164 == number(2)
    assert request(database, still_open).number_e164 == number(3)
    # Statistics stay: the request and its place in the log are still there.
    assert request(database, old).status is CallbackStatus.CANCELLED
    assert request(database, old).queue_entered_at == T0


def test_the_reaper_returns_a_stopped_workers_callback(
    database: Database, config: HotlineConfig
) -> None:
    with database.transaction() as session:
        add_advisor(session, "a")
        callback_id = add_callback(session, number(1), entered=T0)
        claim_next_callback(session, None, T0, owner="gone", lease=config.callbacks.lease)
    clock = FakeClock(T0 + config.callbacks.lease)
    ctx = context(database, config, clock, "w1")
    assert reap_expired_leases(ctx) == []  # not yet: the lease runs to this instant
    clock.advance(timedelta(seconds=1))
    (released,) = reap_expired_leases(ctx)
    assert (released.callback_id, released.owner) == (callback_id, "gone")
    assert request(database, callback_id).status is CallbackStatus.PENDING


@pytest.mark.parametrize(
    ("now", "closing"),
    [
        (T0, MONDAY_CLOSING),  # Monday 10:00 → 15:00 today
        (MONDAY_CLOSING + timedelta(seconds=1), MONDAY_CLOSING + timedelta(days=1)),
        # Friday 16 January after closing → Monday 19 January
        (datetime(2026, 1, 16, 14, 0, tzinfo=UTC), datetime(2026, 1, 19, 13, 0, tzinfo=UTC)),
    ],
)
def test_the_worker_times_closing_by_the_calendar(
    database: Database, config: HotlineConfig, now: datetime, closing: datetime
) -> None:
    clock = FakeClock(now)
    worker = Worker(context(database, config, clock, "w1"), ScriptedDialler())

    async def scheduled() -> datetime:
        worker._schedule_closing(clock.now())
        job = worker.scheduler.get_job("closing")
        assert job is not None
        run_date: datetime = job.trigger.run_date
        return run_date

    assert asyncio.run(scheduled()) == closing


def test_the_workers_dispatcher_is_woken_by_the_workers_scheduler(
    database: Database, config: HotlineConfig
) -> None:
    """Made with its worker, the dispatcher asks the worker's scheduler for its timers
    (a retry time, the end of a wrap-up)."""
    clock = FakeClock(T0)
    worker = Worker(context(database, config, clock, "w1"), ScriptedDialler())

    async def timers() -> list[str]:
        worker.dispatcher.timers.wake_at(T0 + timedelta(minutes=5, microseconds=1))
        return [job.id for job in worker.scheduler.get_jobs()]

    assert asyncio.run(timers()) == [f"wake-{(T0 + timedelta(minutes=5, seconds=1)).isoformat()}"]


# -- a database outage -------------------------------------------------------------------------


def outage_lines(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    """The log lines about the database, and any other line that carries a traceback."""
    return [e for e in logs if e["event"].startswith("database.") or "exc_info" in e]


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.001)


def test_an_outage_under_the_timers_is_two_lines_not_a_traceback_a_tick(
    database: Database, config: HotlineConfig
) -> None:
    """Five reaper ticks while the database is down, then one after: one line when it
    went, one when it came back with how long it was gone, and no traceback."""
    clock = FakeClock(T0)
    worker = Worker(context(database, config, clock, "w1"), ScriptedDialler())
    server = Restarting(database)

    async def ticks() -> list[MutableMapping[str, Any]]:
        with capture_logs() as logs:
            server.stop()
            for _ in range(5):
                assert await worker._tick(reap_expired_leases) is None
                clock.advance(timedelta(seconds=1))
            server.start()
            assert await worker._tick(reap_expired_leases) == []
            assert await worker._tick(reap_expired_leases) == []
        return logs

    (down, up) = outage_lines(asyncio.run(ticks()))
    assert server.refused == 5
    assert (down["event"], down["log_level"]) == ("database.unavailable", "error")
    assert down["error"].startswith("database ")
    assert down["error"].endswith(f" is not available: {server.says}")
    assert up == {"event": "database.available", "log_level": "info", "down_for_s": 5.0}


def test_an_outage_under_the_dispatcher_is_two_lines_not_a_traceback_a_pass(
    database: Database, config: HotlineConfig
) -> None:
    """The dispatcher woken again and again while the database is down, then once after."""
    clock = FakeClock(T0)
    dispatcher = Dispatcher(
        LineRules.fixed(config), database, ScriptedDialler(), clock=clock, owner="w1"
    )
    server = Restarting(database)

    async def passes() -> list[MutableMapping[str, Any]]:
        with capture_logs() as logs:
            server.stop()
            running = asyncio.create_task(dispatcher.run())
            for tries in range(1, 4):
                await until(lambda: server.refused >= tries)  # noqa: B023
                clock.advance(timedelta(seconds=10))
                dispatcher.wake()
            await until(lambda: server.refused >= 4)
            server.start()
            dispatcher.wake()
            await until(lambda: any(e["event"] == "database.available" for e in logs))
            await dispatcher.stop(timedelta(0))
            await running
        return logs

    events = [(e["event"], e.get("down_for_s")) for e in outage_lines(asyncio.run(passes()))]
    assert events == [("database.unavailable", None), ("database.available", 30.0)]
