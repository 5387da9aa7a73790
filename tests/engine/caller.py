"""Driving one call through the pure engine, as a provider would, with a scripted store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.commands import (
    Ask,
    CancelCallback,
    Command,
    ConnectAdvisor,
    EnterQueue,
    Hangup,
    LeaveQueue,
    LookUpPendingCallback,
    LookUpQueue,
    LookUpSurveyed,
    OpenSurvey,
    Play,
    Record,
    StoreCallback,
    StoreSurveyAnswer,
)
from callflow.engine.events import (
    AdvisorConnected,
    AdvisorHungUp,
    CallArrived,
    CallbackCancelled,
    CallbackRejected,
    CallbackStored,
    CallerHungUp,
    DigitPressed,
    Event,
    ExistingCallback,
    PendingCallbackLookedUp,
    PlaybackFinished,
    QueueLookedUp,
    RulesChanged,
    SurveyLookedUp,
    SurveyOpened,
    TimerFired,
)
from callflow.engine.flow import FlowContext, new_call, step
from callflow.engine.prompts import PromptRef, render_text
from callflow.engine.state import CallState, Phase
from callflow.engine.vocabulary import EventKind
from tests.fakes.queue import FakeQueue


@dataclass
class Caller:
    """One caller; every command is kept, store commands are answered as the test says."""

    config: HotlineConfig
    calendar: Calendar
    queue: FakeQueue
    now: datetime
    existing: ExistingCallback | None = None
    reject_store_with: ExistingCallback | None = None
    state: CallState = field(init=False)
    commands: list[Command] = field(default_factory=list)
    stored: list[StoreCallback] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    queued: bool = False
    surveyed_today: set[str] = field(default_factory=set)
    """Numbers the scripted store says were asked the survey question today."""
    surveys: list[OpenSurvey] = field(default_factory=list)
    survey_answers: list[StoreSurveyAnswer] = field(default_factory=list)
    answers_queue: bool = True
    """Answer ``LookUpQueue`` at once, as every shell does; False leaves the question open,
    for a test to answer (or not) itself."""

    def __post_init__(self) -> None:
        self.state = new_call("call-1", self.now)
        self.context = FlowContext(self.config, self.calendar, self.queue)

    # -- the caller's side ---------------------------------------------------------------

    def dial(self, caller_e164: str | None = None, withheld: bool = False) -> Caller:
        self.send(CallArrived(caller_e164, withheld))
        return self

    def send(self, event: Event) -> list[Command]:
        out = step(self.state, event, self.now, self.context)
        self.commands.extend(out)
        followed = list(out)
        for command in out:
            answer = self._answer(command)
            if answer is not None:
                followed += self.send(answer)
        return followed

    def listen(self) -> Caller:
        """Hear the current prompt out."""
        if self.state.playback is not None:
            self.later(timedelta(seconds=5))
            self.send(PlaybackFinished(self.state.playback))
        return self

    def press(self, keys: str) -> Caller:
        """Hear the prompt out, then press *keys*."""
        self.listen()
        for key in keys:
            self.later(timedelta(milliseconds=300))
            self.send(DigitPressed(key))
        return self

    def barge_in(self, keys: str) -> Caller:
        """Press *keys* while the prompt is still playing."""
        for key in keys:
            self.send(DigitPressed(key))
        return self

    def stay_silent(self) -> Caller:
        """Hear the prompt, then let the input timer run out."""
        self.listen()
        assert self.state.input_at is not None, "nothing is waiting for input"
        self.now = self.state.input_at
        self.send(TimerFired("input", self.state.input_at))
        return self

    def fire(self, name: str) -> Caller:
        at = getattr(self.state, f"{name}_at")
        assert at is not None, f"no {name} timer set"
        self.now = at
        self.send(TimerFired(name, at))
        return self

    def hang_up(self) -> Caller:
        self.send(CallerHungUp())
        return self

    def dropped_by_the_exchange(self) -> Caller:
        """The line is lost to a fault of the exchange or the carrier, not the caller."""
        self.send(CallerHungUp(dropped=True))
        return self

    def advisor_answers(self, advisor_id: str = "nurse-1") -> Caller:
        self.send(AdvisorConnected(advisor_id))
        return self

    def advisor_hangs_up(self, *, dropped: bool = False) -> Caller:
        self.send(AdvisorHungUp(dropped=dropped))
        return self

    def later(self, delta: timedelta) -> None:
        self.now += delta

    # -- the line's side -----------------------------------------------------------------

    def rules_become(self, config: HotlineConfig, *, told: bool = True) -> Caller:
        """The line's rules change to *config*'s (a stored setting, a reloaded file); *told*:
        the call hears of it at once, as a shell tells its queued callers. Untold, the call
        takes its next decision under them all the same."""
        self.config = config
        self.calendar = Calendar.from_config(config)
        self.queue.calendar = self.calendar
        self.context = FlowContext(config, self.calendar, self.queue, self.context.version + 1)
        if told:
            self.send(RulesChanged())
        return self

    # -- what happened -----------------------------------------------------------------

    def heard(self) -> list[str]:
        """Keys of every prompt played or asked, in order."""
        return [p.key for c in self.commands if isinstance(c, Play | Ask) for p in c.prompts]

    def last_prompts(self) -> list[PromptRef]:
        said = [c for c in self.commands if isinstance(c, Play | Ask)]
        return list(said[-1].prompts) if said else []

    def last_text(self) -> str:
        return " ".join(render_text(p, self.config) for p in self.last_prompts())

    def records(self, kind: EventKind | None = None) -> list[Record]:
        return [
            c for c in self.commands if isinstance(c, Record) and (kind is None or c.kind is kind)
        ]

    def record_data(self, kind: EventKind) -> dict[str, Any]:
        found = self.records(kind)
        assert len(found) == 1, f"{kind}: {found}"
        return found[0].data

    @property
    def ended(self) -> bool:
        return self.state.phase is Phase.ENDED

    @property
    def hung_up_by_line(self) -> bool:
        return any(isinstance(c, Hangup) for c in self.commands)

    # -- the store's and the queue's side -------------------------------------------------

    def _answer(self, command: Command) -> Event | None:
        if isinstance(command, LookUpPendingCallback):
            return PendingCallbackLookedUp(self.existing)
        if isinstance(command, LookUpQueue):
            if not self.answers_queue:
                return None
            return QueueLookedUp(self.queue.snapshot(None, self.state.call_id, command, self.now))
        if isinstance(command, StoreCallback):
            if self.reject_store_with is not None:
                existing, self.reject_store_with = self.reject_store_with, None
                return CallbackRejected(existing)
            self.stored.append(command)
            return CallbackStored(100 + len(self.stored), command.due_at)
        if isinstance(command, CancelCallback):
            self.cancelled.append(command.callback_id)
            return CallbackCancelled(command.callback_id)
        if isinstance(command, LookUpSurveyed):
            return SurveyLookedUp(command.number_e164 in self.surveyed_today)
        if isinstance(command, OpenSurvey):
            self.surveys.append(command)
            return SurveyOpened(len(self.surveys))
        if isinstance(command, StoreSurveyAnswer):
            self.survey_answers.append(command)
        if isinstance(command, EnterQueue):
            self.queued = True
        elif isinstance(command, LeaveQueue | ConnectAdvisor):
            self.queued = False
        return None
