"""The console phone: play the caller against the real engine and the real store.

Prompts are printed as text, digits come from the keyboard or a script, and
the line around the caller (advisors from the staffing plan, some of them
busy) runs on a virtual clock: waiting for an advisor takes no real time,
but every announcement is printed with the time it would be heard. When the
advisor ends the talk the recommendation question may follow (``[survey]``): it
is answered with keys like the menus, ``10`` for ten.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.clock import FakeClock
from callflow.engine.commands import (
    Answer,
    Ask,
    ClearTimer,
    Command,
    ConnectAdvisor,
    EnterQueue,
    Hangup,
    LeaveQueue,
    Play,
    ReleaseAdvisor,
    SetTimer,
    StopPlayback,
)
from callflow.engine.events import (
    AdvisorConnected,
    AdvisorHungUp,
    CallArrived,
    CallerHungUp,
    DigitPressed,
    Event,
    PlaybackFinished,
    TimerFired,
)
from callflow.engine.flow import FlowContext, new_call
from callflow.engine.forecast import RotaCapacity
from callflow.engine.prompts import render_text
from callflow.engine.state import CallState, Phase
from callflow.engine.vocabulary import CallOutcome
from callflow.providers.sim.floor import SimulatedFloor
from callflow.providers.sim.loop import Scheduled, VirtualLoop
from callflow.service.calls import CallHandler, fixed
from callflow.store.callbacks import open_backlog
from callflow.store.models import CallbackRequest
from callflow.store.session import Database
from callflow.values.numbers import mask_digits, mask_numbers_in

CHARACTERS_PER_SECOND = 15
"""Speaking rate used to time prompts on the virtual clock."""
KEY_INTERVAL = timedelta(milliseconds=400)
GIVE_UP_AFTER = timedelta(hours=12)

Keys = Callable[[], str | None]
"""Where the caller's keys come from: a string of digits, "" for silence, None to hang up."""


@dataclass(frozen=True)
class PhoneResult:
    outcome: str | None
    callback: dict[str, Any] | None
    call_id: str
    survey: dict[str, Any] | None = None
    """The recommendation question, if it was asked: ``{"score": 0..10 or None}``."""

    def as_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "callback": self.callback,
            "call_id": self.call_id,
            "survey": self.survey,
        }


def scripted_keys(items: list[str]) -> Keys:
    """Keys from ``--digits``; once they run out the caller stays silent."""
    pending: Iterator[str] = iter(items)
    return lambda: next(pending, "")


