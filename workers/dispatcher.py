"""The dispatcher: when woken, pair due callbacks with ready advisors and call residents back.

Any number of dispatchers may run, in any number of processes on any number
of hosts: each claim is one atomic database step with a lease
(:func:`~callflow.store.claims.claim_callbacks`), so a dispatcher only
decides *when* to look. Each claimed attempt runs as its own task — ring the
advisor, mark the attempt as dialling, dial the resident, record the result
— while a companion task renews the lease. A dispatcher that loses the lease
(the reaper took it back, the caller cancelled, the advisor recorded the
outcome first) stops touching that callback at once.

Database calls are blocking SQLAlchemy; they run in worker threads so one
slow transaction never stalls the calls in progress. While the database is
down every pass fails; :attr:`Dispatcher.outage` logs that once, not once a
pass.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

import structlog

from callflow.engine.clock import Clock
from callflow.engine.vocabulary import AttemptResult
from callflow.errors import LeaseLost
from callflow.providers.port import CallbackCall, CallbackDialler
from callflow.service.rules import LineRules, ReadsRules
from callflow.store.advisors import LegEnd, advisor_leg_ended, begin_wrap_up
from callflow.store.attempts import (
    AttemptClosed,
    finish_attempt,
    mark_dialled,
    renew_lease,
)
from callflow.store.claims import ClaimedCallback, claim_callbacks
from callflow.store.outcomes import await_outcome
from callflow.store.session import Database, OutageLog
from workers.metrics import WorkerMetrics

log = structlog.get_logger("callflow.dispatcher")

T = TypeVar("T")

CLAIMS_PER_TRANSACTION = 8
"""With a backlog, claims are taken a few at a time: on PostgreSQL one statement pairs
that many requests with advisors, and a transaction of its own for each (a thread hop,
BEGIN, a statement, COMMIT) cost more than the claim. The first of them is dialled a
few milliseconds later than it would be alone."""


@dataclass
class Timers:
    """Where a dispatcher asks to be woken at a given instant (a retry time, the end of
    a wrap-up, the dialling window's opening); the scheduler provides it."""

    wake_at: Callable[[datetime], None] = field(default=lambda _at: None)


class Dispatcher(ReadsRules):
    """Claims and runs callback attempts; see the module docstring."""

    def __init__(
        self,
        rules: LineRules,
        database: Database,
        dialler: CallbackDialler,
        *,
        clock: Clock,
        owner: str,
        metrics: WorkerMetrics | None = None,
        timers: Timers | None = None,
    ) -> None:
        self.rules = rules
        """Read at each claim and each attempt: a change applies from the next one."""
        self.database = database
        self.dialler = dialler
        self.clock = clock
        self.owner = owner
        self.metrics = metrics or WorkerMetrics()
        self.timers = timers or Timers()
        self.attempts: dict[int, asyncio.Task[None]] = {}
        """Attempts in progress, by callback id."""
        self.outage = OutageLog(clock)
        """Shared with the worker's other loops (timers, wake-ups)."""
        self._woken = asyncio.Event()
        self._stopping = False

    # -- waking --------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for work soon (safe to call from any thread via ``call_soon_threadsafe``)."""
        self._woken.set()

    async def run(self) -> None:
        """Dispatch whenever woken, until :meth:`stop`."""
        self.wake()  # whatever is due already
        while not self._stopping:
            await self._woken.wait()
            self._woken.clear()
            if self._stopping:
                break
            try:
                await self.dispatch_due()
            except Exception as exc:
                # The database may be down for a while; the next wake or sweep tries again.
                self.outage.report(exc, "dispatch.failed")

    async def dispatch_due(self) -> int:
        """Claim every pair possible now and start its attempt; returns how many."""
        now = self.clock.now()
        opens = self.calendar.first_instant_within(now, self.policy.window)
        if opens != now:
            self.timers.wake_at(opens)  # no dialling outside the window
            return 0
        started = 0
        while not self._stopping:
            claimed = await self._in_thread(self._claim_some)
            for one in claimed:
                self._start(one)
            started += len(claimed)
            if len(claimed) < CLAIMS_PER_TRANSACTION:
                break
        return started

    def _start(self, claimed: ClaimedCallback) -> None:
        callback_id = claimed.callback_id
        task = asyncio.create_task(self._attempt(claimed), name=f"callback-{callback_id}")
        self.attempts[callback_id] = task
        self.metrics.in_flight.set(len(self.attempts))
        task.add_done_callback(lambda _task: self._forget(callback_id))

    def _claim_some(self) -> list[ClaimedCallback]:
        with self.database.transaction() as session:
            claimed = claim_callbacks(
                session,
                self.clock.now(),
                owner=self.owner,
                lease=self.config.callbacks.lease,
                limit=CLAIMS_PER_TRANSACTION,
            )
        self.metrics.claims.inc(len(claimed))
        return claimed

    def _forget(self, callback_id: int) -> None:
        self.attempts.pop(callback_id, None)
        self.metrics.in_flight.set(len(self.attempts))

    # -- one attempt ---------------------------------------------------------------------

    async def _attempt(self, claimed: ClaimedCallback) -> None:
        call = self._call_for(claimed)
        lease = asyncio.create_task(self._keep_lease(claimed))
        try:
            await self._call_back(claimed, call)
        except LeaseLost as lost:
            await self._in_thread(self._lost, claimed, lost)
        except asyncio.CancelledError:
            # Stopping: the callback goes back in line now rather than at lease expiry.
            await asyncio.shield(self._hand_back(claimed))
            raise
        except Exception as exc:
            # Left leased: the reaper returns it to the queue when the lease runs out.
            self.outage.report(exc, "callback.attempt_failed", callback_id=claimed.callback_id)
        finally:
            lease.cancel()

    def _call_for(self, claimed: ClaimedCallback) -> CallbackCall:
        return CallbackCall(
            callback_id=claimed.callback_id,
            attempt_no=claimed.attempt_no,
            advisor_id=claimed.advisor_id,
            advisor_dial_string=claimed.dial_string,
            number_e164=claimed.number_e164 or "",
            topic=claimed.topic,
            language=claimed.language,
            waited=self.clock.now() - claimed.queue_entered_at,
            caller_id=self.config.line.number,
        )

    async def _call_back(self, claimed: ClaimedCallback, call: CallbackCall) -> None:
        log.info(
            "callback.ringing_advisor",
            callback_id=claimed.callback_id,
            attempt=claimed.attempt_no,
            advisor_id=claimed.advisor_id,
        )
        waited = self.clock.now() - claimed.possible_since
        self.metrics.wake_latency.observe(max(waited.total_seconds(), 0.0))
        leg = await self.dialler.ring_advisor(call, self.config.connect.advisor_ring_timeout)
        if leg is None:
            await self._in_thread(self._advisor_did_not_answer, claimed)
            return
        try:
            await self._in_thread(self._mark_dialled, claimed)
        except BaseException:
            # A lost lease, the store failing, a stop: the advisor who answered is never left
            # on a silent line.
            await self.dialler.hang_up(leg)
            raise
        resident = await self.dialler.dial_resident(call, leg)
        if resident.result is AttemptResult.REACHED:
            await self._in_thread(self._await_outcome, claimed, resident.talk)
            self.metrics.attempts.labels(result=resident.result.value).inc()
            log.info("callback.reached", callback_id=claimed.callback_id)
            return
        await self.dialler.hang_up(leg)
        closed = await self._in_thread(self._finish, claimed, resident.result)
        self.metrics.attempts.labels(result=resident.result.value).inc()
        log.info(
            "callback.attempt_ended",
            callback_id=claimed.callback_id,
            result=resident.result.value,
            status=closed.status.value,
        )
        if closed.next_attempt_at is not None:
            self.timers.wake_at(closed.next_attempt_at)

    def _mark_dialled(self, claimed: ClaimedCallback) -> None:
        # Committed before the resident is dialled: a dial is never repeated for one attempt.
        with self.database.transaction() as session:
            mark_dialled(
                session, claimed.callback_id, claimed.attempt_no, self.clock.now(), owner=self.owner
            )

    def _advisor_did_not_answer(self, claimed: ClaimedCallback) -> None:
        log.warning(
            "advisor.did_not_answer", advisor_id=claimed.advisor_id, callback_id=claimed.callback_id
        )
        with self.database.transaction() as session:
            now = self.clock.now()
            finish_attempt(
                session,
                claimed.callback_id,
                claimed.attempt_no,
                AttemptResult.INTERRUPTED,
                now,
                owner=self.owner,
                policy=self.policy,
                calendar=self.calendar,
            )
            advisor_leg_ended(
                session,
                claimed.advisor_id,
                LegEnd.UNREACHABLE,
                now,
                wrap_up=self.config.dispatch.wrap_up,
            )
        self.metrics.attempts.labels(result="advisor_no_answer").inc()

    def _await_outcome(self, claimed: ClaimedCallback, talk: timedelta) -> None:
        dispatch = self.config.dispatch
        with self.database.transaction() as session:
            now = self.clock.now()
            await_outcome(
                session,
                claimed.callback_id,
                claimed.attempt_no,
                now,
                owner=self.owner,
                until=now + dispatch.outcome_timeout,
                duration_s=talk.total_seconds(),
            )

    def _finish(self, claimed: ClaimedCallback, result: AttemptResult) -> AttemptClosed:
        with self.database.transaction() as session:
            closed = finish_attempt(
                session,
                claimed.callback_id,
                claimed.attempt_no,
                result,
                self.clock.now(),
                owner=self.owner,
                policy=self.policy,
                calendar=self.calendar,
                wrap_up=self.config.dispatch.wrap_up,
            )
        self._wake_after_wrap_up()
        return closed

    def _wake_after_wrap_up(self) -> None:
        wrap_up = self.config.dispatch.wrap_up
        if wrap_up > timedelta(0):
            self.timers.wake_at(self.clock.now() + wrap_up)

    def _lost(self, claimed: ClaimedCallback, lost: LeaseLost) -> None:
        """Not ours any more: touch the callback no more; the advisor wraps up (if the
        advisor already recorded the outcome, their wrap-up runs from now)."""
        self.metrics.leases_lost.inc()
        log.info("callback.let_go", callback_id=claimed.callback_id, why=str(lost))
        with self.database.transaction() as session:
            begin_wrap_up(
                session, claimed.advisor_id, self.clock.now(), self.config.dispatch.wrap_up
            )
        self._wake_after_wrap_up()

    async def _keep_lease(self, claimed: ClaimedCallback) -> None:
        """Renew the lease at a third of its length while the attempt goes on."""
        lease = self.config.callbacks.lease
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            try:
                await self._in_thread(self._renew, claimed)
            except LeaseLost:
                return  # the attempt's next step finds out and lets go
            except Exception as exc:
                self.outage.report(exc, "callback.renew_failed", callback_id=claimed.callback_id)

    def _renew(self, claimed: ClaimedCallback) -> None:
        with self.database.transaction() as session:
            renew_lease(
                session,
                claimed.callback_id,
                self.clock.now(),
                owner=self.owner,
                lease=self.config.callbacks.lease,
            )

    async def _hand_back(self, claimed: ClaimedCallback) -> None:
        with contextlib.suppress(LeaseLost):
            await self._in_thread(self._finish, claimed, AttemptResult.INTERRUPTED)

    # -- stopping ------------------------------------------------------------------------

    async def stop(self, grace: timedelta) -> None:
        """Claim nothing more; let attempts in progress finish for up to *grace*, then hand
        the rest back to the queue (their attempts interrupted, not counted)."""
        self._stopping = True
        self._woken.set()
        pending = list(self.attempts.values())
        if not pending:
            return
        _done, still = await asyncio.wait(pending, timeout=grace.total_seconds())
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)

    async def _in_thread(self, function: Callable[..., T], *args: object) -> T:
        """*function* (database work) in a worker thread; its success ends an outage."""
        result = await asyncio.to_thread(function, *args)
        self.outage.succeeded()
        return result
