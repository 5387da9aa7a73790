"""The simulator's callback dialler: advisors who answer, residents who may not.

The same odds as the simulated day (:mod:`callflow.providers.sim.simulation`)
but on the real event loop, so ``callflow worker`` can run end to end
without a carrier: a whole dispatch — claims, leases, retries, outcomes — on
the real database, with times divided by *speed*. A reached resident's
advisor records the outcome as a person would, through the same store call
as the advisor API.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import structlog

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import Clock
from callflow.engine.vocabulary import AttemptResult
from callflow.errors import AssignmentError, StoreError
from callflow.providers.port import AdvisorLeg, CallbackCall, ResidentCall
from callflow.providers.sim.draws import weighted_choice
from callflow.providers.sim.staff import AdvisorHabits
from callflow.store.attempts import retry_policy
from callflow.store.outcomes import Coding, record_outcome
from callflow.store.session import Database

log = structlog.get_logger("callflow.sim.dialler")

ADVISOR_ANSWERS = timedelta(seconds=4)
WHISPER = timedelta(seconds=6)
DIAL_RESULTS = (
    (AttemptResult.REACHED, 0.72),
    (AttemptResult.NO_ANSWER, 0.14),
    (AttemptResult.BUSY, 0.05),
    (AttemptResult.MACHINE, 0.06),
    (AttemptResult.WRONG_NUMBER, 0.03),
)
"""What dialling a resident back comes to; a voicemail is a machine, never a completion."""
RING_FOR = {
    AttemptResult.NO_ANSWER: timedelta(seconds=30),
    AttemptResult.BUSY: timedelta(seconds=3),
    AttemptResult.MACHINE: timedelta(seconds=20),
    AttemptResult.WRONG_NUMBER: timedelta(seconds=25),
}
CODING_TAKES = timedelta(seconds=20)
"""How long after hanging up an advisor records the outcome."""


class SimulatedDialler:
    """A :class:`~callflow.providers.port.CallbackDialler` whose calls are drawn, not made."""

    def __init__(
        self,
        config: HotlineConfig,
        database: Database,
        clock: Clock,
        *,
        seed: int | None = None,
        speed: float = 1.0,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.config = config
        self.database = database
        self.clock = clock
        self.rng = random.Random(seed)
        self.habits = AdvisorHabits(config, self.rng)
        self.speed = speed
        self.calendar = Calendar.from_config(config)
        self._codings: set[asyncio.Task[None]] = set()

    async def ring_advisor(self, call: CallbackCall, timeout: timedelta) -> AdvisorLeg | None:
        await self._pass(min(ADVISOR_ANSWERS, timeout) + WHISPER)
        return AdvisorLeg(f"sim-advisor-{call.advisor_id}-{call.callback_id}-{call.attempt_no}")

    async def dial_resident(self, call: CallbackCall, leg: AdvisorLeg) -> ResidentCall:
        result = weighted_choice(self.rng, DIAL_RESULTS)
        if result is not AttemptResult.REACHED:
            await self._pass(RING_FOR[result])
            return ResidentCall(result)
        talk = self.habits.handle_time(call.topic)
        await self._pass(talk)
        task = asyncio.create_task(self._advisor_codes(call))
        self._codings.add(task)
        task.add_done_callback(self._codings.discard)
        return ResidentCall(AttemptResult.REACHED, talk)

    async def hang_up(self, leg: AdvisorLeg) -> None:
        return None

    async def _advisor_codes(self, call: CallbackCall) -> None:
        await self._pass(CODING_TAKES)
        coding = self.habits.coding(call.topic)
        await asyncio.to_thread(self._record, call, coding)

    def _record(self, call: CallbackCall, coding: Coding) -> None:
        for attempt in range(3):
            try:
                self._record_once(call, coding)
                return
            except StoreError:
                # A deadlock or a dropped connection: a person would simply press again.
                log.warning("sim.outcome_retry", callback_id=call.callback_id, attempt=attempt)
        log.error("sim.outcome_lost", callback_id=call.callback_id)

    def _record_once(self, call: CallbackCall, coding: Coding) -> None:
        try:
            with self.database.transaction() as session:
                record_outcome(
                    session,
                    call.advisor_id,
                    call.callback_id,
                    AttemptResult.REACHED,
                    coding,
                    self.clock.now(),
                    policy=retry_policy(self.config),
                    calendar=self.calendar,
                    wrap_up=self.config.dispatch.wrap_up,
                )
        except AssignmentError as exc:  # the lease ran out meanwhile and it was closed
            log.info("sim.outcome_not_recorded", callback_id=call.callback_id, why=str(exc))

    async def _pass(self, length: timedelta) -> None:
        await asyncio.sleep(length.total_seconds() / self.speed)

    async def settle(self) -> None:
        """Wait for advisors still recording outcomes (a worker stopping)."""
        if self._codings:
            await asyncio.gather(*self._codings, return_exceptions=True)