class ConsolePhone:
    def __init__(
        self,
        config: HotlineConfig,
        database: Database,
        *,
        start_at: datetime,
        caller_e164: str | None,
        withheld: bool,
        busy: int,
        keys: Keys,
        out: TextIO,
        patience: timedelta,
    ) -> None:
        self.config = config
        self.database = database
        self.clock = FakeClock(start_at)
        self.loop = VirtualLoop(self.clock)
        self.calendar = Calendar.from_config(config)
        capacity = RotaCapacity(
            self.calendar, config.staffing, config.callbacks.retry.allowed_hours
        )
        self.floor = SimulatedFloor(config, capacity)
        self.handler = CallHandler(
            database,
            fixed(FlowContext(config, self.calendar, capacity)),
            self.floor,
            provider="console",
        )
        self.caller_e164 = caller_e164
        self.withheld = withheld
        self.busy = busy
        self.keys = keys
        self.out = out
        self.patience = patience
        self.state: CallState = new_call(uuid.uuid4().hex, start_at)
        self._playbacks: dict[str, Scheduled] = {}
        self._timers: dict[str, Scheduled] = {}
        self._listening: str | None = None  # playback id of the question awaiting keys
        self._patience: Scheduled | None = None

    # -- running -------------------------------------------------------------------

    def run(self) -> PhoneResult:
        self._open_line()
        try:
            self._deliver(CallArrived(self.caller_e164, self.withheld))
            give_up = self.clock.now() + GIVE_UP_AFTER
            while self.state.phase is not Phase.ENDED and self.loop.run_next():
                if self.clock.now() > give_up:
                    self._say("you", "(hang up: twelve hours is long enough)")
                    self._deliver(CallerHungUp())
        except BaseException:
            self._end_after_failure()
            raise
        return PhoneResult(
            self.state.outcome, self._callback_summary(), self.state.call_id, self._survey()
        )

    def _end_after_failure(self) -> None:
        """Whatever stopped the call midway (Ctrl-C during a wait, a failure), the caller
        hangs up, so the call's log ends like any other call's instead of staying open.
        Should that fail too (the database is gone), the first error is the one to see."""
        if self.state.phase is Phase.ENDED:
            return
        self._say("you", "(hang up: the phone stopped)")
        with contextlib.suppress(Exception):
            self._deliver(CallerHungUp())

    def _open_line(self) -> None:
        now = self.clock.now()
        staffed = self.floor.staff_from_rota(now)
        open_now = "open" if self.calendar.is_open(now) else "closed"
        self._say(
            "line",
            f"({open_now}; {len(staffed)} advisors signed in: "
            f"{', '.join(a.advisor_id for a in staffed) or 'none'})",
        )
        busy = staffed[: self.busy]
        for i, advisor in enumerate(busy):
            topic = self.floor.topic_of_skill(advisor.skill)
            handle = self.floor.mean_handle(topic) if topic else timedelta(minutes=5)
            # As if each had picked up a call at a random moment: spread over one handle time.
            advisor.busy_until = now + handle * (i + 1) / (len(busy) + 1)
            self.loop.call_at(
                advisor.busy_until, functools.partial(self._freed, advisor.advisor_id)
            )
            self._say(
                "line",
                f"({advisor.advisor_id} is on a call until {self._clock_text(advisor.busy_until)})",
            )

    # -- events in --------------------------------------------------------------------

    def _deliver(self, event: Event) -> None:
        if self.state.phase is Phase.ENDED:
            return
        with self.database.reading() as session:
            self.floor.backlog = open_backlog(session)
        for command in self.handler.handle(self.state, event, self.clock.now()):
            self._carry_out(command)

    def _freed(self, advisor_id: str) -> None:
        advisor = self.floor.advisors[advisor_id]
        if advisor.serving is not None:
            return
        self.floor.release(advisor_id, self.clock.now())
        self._say("line", f"({advisor_id} is free)")
        self._connect_waiting()

    def _connect_waiting(self) -> None:
        for call_id, advisor_id in self.floor.match():
            if call_id == self.state.call_id:
                self._say("line", f"({advisor_id} answers)")
                self._deliver(AdvisorConnected(advisor_id))

    def _listen(self, playback_id: str) -> None:
        """The question has been heard; the caller answers, or not."""
        if self._listening != playback_id or self.state.phase is Phase.ENDED:
            return
        keys = self.keys()
        if keys is None:
            self._say("you", "(hang up)")
            self._deliver(CallerHungUp())
            return
        if not keys:
            self._say("you", "(silence)")
            return
        self._say("you", f"press {mask_digits(keys) if len(keys) > 6 else keys}")
        # Each key is an event of its own, KEY_INTERVAL after the one before, on the loop
        # like everything else: what the first key sets off (a prompt, a queue) starts
        # before the second key arrives, as on a real phone, and the clock only goes on.
        now = self.clock.now()
        for n, digit in enumerate(keys, start=1):
            self.loop.call_at(
                now + KEY_INTERVAL * n, functools.partial(self._deliver, DigitPressed(digit))
            )

    # -- commands out -------------------------------------------------------------------

    def _carry_out(self, command: Command) -> None:
        now = self.clock.now()
        if isinstance(command, Answer):
            self._say("line", "(answers the call)")
        elif isinstance(command, Play | Ask):
            self._speak(command)
        elif isinstance(command, StopPlayback):
            self._cancel(self._playbacks.pop(command.playback_id, None))
        elif isinstance(command, SetTimer):
            self._cancel(self._timers.get(command.name))
            event = TimerFired(command.name, command.at)
            self._timers[command.name] = self.loop.call_at(command.at, lambda: self._deliver(event))
        elif isinstance(command, ClearTimer):
            self._cancel(self._timers.pop(command.name, None))
        elif isinstance(command, EnterQueue):
            self.floor.enqueue(
                self.state.call_id, command.topic, command.language, command.entered_at
            )
            self._say("line", f"(waiting in the {command.topic} queue; music)")
            self._patience = self.loop.call_at(now + self.patience, self._lose_patience)
            # Match after this step's remaining commands are carried out, not in the middle.
            self.loop.call_at(now, self._connect_waiting)
        elif isinstance(command, LeaveQueue):
            self.floor.dequeue(self.state.call_id, command.topic)
            self._cancel(self._patience)
        elif isinstance(command, ConnectAdvisor):
            self._cancel(self._patience)
            self._talk(command.advisor_id)
        elif isinstance(command, ReleaseAdvisor):
            self.floor.release(command.advisor_id, now)
        elif isinstance(command, Hangup):
            self._say("line", f"(hangs up: {command.reason})")

    def _speak(self, command: Play | Ask) -> None:
        if not command.prompts:
            return  # a wait for more keys of the same answer (the 0 of ten): nothing to hear
        text = " ".join(render_text(p, self.config) for p in command.prompts)
        self._say("line", mask_numbers_in(text))
        pid = command.playback_id
        self._listening = pid if isinstance(command, Ask) else None
        finished_at = self.clock.now() + timedelta(seconds=len(text) / CHARACTERS_PER_SECOND)

        def finished() -> None:
            self._playbacks.pop(pid, None)
            self._deliver(PlaybackFinished(pid))
            if isinstance(command, Ask):
                self._listen(pid)

        self._playbacks[pid] = self.loop.call_at(finished_at, finished)

    def _talk(self, advisor_id: str) -> None:
        topic = self.state.topic
        assert topic is not None
        handle = self.floor.mean_handle(topic)
        self._say("line", f"(talking with {advisor_id})")

        def done() -> None:
            self.floor.record_handle(topic, handle)
            self.floor.release(advisor_id, self.clock.now())
            self._say("line", f"({advisor_id} ends the call)")
            self._deliver(AdvisorHungUp())

        self.loop.call_at(self.clock.now() + handle, done)

    def _lose_patience(self) -> None:
        if self.state.in_queue:
            self._say("you", "(hang up: waited long enough)")
            self._deliver(CallerHungUp())

    @staticmethod
    def _cancel(entry: Scheduled | None) -> None:
        if entry is not None:
            entry.cancel()

    # -- output -------------------------------------------------------------------------

    def _clock_text(self, at: datetime) -> str:
        return self.calendar.local(at).strftime("%H:%M:%S")

    def _say(self, who: str, text: str) -> None:
        self.out.write(f"[{self._clock_text(self.clock.now())}] {who:>4}: {text}\n")
        self.out.flush()

    def _survey(self) -> dict[str, Any] | None:
        asking = self.state.survey
        if asking is None or asking.survey_id is None:
            return None
        return {"score": asking.score}

    def _callback_summary(self) -> dict[str, Any] | None:
        callback_id = self.state.callback_id
        if callback_id is None and self.state.outcome == CallOutcome.CALLBACK_KEPT:
            callback_id = self.state.existing.callback_id if self.state.existing else None
        if callback_id is None:
            return None
        with self.database.transaction() as session:
            request = session.get(CallbackRequest, callback_id)
            assert request is not None
            return {
                "id": request.id,
                "status": request.status.value,
                "number": mask_digits(request.number_e164 or ""),
                "topic": request.topic,
                "language": request.language,
                "requested_at": request.requested_at.isoformat(),
                "queue_entered_at": request.queue_entered_at.isoformat(),
                "not_before": request.not_before.isoformat(),
                "expected_at": request.expected_at.isoformat(),
                "due_at": request.due_at.isoformat(),
                "deadline_class": request.deadline_class,
            }
