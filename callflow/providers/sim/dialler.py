"""The simulator's callback dialler: advisors who answer, residents who may not.

The same odds as the simulated day (:mod:`callflow.providers.sim.simulation`)
but on the real event loop, so ``callflow worker`` can run end to end
without a carrier: a whole dispatch — claims, leases, retries, outcomes — on
the real database, with times divided by *speed*. A reached resident's
advisor records the outcome as a person would, through the same store call
as the advisor API. The advisor hangs up first, so where ``[survey]`` applies
the resident then hears the recommendation question on their leg, run by
:class:`~callflow.service.surveys.ResidentSurvey` as the real diallers run it,
and answers as :mod:`.respondents` says.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import structlog

from callflow.config.models import HotlineConfig
from callflow.engine import survey
from callflow.engine.calendar import Calendar
from callflow.engine.clock import Clock
from callflow.engine.commands import Ask, ClearTimer, Command, Play, SetTimer, StopPlayback
from callflow.engine.events import CallerHungUp, DigitPressed, Event, PlaybackFinished, TimerFired
from callflow.engine.vocabulary import AttemptResult
from callflow.errors import AssignmentError, StoreError
from callflow.providers.port import AdvisorLeg, CallbackCall, ResidentCall
from callflow.providers.sim.calls import KEY_INTERVAL, THINKING, Speech
from callflow.providers.sim.draws import weighted_choice
from callflow.providers.sim.respondents import survey_keys
from callflow.providers.sim.staff import AdvisorHabits
from callflow.service.surveys import ResidentSurvey
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
        self.speech = Speech(config)
        self._after_talks: set[asyncio.Task[None]] = set()
        """Advisors recording outcomes, residents answering the question."""

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
        self._after_talk(self._advisor_codes(call))
        if survey.applies(self.config.survey, survey.contact_key(callback_id=call.callback_id)):
            self._after_talk(self._asked(call))  # the advisor hung up first
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

    def _after_talk(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._after_talks.add(task)
        task.add_done_callback(self._after_talks.discard)

    async def _asked(self, call: CallbackCall) -> None:
        """The question on the resident's leg, until the machine is done."""
        heard: asyncio.Queue[Event] = asyncio.Queue()
        pending: dict[str, asyncio.TimerHandle] = {}
        try:
            run, media = await asyncio.to_thread(
                ResidentSurvey.start,
                self.database,
                self.config.survey,
                self.calendar,
                callback_id=call.callback_id,
                language=call.language,
                topic=call.topic,
                number_e164=call.number_e164 or None,
                now=self.clock.now(),
            )
            self._on_the_leg(media, heard, pending)
            while not run.done:
                event = await heard.get()
                media = await asyncio.to_thread(run.handle, event, self.clock.now())
                self._on_the_leg(media, heard, pending)
        except StoreError as exc:  # the question is a courtesy: it never fails the worker
            log.warning("sim.survey_failed", callback_id=call.callback_id, error=str(exc))
        finally:
            for handle in pending.values():
                handle.cancel()

    def _on_the_leg(
        self,
        media: list[Command],
        heard: asyncio.Queue[Event],
        pending: dict[str, asyncio.TimerHandle],
    ) -> None:
        """Say the prompts (the time saying them takes), set and clear the timer; what
        the resident hears and does comes back on *heard*."""
        loop = asyncio.get_running_loop()
        for command in media:
            if isinstance(command, Play | Ask):
                length = sum((self.speech.length(p) for p in command.prompts), timedelta())
                question = isinstance(command, Ask) and bool(command.prompts)
                _cancel(pending, command.playback_id)
                pending[command.playback_id] = loop.call_later(
                    self._seconds(length), self._heard, heard, command.playback_id, question
                )
            elif isinstance(command, StopPlayback):
                _cancel(pending, command.playback_id)
            elif isinstance(command, SetTimer):
                fired = TimerFired(command.name, command.at)
                wait = max(command.at - self.clock.now(), timedelta())
                _cancel(pending, command.name)
                pending[command.name] = loop.call_later(
                    self._seconds(wait), heard.put_nowait, fired
                )
            elif isinstance(command, ClearTimer):
                _cancel(pending, command.name)

    def _heard(self, heard: asyncio.Queue[Event], playback_id: str, question: bool) -> None:
        heard.put_nowait(PlaybackFinished(playback_id))
        if question:
            loop = asyncio.get_running_loop()
            loop.call_later(self._seconds(THINKING), self._answer, heard)

    def _answer(self, heard: asyncio.Queue[Event]) -> None:
        """The resident keys an answer a moment after the question, or hangs up."""
        keys = survey_keys(self.rng, self.config.simulation)
        if keys is None:
            heard.put_nowait(CallerHungUp())
            return
        loop = asyncio.get_running_loop()
        for i, key in enumerate(keys):
            loop.call_later(self._seconds(KEY_INTERVAL * i), heard.put_nowait, DigitPressed(key))

    def _seconds(self, length: timedelta) -> float:
        return length.total_seconds() / self.speed

    async def _pass(self, length: timedelta) -> None:
        await asyncio.sleep(self._seconds(length))

    async def settle(self) -> None:
        """Wait for advisors still recording outcomes and residents still answering the
        question (a worker stopping)."""
        if self._after_talks:
            await asyncio.gather(*self._after_talks, return_exceptions=True)


def _cancel(pending: dict[str, asyncio.TimerHandle], name: str) -> None:
    handle = pending.pop(name, None)
    if handle is not None:
        handle.cancel()
