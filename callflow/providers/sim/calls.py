"""One simulated caller on the line: the engine's commands carried out, the caller's answers given.

Prompts take the time it takes to say them; a caller answers a question a
moment after hearing it, waits in the queue until an advisor is free or
their patience runs out, and takes or declines a callback by habit. All of
it happens on the simulation's virtual loop, never in real time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from callflow.config.models import HotlineConfig
from callflow.engine import survey
from callflow.engine.commands import (
    Ask,
    ClearTimer,
    Command,
    ConnectAdvisor,
    EnterQueue,
    LeaveQueue,
    Play,
    ReleaseAdvisor,
    SetTimer,
    StopPlayback,
)
from callflow.engine.events import CallerHungUp, DigitPressed, Event, PlaybackFinished, TimerFired
from callflow.engine.memo import Memo
from callflow.engine.prompts import PromptRef, render_text
from callflow.engine.state import CallState, Menu, Phase
from callflow.providers.sim.loop import Scheduled, VirtualLoop
from callflow.providers.sim.workload import Caller

CHARACTERS_PER_SECOND = 15
"""Speaking rate used to time prompts."""
REMEMBERED_PROMPTS = 4096
"""Prompt lengths kept: every position, wait and callback time a day's callers hear."""
THINKING = timedelta(seconds=1.5)
"""How long after a question a caller presses a key (under every input timeout)."""
KEY_INTERVAL = timedelta(milliseconds=300)
WRONG_NUMBER_ENTRY = "12345"
"""What a caller who mistypes their number enters first: too short to be a number."""


class Switchboard(Protocol):
    """What a call needs from the simulation around it: the virtual loop, events
    delivered to the engine, the queues, and the advisors it talks to."""

    config: HotlineConfig
    loop: VirtualLoop
    speech: Speech

    def deliver(self, call: SimulatedCall, event: Event) -> None: ...
    def queued(self, call: SimulatedCall, command: EnterQueue) -> None: ...
    def unqueued(self, call: SimulatedCall, topic: str) -> None: ...
    def talk(self, call: SimulatedCall, advisor_id: str) -> None: ...
    def release(self, advisor_id: str) -> None: ...
    def typed_number(self, call: SimulatedCall) -> str: ...
    def survey_answer(self) -> str | None: ...


@dataclass
class SimulatedCall:
    state: CallState
    caller: Caller
    timers: dict[str, Scheduled] = field(default_factory=dict)
    playbacks: dict[str, Scheduled] = field(default_factory=dict)
    patience: Scheduled | None = None
    mistakes_left: int = 1
    menus_heard: int = 0

    @property
    def ended(self) -> bool:
        return self.state.phase is Phase.ENDED


class Speech:
    """How long saying a prompt takes, measured once per prompt and its values: callers
    hear the same positions, waits and times again and again."""

    def __init__(self, config: HotlineConfig) -> None:
        self.config = config
        self._lengths: Memo[PromptRef, timedelta] = Memo(REMEMBERED_PROMPTS)

    def length(self, prompt: PromptRef) -> timedelta:
        known = self._lengths.get(prompt)
        if known is None:
            said = render_text(prompt, self.config)
            known = self._lengths.keep(prompt, timedelta(seconds=len(said) / CHARACTERS_PER_SECOND))
        return known


def carry_out(switchboard: Switchboard, call: SimulatedCall, command: Command) -> None:
    """Do what the engine asked, on the virtual loop."""
    loop = switchboard.loop
    if isinstance(command, Play | Ask):
        _speak(switchboard, call, command)
    elif isinstance(command, StopPlayback):
        _cancel(call.playbacks.pop(command.playback_id, None))
    elif isinstance(command, SetTimer):
        _cancel(call.timers.get(command.name))
        fired = TimerFired(command.name, command.at)
        call.timers[command.name] = loop.call_at(
            command.at, lambda: switchboard.deliver(call, fired)
        )
    elif isinstance(command, ClearTimer):
        _cancel(call.timers.pop(command.name, None))
    elif isinstance(command, EnterQueue):
        if call.patience is None:
            call.patience = loop.call_at(
                command.entered_at + call.caller.patience, lambda: _lose_patience(switchboard, call)
            )
        switchboard.queued(call, command)
    elif isinstance(command, LeaveQueue):
        switchboard.unqueued(call, command.topic)
    elif isinstance(command, ConnectAdvisor):
        _cancel(call.patience)
        switchboard.talk(call, command.advisor_id)
    elif isinstance(command, ReleaseAdvisor):
        switchboard.release(command.advisor_id)
    # Answer and Hangup need nothing on a simulated line.


