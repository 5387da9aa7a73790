"""One worker process: the dispatcher, its wake-ups, and APScheduler as its timers.

APScheduler (``AsyncIOScheduler``, in-memory job store) only decides *when*:
the sweep wakes the dispatcher as a safety net under the instant wake-ups,
the reaper, the promise watch, closing time and the nightly purge run their
ticks (:mod:`workers.jobs`), and one-off timers wake the dispatcher at a
retry time or the end of a wrap-up. Every job coalesces missed runs into one
and never overlaps itself; ``shutdown()`` may cut a tick off mid-way, which
is safe because each tick is one transaction. A tick that finds the database
down is the dispatcher's outage (:class:`~callflow.store.session.OutageLog`),
logged once for them all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from callflow.errors import CalendarError
from callflow.providers.port import CallbackDialler
from callflow.service.rules import RulesInForce
from workers.dispatcher import Dispatcher, Timers
from workers.jobs import (
    JobContext,
    close_the_day,
    purge_old_numbers,
    reap_expired_leases,
    watch_promises,
)
from workers.metrics import WorkerMetrics
from workers.wakeups import listen_for_work

log = structlog.get_logger("callflow.worker")

T = TypeVar("T")

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
"""Missed runs (a stalled loop, a suspended laptop) collapse into one, late by up to 30 s."""


class Worker:
    """Runs until :meth:`stop`: ``await worker.run()``.

    Its dispatcher calls residents back through *dialler* and asks the worker's
    scheduler for its timers, so the two are made together, here.
    """

    def __init__(
        self,
        context: JobContext,
        dialler: CallbackDialler,
        *,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.context = context
        self.scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
        self.dispatcher = Dispatcher(
            context.rules,
            context.database,
            dialler,
            clock=context.clock,
            owner=context.owner,
            metrics=metrics,
            timers=Timers(wake_at=self.wake_at),
        )
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        dispatch = self.context.config.dispatch
        self._every(dispatch.sweep_interval, "sweep", self._sweep)
        self._every(dispatch.reaper_interval, "reaper", self._reap)
        self._every(dispatch.sweep_interval, "promise-watch", self._watch_promises)
        self._schedule_closing(self.context.clock.now())
        loop = asyncio.get_running_loop()

        def rules_changed(_rules: RulesInForce) -> None:
            # A closure stored (or ended) moves the day's closing: the job follows it.
            loop.call_soon_threadsafe(self._schedule_closing, self.context.clock.now())

        self.context.rules.on_change(rules_changed)
        self.scheduler.add_job(
            self._purge,
            CronTrigger(
                hour=dispatch.purge_at // 60,
                minute=dispatch.purge_at % 60,
                timezone=self.context.config.line.timezone,
            ),
            id="purge",
        )
        self.scheduler.start()
        listener = asyncio.create_task(
            listen_for_work(self.context.database, self.dispatcher.wake, self.dispatcher.outage),
            name="wakeups",
        )
        dispatching = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        log.info("worker.started", owner=self.context.owner)
        try:
            await self._stopped.wait()
        finally:
            self.scheduler.shutdown(wait=False)
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await self.dispatcher.stop(self._grace)
            await asyncio.gather(dispatching, return_exceptions=True)
            log.info("worker.stopped", owner=self.context.owner)

    def stop(self, grace: timedelta) -> None:
        """Stop claiming; attempts in progress get *grace* to finish."""
        self._grace = grace
        self._stopped.set()

    _grace = timedelta(seconds=30)

    def wake_at(self, at: datetime) -> None:
        """Wake the dispatcher at *at* (to the second; one timer per second at most)."""
        at = at.replace(microsecond=0) + timedelta(seconds=1)
        self.scheduler.add_job(
            self.dispatcher.wake,
            DateTrigger(at),
            id=f"wake-{at.isoformat()}",
            replace_existing=True,
            misfire_grace_time=None,  # late is better than never
        )

    # -- jobs ----------------------------------------------------------------------------

    def _every(self, interval: timedelta, name: str, job: Callable[[], Awaitable[None]]) -> None:
        self.scheduler.add_job(job, IntervalTrigger(seconds=interval.total_seconds()), id=name)

    async def _sweep(self) -> None:
        self.dispatcher.wake()

    async def _reap(self) -> None:
        released = await self._tick(reap_expired_leases)
        if released:
            self.dispatcher.metrics.expired_leases.inc(len(released))
            self.dispatcher.wake()

    async def _watch_promises(self) -> None:
        if await self._tick(watch_promises):
            self.dispatcher.wake()  # escalated requests go first

    async def _purge(self) -> None:
        await self._tick(purge_old_numbers)

    def _schedule_closing(self, after: datetime) -> None:
        try:
            closing = self.context.calendar.next_closing(after)
        except CalendarError:
            closing = None
        if closing is None:
            log.info("worker.no_closing_ahead")
            if self.scheduler.get_job("closing") is not None:
                self.scheduler.remove_job("closing")
            return
        self.scheduler.add_job(
            self._close_the_day,
            DateTrigger(closing),
            args=[closing],
            id="closing",
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def _close_the_day(self, closing_at: datetime) -> None:
        try:
            await self._tick(close_the_day, closing_at)
        finally:
            # The line is closed just after closing time: the next closing follows its opening.
            self._schedule_closing(closing_at + timedelta(seconds=1))

    async def _tick(self, job: Callable[..., T], *args: Any) -> T | None:
        outage = self.dispatcher.outage
        try:
            result = await asyncio.to_thread(job, self.context, *args)
        except Exception as exc:
            outage.report(exc, "job.failed", job=job.__name__)
            return None
        outage.succeeded()
        return result
