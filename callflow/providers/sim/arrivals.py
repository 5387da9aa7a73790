"""The simulated callers: each arrives, is stepped through the real engine, waits in its
queue and talks to the advisor the matcher gives it.

This is the :class:`~callflow.providers.sim.calls.Switchboard` the calls act on: an event
goes through :class:`~callflow.service.calls.CallHandler` like a provider's, and the
commands that come back are carried out on the virtual loop. A caller who takes a callback
leaves it to :mod:`.callbacks`; an advisor done with a call is handed back to
:mod:`.shifts`, a person at the desk to :mod:`.desk` (they code the call themselves).
"""

from __future__ import annotations

from collections.abc import Callable

from callflow.engine.commands import EnterQueue
from callflow.engine.events import AdvisorConnected, AdvisorHungUp, CallArrived, Event
from callflow.engine.flow import new_call
from callflow.engine.vocabulary import CallOutcome
from callflow.providers.sim.callbacks import Callbacks
from callflow.providers.sim.calls import SimulatedCall, Speech, carry_out, end_of
from callflow.providers.sim.desk import Desk
from callflow.providers.sim.respondents import survey_keys
from callflow.providers.sim.shifts import Shifts
from callflow.providers.sim.stage import Stage
from callflow.providers.sim.workload import Caller
from callflow.service.calls import CallHandler
from callflow.store.advisors import LegEnd
from callflow.store.calls import BufferedJournal
from callflow.store.outcomes import call_coding_row


class Arrivals:
    """Callers on the line, by call id, from arrival to hang-up."""

    def __init__(
        self,
        stage: Stage,
        handler: CallHandler,
        journal: BufferedJournal,
        shifts: Shifts,
        callbacks: Callbacks,
        desk: Desk,
        *,
        run_id: str,
    ) -> None:
        self.stage = stage
        self.config = stage.config
        self.loop = stage.loop
        self.speech = Speech(stage.config)
        self.handler = handler
        self.journal = journal
        self.shifts = shifts
        self.callbacks = callbacks
        self.desk = desk
        self.run_id = run_id
        """Call ids start with this: runs into one database never collide."""
        self.calls: dict[str, SimulatedCall] = {}
        self._typed: dict[str, str] = {}
        self.on_arrival: Callable[[], None] | None = None
        """Called once per arriving caller (a progress bar)."""

    def arrive(self, caller: Caller) -> None:
        stage = self.stage
        call_id = f"{self.run_id}{stage.rng.getrandbits(128):032x}"[:32]
        call = SimulatedCall(new_call(call_id, stage.clock.now()), caller)
        self.calls[call_id] = call
        stage.tally.arrived += 1
        number = stage.workload.number_of(caller)
        stage.tell("call.arrived", call_id=call_id, number=number)
        if self.on_arrival is not None:
            self.on_arrival()
        self.deliver(call, CallArrived(number, withheld=caller.withheld))

    def deliver(self, call: SimulatedCall, event: Event) -> None:
        if call.ended:
            return
        stage = self.stage
        self.callbacks.refresh_backlog()
        had_callback = call.state.callback_id
        had_answered = call.state.survey is not None and call.state.survey.score is not None
        for command in self.handler.handle(call.state, event, stage.clock.now()):
            carry_out(self, call, command)
        state = call.state
        if not had_answered and state.survey is not None and state.survey.score is not None:
            stage.tally.surveys_answered += 1
        if state.callback_id is not None and had_callback is None:
            stage.tally.callbacks_requested += 1
            if state.callback_number is not None:
                stage.workload.numbers.pending[state.callback_number] = state.callback_id
            stage.tell("callback.requested", call_id=state.call_id, topic=state.topic)
        if call.ended:
            end_of(call)
            del self.calls[state.call_id]
            self._typed.pop(state.call_id, None)
            self._count_end(call)

    def _count_end(self, call: SimulatedCall) -> None:
        outcome = call.state.outcome
        if outcome in (CallOutcome.ABANDONED_IVR, CallOutcome.ABANDONED_QUEUE):
            self.stage.tally.abandoned += 1
            self.stage.tell("call.abandoned", call_id=call.state.call_id, outcome=outcome)

    def typed_number(self, call: SimulatedCall) -> str:
        """The number a caller keys in: their own, the same every time they are asked."""
        number = self._typed.get(call.state.call_id)
        if number is None:
            number = self.stage.workload.numbers.new_number()
            self._typed[call.state.call_id] = number
        return "0" + number.removeprefix("+358")

    def survey_answer(self) -> str | None:
        """What a caller asked the recommendation question keys, or None: they hang up."""
        return survey_keys(self.stage.rng, self.config.simulation)

    def queued(self, call: SimulatedCall, command: EnterQueue) -> None:
        stage = self.stage
        stage.floor.enqueue(call.state.call_id, command.topic, command.language, command.entered_at)
        stage.loop.call_at(stage.clock.now(), self.connect_waiting)

    def unqueued(self, call: SimulatedCall, topic: str) -> None:
        self.stage.floor.dequeue(call.state.call_id, topic)

    def connect_waiting(self) -> None:
        """Put the callers the matcher pairs through to their advisors (or the people at
        the desk)."""
        for call_id, advisor_id in self.stage.floor.match(self.desk):
            call = self.calls.get(call_id)
            if call is None:
                self.release(advisor_id)
                continue
            self.deliver(call, AdvisorConnected(advisor_id))

    def talk(self, call: SimulatedCall, advisor_id: str) -> None:
        stage = self.stage
        state = call.state
        assert state.topic is not None
        topic, language = state.topic, state.language
        handle = stage.habits.handle_time(topic)
        stage.tally.answered += 1
        if not self.desk.is_person(advisor_id):  # a person was made busy as they were taken
            self.shifts.talking(advisor_id, state.call_id)
        stage.tell("call.answered", call_id=state.call_id, advisor=advisor_id, topic=topic)

        def hang_up() -> None:
            now = stage.clock.now()
            stage.floor.record_handle(topic, handle)
            if self.desk.is_person(advisor_id):
                self.deliver(call, AdvisorHungUp())
                self.desk.leg_ended(advisor_id, LegEnd.TALKED)
                return
            coding = stage.habits.coding(topic)
            self.journal.log(
                [call_coding_row(state.call_id, topic, language, coding, advisor_id, now)]
            )
            self.deliver(call, AdvisorHungUp())
            self.shifts.after_work(advisor_id, stage.habits.wrap_up())

        stage.loop.call_at(stage.clock.now() + handle, hang_up)

    def release(self, advisor_id: str) -> None:
        """An advisor offered a call that had just ended is free at once."""
        if self.desk.is_person(advisor_id):
            self.desk.leg_ended(advisor_id, LegEnd.ENDED)
        else:
            self.shifts.free(advisor_id)