def _speak(switchboard: Switchboard, call: SimulatedCall, command: Play | Ask) -> None:
    length = sum((switchboard.speech.length(p) for p in command.prompts), timedelta())
    pid = command.playback_id
    finished = PlaybackFinished(pid)

    def heard() -> None:
        call.playbacks.pop(pid, None)
        switchboard.deliver(call, finished)
        if isinstance(command, Ask):
            switchboard.loop.call_at(
                switchboard.loop.clock.now() + THINKING, lambda: _answer(switchboard, call)
            )

    call.playbacks[pid] = switchboard.loop.call_at(switchboard.loop.clock.now() + length, heard)


def _answer(switchboard: Switchboard, call: SimulatedCall) -> None:
    """The caller answers the question they are being asked now, if any."""
    state, caller = call.state, call.caller
    if state.phase is Phase.SURVEY:
        _answer_survey(switchboard, call)
        return
    menu = state.menu
    if call.ended or menu is None:
        return
    call.menus_heard += 1
    if caller.hangs_up_in_menu and menu in (Menu.LANGUAGE, Menu.TOPIC):
        switchboard.deliver(call, CallerHungUp())
        return
    keys = _keys_for(switchboard, call, menu)
    _press(switchboard, call, keys)


def _answer_survey(switchboard: Switchboard, call: SimulatedCall) -> None:
    """The advisor hung up first and the recommendation question was heard: the caller
    keys an answer or hangs up (:mod:`.respondents`). Only the question itself is
    answered: the silent wait for the 0 of ten, also an ``Ask``, is not a new question."""
    asking = call.state.survey
    if asking is None or asking.stage is not survey.Stage.ASKING:
        return
    keys = switchboard.survey_answer()
    if keys is None:
        switchboard.deliver(call, CallerHungUp())
    else:
        _press(switchboard, call, keys)


def _keys_for(switchboard: Switchboard, call: SimulatedCall, menu: Menu) -> str:
    config, caller = switchboard.config, call.caller
    mistake = caller.wrong_key and call.mistakes_left > 0
    if mistake:
        call.mistakes_left -= 1
    if menu is Menu.LANGUAGE:
        return "9" if mistake else str(config.languages[caller.language].digit)
    if menu is Menu.TOPIC:
        return "9" if mistake else str(config.queues[caller.topic].digit)
    if menu is Menu.PENDING:
        return "1" if caller.keeps_pending else "2"
    if menu is Menu.OFFER:
        return "1" if caller.takes_callback else "2"
    if menu is Menu.READBACK:
        return "1"
    digits = WRONG_NUMBER_ENTRY if mistake else switchboard.typed_number(call)
    return digits + "#"


def _press(switchboard: Switchboard, call: SimulatedCall, keys: str) -> None:
    now = switchboard.loop.clock.now()
    for i, key in enumerate(keys):
        pressed = DigitPressed(key)
        deliver: Callable[[], None] = functools.partial(switchboard.deliver, call, pressed)
        switchboard.loop.call_at(now + KEY_INTERVAL * i, deliver)


def _lose_patience(switchboard: Switchboard, call: SimulatedCall) -> None:
    if call.state.in_queue:
        switchboard.deliver(call, CallerHungUp())


def _cancel(entry: Scheduled | None) -> None:
    if entry is not None:
        entry.cancel()


def end_of(call: SimulatedCall) -> None:
    """Cancel everything still scheduled for a call that is over."""
    for entry in (*call.timers.values(), *call.playbacks.values(), call.patience):
        _cancel(entry)
    call.timers.clear()
    call.playbacks.clear()
