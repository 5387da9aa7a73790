"""A line on a virtual clock: the real engine, the real store and the real claim.

Simulated callers arrive, go through the menus, wait, give up or take a
callback; simulated advisors work their shifts, answer the longest-waiting
caller they can serve (or, with nobody waiting, claim the next callback with
:func:`~callflow.store.claims.claim_next_callback`), take lunch and code what
they did. Callbacks are dialled back with the results real numbers give and
retried by the configured policy. Everything runs on a discrete-event loop,
so a day takes seconds, and one seed always gives the same day.
"""

from __future__ import annotations

import contextlib
import functools
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import structlog

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import FakeClock
from callflow.engine.commands import EnterQueue
from callflow.engine.events import AdvisorConnected, AdvisorHungUp, CallArrived, Event
from callflow.engine.flow import FlowContext, new_call
from callflow.engine.forecast import RotaCapacity
from callflow.engine.vocabulary import AttemptResult, CallbackStatus, CallOutcome
from callflow.errors import LeaseLost
from callflow.providers.sim.calls import SimulatedCall, Speech, carry_out, end_of
from callflow.providers.sim.draws import weighted_choice
from callflow.providers.sim.floor import SimAdvisor, SimulatedFloor
from callflow.providers.sim.loop import VirtualLoop
from callflow.providers.sim.phones import ADVISOR_ANSWERS, DIAL_RESULTS, RING_FOR, WHISPER
from callflow.providers.sim.staff import LUNCH, AdvisorHabits, Seat, seats
from callflow.providers.sim.workload import Caller, Workload
from callflow.service.calls import CallHandler
from callflow.store.advisors import begin_wrap_up, register_advisor, set_advisor_state
from callflow.store.attempts import (
    call_coding_row,
    finish_attempt,
    mark_dialled,
    record_callback_coding,
    renew_lease,
    retry_policy,
)
from callflow.store.callbacks import open_backlog
from callflow.store.calls import BufferedJournal
from callflow.store.claims import ClaimedCallback, claim_next_callback
from callflow.store.models import AdvisorState
from callflow.store.session import Database

log = structlog.get_logger("callflow.sim")

UNITS_PER_COMMIT = 2000
NOT_REACHED_WRAP_UP = timedelta(seconds=15)


@dataclass
class Tally:
    """Running counts, for progress lines; the report is computed from the store."""

    arrived: int = 0
    answered: int = 0
    abandoned: int = 0
    callbacks_requested: int = 0
    callbacks_dialled: int = 0
    callbacks_completed: int = 0


class Simulation:
    """Drives calls and advisors: schedule days or callers, then :meth:`run_until`."""

    def __init__(
        self,
        config: HotlineConfig,
        database: Database,
        *,
        seed: int,
        start: datetime,
        calls_per_day: float | None = None,
        habits: AdvisorHabits | None = None,
        owner: str = "sim",
    ) -> None:
        self.config = config
        self.rng = random.Random(seed)
        self.clock = FakeClock(start)
        self.loop = VirtualLoop(self.clock)
        self.speech = Speech(config)
        self.calendar = Calendar.from_config(config)
        window = config.callbacks.retry.allowed_hours
        self.line = SimulatedFloor(config, RotaCapacity(self.calendar, config.staffing, window))
        self.batch = database.batch(units_per_commit=UNITS_PER_COMMIT)
        self.journal = BufferedJournal()
        self.batch.before_commit.append(self.journal.flush)
        self.handler = CallHandler(
            database,
            FlowContext(config, self.calendar, self.line),
            provider="sim",
            unit_of_work=self.batch.unit,
            journal=self.journal,
            on_callback_change=self._callback_changed,
        )
        self.workload = Workload(config, self.calendar, self.rng, calls_per_day=calls_per_day)
        self.habits = habits or AdvisorHabits(config, self.rng)
        self.policy = retry_policy(config)
        self.owner = owner
        self.tally = Tally()
        self.calls: dict[str, SimulatedCall] = {}
        self.seats = {seat.advisor_id: seat for seat in seats(config)}
        self._store_ids: dict[str, int] = {}
        self._leaving: set[str] = set()
        self._lunch_due: set[str] = set()
        self._typed: dict[str, str] = {}
        self._in_flight: dict[str, ClaimedCallback] = {}
        """Callbacks claimed and not yet over, by advisor."""
        self.run_id = uuid.uuid4().hex[:8]
        """Call ids start with this: runs into one database never collide."""
        self._backlog_stale = True
        self.on_arrival: Callable[[], None] | None = None
        """Called once per arriving caller (a progress bar)."""

    # -- running ---------------------------------------------------------------------------

    def schedule_days(self, first: date, days: int) -> int:
        """Put *days* days of callers and shifts on the loop; returns how many callers."""
        self._register_advisors()
        callers = 0
        for offset in range(days):
            day = first + timedelta(days=offset)
            self._plan_shifts(day)
            callers += self.schedule_callers(self.workload.day(day))
            self._dial_when_window_opens(day)
        return callers

    def sign_in_everyone(self) -> None:
        """Every planned advisor on duty from now on, with no shifts (a stationary line)."""
        self._register_advisors()
        for seat in self.seats.values():
            self._sign_in(seat)

    def schedule_callers(self, callers: Iterable[Caller]) -> int:
        """Callers who would have arrived before now (a run started mid-day) never call."""
        now = self.clock.now()
        scheduled = 0
        for caller in callers:
            if caller.arrives_at >= now:
                self.loop.call_at(caller.arrives_at, functools.partial(self.arrive, caller))
                scheduled += 1
        return scheduled

    def run_until(self, deadline: datetime | None) -> bool:
        """Run everything due up to *deadline* (all of it when None); False once nothing is left."""
        while True:
            at = self.loop.next_at()
            if at is None:
                if deadline is not None and deadline > self.clock.now():
                    self.clock.set(deadline)
                self.batch.commit()
                return False
            if deadline is not None and at > deadline:
                self.clock.set(deadline)
                self.batch.commit()
                return True
            self.loop.run_next()

    def close(self) -> None:
        """Stop: a callback being dialled goes back to the queue (its attempt ended as
        interrupted), so no request is left leased to a simulation that is gone."""
        now = self.clock.now()
        for claimed in self._in_flight.values():
            # A LeaseLost: the caller cancelled it meanwhile, and nothing is held.
            with self.batch.unit() as session, contextlib.suppress(LeaseLost):
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
        self._in_flight.clear()
        self.batch.commit()

    # -- callers -------------------------------------------------------------------------

    def arrive(self, caller: Caller) -> None:
        call_id = f"{self.run_id}{self.rng.getrandbits(128):032x}"[:32]
        call = SimulatedCall(new_call(call_id, self.clock.now()), caller)
        self.calls[call_id] = call
        self.tally.arrived += 1
        number = self.workload.number_of(caller)
        self._tell("call.arrived", call_id=call_id, number=number)
        if self.on_arrival is not None:
            self.on_arrival()
        self.deliver(call, CallArrived(number, withheld=caller.withheld))

    def deliver(self, call: SimulatedCall, event: Event) -> None:
        if call.ended:
            return
        if self._backlog_stale:
            self._refresh_backlog()
        had_callback = call.state.callback_id
        for command in self.handler.handle(call.state, event, self.clock.now()):
            carry_out(self, call, command)
        state = call.state
        if state.callback_id is not None and had_callback is None:
            self.tally.callbacks_requested += 1
            if state.callback_number is not None:
                self.workload.numbers.pending[state.callback_number] = state.callback_id
            self._tell("callback.requested", call_id=state.call_id, topic=state.topic)
        if call.ended:
            end_of(call)
            del self.calls[state.call_id]
            self._typed.pop(state.call_id, None)
            self._count_end(call)

    def _tell(self, event: str, **details: object) -> None:
        """Log what happened, stamped with the line's (simulated) local time."""
        log.info(
            event,
            line_time=self.calendar.local(self.clock.now()).strftime("%a %H:%M:%S"),
            **details,
        )

    def _count_end(self, call: SimulatedCall) -> None:
        outcome = call.state.outcome
        if outcome in (CallOutcome.ABANDONED_IVR, CallOutcome.ABANDONED_QUEUE):
            self.tally.abandoned += 1
            self._tell("call.abandoned", call_id=call.state.call_id, outcome=outcome)

    def typed_number(self, call: SimulatedCall) -> str:
        """The number a caller keys in: their own, the same every time they are asked."""
        number = self._typed.get(call.state.call_id)
        if number is None:
            number = self.workload.numbers.new_number()
            self._typed[call.state.call_id] = number
        return "0" + number.removeprefix("+358")

    def queued(self, call: SimulatedCall, command: EnterQueue) -> None:
        self.line.enqueue(call.state.call_id, command.topic, command.language, command.entered_at)
        self.loop.call_at(self.clock.now(), self._connect_waiting)

    def unqueued(self, call: SimulatedCall, topic: str) -> None:
        self.line.dequeue(call.state.call_id, topic)

    def _connect_waiting(self) -> None:
        for call_id, advisor_id in self.line.match():
            call = self.calls.get(call_id)
            if call is None:
                self.release(advisor_id)
                continue
            self.deliver(call, AdvisorConnected(advisor_id))

    def talk(self, call: SimulatedCall, advisor_id: str) -> None:
        state = call.state
        assert state.topic is not None
        topic, language = state.topic, state.language
        handle = self.habits.handle_time(topic)
        self.tally.answered += 1
        self._tell("call.answered", call_id=state.call_id, advisor=advisor_id, topic=topic)

        def hang_up() -> None:
            now = self.clock.now()
            self.line.record_handle(topic, handle)
            coding = self.habits.coding(topic)
            self.journal.log(
                [call_coding_row(state.call_id, topic, language, coding, advisor_id, now)]
            )
            self.deliver(call, AdvisorHungUp())
            self._after_work(advisor_id, self.habits.wrap_up())

        self.loop.call_at(self.clock.now() + handle, hang_up)

    # -- advisors --------------------------------------------------------------------------

    def _register_advisors(self) -> None:
        if self._store_ids:
            return
        with self.batch.unit() as session:
            for seat in self.seats.values():
                store_id = register_advisor(
                    session, seat.advisor_id, {seat.skill}, seat.languages, self.clock.now()
                )
                # Ready in the store for good: the simulation decides in memory who is
                # free, and asks the claim for that one advisor only.
                set_advisor_state(session, store_id, AdvisorState.AVAILABLE, self.clock.now())
                self._store_ids[seat.advisor_id] = store_id

    def _plan_shifts(self, day: date) -> None:
        spans = self.calendar.day(day).spans
        if not spans:
            return
        weekday = day.strftime("%A").lower()
        for number, seat in enumerate(self.seats.values()):
            block = seat.block
            if weekday not in block.days:
                continue
            start = max(spans[0].start, self.calendar.at_minute(day, block.hours.start_minute))
            end = min(spans[-1].end, self.calendar.at_minute(day, block.hours.end_minute))
            if end <= start:
                continue
            self.loop.call_at(start, functools.partial(self._sign_in, seat))
            self.loop.call_at(end, functools.partial(self._sign_out, seat.advisor_id))
            lunch = self.habits.lunch_at(start, end, number)
            if lunch is not None and lunch >= self.clock.now():
                self.loop.call_at(lunch, functools.partial(self._lunch, seat.advisor_id))

    def _sign_in(self, seat: Seat) -> None:
        self._leaving.discard(seat.advisor_id)
        if seat.advisor_id not in self.line.advisors:
            self.line.advisors[seat.advisor_id] = SimAdvisor(
                seat.advisor_id, seat.skill, seat.languages, idle_since=self.clock.now()
            )
        self._became_free()

    def _sign_out(self, advisor_id: str) -> None:
        advisor = self.line.advisors.get(advisor_id)
        if advisor is None:
            return
        self._lunch_due.discard(advisor_id)
        if advisor.free:
            del self.line.advisors[advisor_id]
        else:
            self._leaving.add(advisor_id)

    def _lunch(self, advisor_id: str) -> None:
        advisor = self.line.advisors.get(advisor_id)
        if advisor is None:
            return
        if not advisor.free:
            self._lunch_due.add(advisor_id)
            return
        self._away(advisor, LUNCH)

    def _away(self, advisor: SimAdvisor, length: timedelta) -> None:
        advisor.busy_until = self.clock.now() + length
        self.loop.call_at(advisor.busy_until, lambda: self._back(advisor.advisor_id))

    def _back(self, advisor_id: str) -> None:
        advisor = self.line.advisors.get(advisor_id)
        if advisor is None or advisor.serving is not None:
            return
        if advisor_id in self._leaving:  # the shift ended during the break
            self._leaving.discard(advisor_id)
            del self.line.advisors[advisor_id]
            return
        self.line.release(advisor_id, self.clock.now())
        self._became_free()

    def release(self, advisor_id: str) -> None:
        """An advisor offered a call that had just ended is free at once."""
        self._free(advisor_id)

    def _after_work(self, advisor_id: str, wrap_up: timedelta) -> None:
        self.loop.call_at(self.clock.now() + wrap_up, lambda: self._free(advisor_id))

    def _free(self, advisor_id: str) -> None:
        advisor = self.line.advisors.get(advisor_id)
        if advisor is None:
            return
        if advisor_id in self._leaving:
            self._leaving.discard(advisor_id)
            del self.line.advisors[advisor_id]
            return
        advisor.serving = None
        if advisor_id in self._lunch_due:
            self._lunch_due.discard(advisor_id)
            self._away(advisor, LUNCH)
            return
        self.line.release(advisor_id, self.clock.now())
        self._became_free()

    def _became_free(self) -> None:
        self._connect_waiting()
        self.dispatch_callbacks()

    # -- callbacks ---------------------------------------------------------------------------

    def _dial_when_window_opens(self, day: date) -> None:
        """Requests made overnight become due when the day's dialling window opens."""
        midnight = self.calendar.at_minute(day, 0)
        opens = self.calendar.first_instant_within(midnight, self.policy.window)
        if self.calendar.local_date(opens) == day:
            self.loop.call_at(opens, self.dispatch_callbacks)

    def _callback_changed(self, callback_id: int) -> None:
        """A caller stored or cancelled a request: the backlog changed, and a free advisor
        may take it now (the simulation's in-process wake-up)."""
        self._backlog_stale = True
        pending = self.workload.numbers.pending
        for number in [n for n, known in pending.items() if known == callback_id]:
            del pending[number]  # cancelled; a new request is entered again by the caller's step
        self.loop.call_at(self.clock.now(), self.dispatch_callbacks)

    def _refresh_backlog(self) -> None:
        with self.batch.unit() as session:
            self.line.backlog = open_backlog(session)
        self._backlog_stale = False

    def dispatch_callbacks(self) -> None:
        """Free advisors with nobody waiting for them claim the next due callback."""
        now = self.clock.now()
        dials_at = now + ADVISOR_ANSWERS + WHISPER
        if not (self._may_dial(now) and self._may_dial(dials_at)):
            return  # the resident would be dialled after the window closes
        if self._backlog_stale:
            self._refresh_backlog()
        if not self.line.backlog:
            return
        free = sorted(
            (a for a in self.line.advisors.values() if a.free),
            key=lambda a: (a.idle_since, a.advisor_id),
        )
        for advisor in free:
            if self._someone_waits_for(advisor):
                continue
            with self.batch.unit() as session:
                claimed = claim_next_callback(
                    session,
                    self._store_ids[advisor.advisor_id],
                    now,
                    owner=self.owner,
                    lease=self.config.callbacks.lease,
                )
            if claimed is not None:
                self._backlog_stale = True
                self._start_attempt(advisor, claimed)

    def _may_dial(self, at: datetime) -> bool:
        return self.calendar.first_instant_within(at, self.policy.window) == at

    def _someone_waits_for(self, advisor: SimAdvisor) -> bool:
        for topic, waiting in self.line.queues.items():
            if self.config.queues[topic].skill != advisor.skill:
                continue
            if any(w.language in advisor.languages for w in waiting):
                return True
        return False

    def _start_attempt(self, advisor: SimAdvisor, claimed: ClaimedCallback) -> None:
        advisor.serving = f"callback-{claimed.callback_id}"
        self._in_flight[advisor.advisor_id] = claimed
        self._renew_later(advisor.advisor_id, claimed)
        dial_at = self.clock.now() + ADVISOR_ANSWERS + WHISPER
        self.loop.call_at(dial_at, lambda: self._dial(advisor.advisor_id, claimed))

    def _renew_later(self, advisor_id: str, claimed: ClaimedCallback) -> None:
        """Renew the lease at half its length for as long as the attempt goes on."""
        lease = self.config.callbacks.lease

        def renew() -> None:
            if self._in_flight.get(advisor_id) is not claimed:
                return  # the attempt is over
            with self.batch.unit() as session, contextlib.suppress(LeaseLost):
                renew_lease(
                    session, claimed.callback_id, self.clock.now(), owner=self.owner, lease=lease
                )
            self._renew_later(advisor_id, claimed)

        self.loop.call_at(self.clock.now() + lease / 2, renew)

    def _dial(self, advisor_id: str, claimed: ClaimedCallback) -> None:
        now = self.clock.now()
        with self.batch.unit() as session:
            try:
                mark_dialled(
                    session, claimed.callback_id, claimed.attempt_no, now, owner=self.owner
                )
            except LeaseLost as lost:  # raised before any write: the unit stays good
                self._let_go(advisor_id, lost)
                return
        self.tally.callbacks_dialled += 1
        result = weighted_choice(self.rng, DIAL_RESULTS)
        reached = result is AttemptResult.REACHED
        length = self.habits.handle_time(claimed.topic) if reached else RING_FOR[result]
        self._tell(
            "callback.dialled",
            callback_id=claimed.callback_id,
            attempt=claimed.attempt_no,
            advisor=advisor_id,
        )
        self.loop.call_at(
            now + length, lambda: self._attempt_over(advisor_id, claimed, result, length)
        )

    def _let_go(self, advisor_id: str, lost: LeaseLost) -> None:
        """The callback is no longer ours (the caller cancelled it meanwhile): touch it no
        more, and the advisor is free."""
        self._in_flight.pop(advisor_id, None)
        self._tell("callback.let_go", callback_id=lost.callback_id, why=str(lost))
        with self.batch.unit() as session:
            begin_wrap_up(session, self._store_ids[advisor_id], self.clock.now(), timedelta(0))
        self._backlog_stale = True
        self._after_work(advisor_id, NOT_REACHED_WRAP_UP)

    def _attempt_over(
        self, advisor_id: str, claimed: ClaimedCallback, result: AttemptResult, length: timedelta
    ) -> None:
        now = self.clock.now()
        reached = result is AttemptResult.REACHED
        with self.batch.unit() as session:
            try:
                closed = finish_attempt(
                    session,
                    claimed.callback_id,
                    claimed.attempt_no,
                    result,
                    now,
                    owner=self.owner,
                    policy=self.policy,
                    calendar=self.calendar,
                    duration_s=length.total_seconds() if reached else 0.0,
                )
            except LeaseLost as lost:
                self._let_go(advisor_id, lost)
                return
            if reached:
                coding = self.habits.coding(claimed.topic)
                record_callback_coding(
                    session, claimed.callback_id, claimed.attempt_no, coding, now
                )
        self._backlog_stale = True
        if closed.next_attempt_at is not None:
            self.loop.call_at(closed.next_attempt_at, self.dispatch_callbacks)
        elif claimed.number_e164 is not None:
            self.workload.numbers.pending.pop(claimed.number_e164, None)
        if closed.status is CallbackStatus.COMPLETED:
            self.tally.callbacks_completed += 1
        self._tell(
            "callback.attempt_ended",
            callback_id=claimed.callback_id,
            result=result.value,
            status=closed.status.value,
        )
        self._in_flight.pop(advisor_id, None)
        self._after_work(advisor_id, self.habits.wrap_up() if reached else NOT_REACHED_WRAP_UP)
