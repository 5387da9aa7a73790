"""The recommendation question on a simulated callback's resident leg.

A reached resident's talk ends with the advisor hanging up first; where
:func:`~callflow.engine.survey.applies` says so, the resident stays on the line
and hears the question, run by the engine's machine as every dialler runs it
(:mod:`callflow.engine.survey`): its store commands answered in the simulation's
batch by :func:`~callflow.service.surveys.carry_out_survey`, its log entries
appended under the callback, its prompts timed and its timer set on the virtual
loop. The resident answers by :mod:`.respondents`, as an inbound caller does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta

from callflow.engine import survey
from callflow.engine.commands import (
    Ask,
    ClearTimer,
    Command,
    Play,
    SetTimer,
    StopPlayback,
)
from callflow.engine.events import CallerHungUp, DigitPressed, Event, PlaybackFinished, TimerFired
from callflow.engine.survey import SurveyState
from callflow.providers.sim.calls import KEY_INTERVAL, THINKING, Speech
from callflow.providers.sim.loop import Scheduled
from callflow.providers.sim.respondents import survey_keys
from callflow.providers.sim.stage import Stage
from callflow.service.surveys import callback_channel, settle_in
from callflow.store.claims import ClaimedCallback


def ask_after_callback(stage: Stage, speech: Speech, claimed: ClaimedCallback) -> None:
    """The advisor of a reached callback has hung up: the question, if it applies."""
    key = survey.contact_key(callback_id=claimed.callback_id)
    if not survey.applies(stage.config.survey, key):
        return
    now = stage.clock.now()
    with stage.batch.unit() as session:
        channel = callback_channel(session, claimed.callback_id)
    state, commands = survey.begin(
        channel=channel,
        language=claimed.language,
        topic=claimed.topic,
        number_e164=claimed.number_e164,
        now=now,
        calendar=stage.calendar,
        callback_id=claimed.callback_id,
    )
    LegSurvey(stage, speech, state).carry_out(commands)


class LegSurvey:
    """One resident's question, from the look-up to the hang-up."""

    def __init__(self, stage: Stage, speech: Speech, state: SurveyState) -> None:
        self.stage = stage
        self.speech = speech
        self.state = state
        self._scheduled: dict[str, Scheduled] = {}
        """Playbacks being said (by id) and the machine's timer (by its name)."""

    def handle(self, event: Event) -> None:
        """Step the machine with what happened on the resident's leg."""
        if self.state.done:
            return
        now = self.stage.clock.now()
        answered = self.state.score is not None  # the step below may answer it
        commands = survey.step(self.state, event, now, self.stage.config.survey)
        self.carry_out(commands, answered_before=answered)

    def carry_out(self, commands: list[Command], *, answered_before: bool = False) -> None:
        """The store's part in one unit of the batch, then the leg's on the loop; when
        the machine is done, the leg is hung up and nothing more happens on it.
        *answered_before*: whether the question had its answer before the step that gave
        *commands* (an answer is counted in the day's tally once)."""
        stage, state = self.stage, self.state
        with stage.batch.unit() as session:
            media = settle_in(session, state, commands, stage.clock.now(), stage.config.survey)
        if not answered_before and state.score is not None:
            stage.tally.surveys_answered += 1
        for command in media:
            self._on_the_leg(command)
        if state.done:
            for entry in self._scheduled.values():
                entry.cancel()
            self._scheduled.clear()

    def _on_the_leg(self, command: Command) -> None:
        stage = self.stage
        now = stage.clock.now()
        if isinstance(command, Play | Ask):
            length = sum((self.speech.length(p) for p in command.prompts), timedelta())
            is_question = isinstance(command, Ask) and bool(command.prompts)
            heard = functools.partial(self._heard, command.playback_id, is_question)
            self._later(command.playback_id, now + length, heard)
        elif isinstance(command, StopPlayback):
            self._cancel(command.playback_id)
        elif isinstance(command, SetTimer):
            fired = TimerFired(command.name, command.at)
            self._later(command.name, command.at, functools.partial(self.handle, fired))
        elif isinstance(command, ClearTimer):
            self._cancel(command.name)

    def _heard(self, playback_id: str, is_question: bool) -> None:
        self._scheduled.pop(playback_id, None)
        self.handle(PlaybackFinished(playback_id))
        if is_question:
            self.stage.loop.call_at(self.stage.clock.now() + THINKING, self._answer)

    def _answer(self) -> None:
        """The resident keys an answer, or hangs up (:mod:`.respondents`)."""
        if self.state.stage is not survey.Stage.ASKING:
            return
        stage = self.stage
        keys = survey_keys(stage.rng, stage.config.simulation)
        if keys is None:
            self.handle(CallerHungUp())
            return
        now = stage.clock.now()
        for i, key in enumerate(keys):
            stage.loop.call_at(
                now + KEY_INTERVAL * i, functools.partial(self.handle, DigitPressed(key))
            )

    def _later(self, name: str, at: datetime, action: Callable[[], None]) -> None:
        self._cancel(name)
        self._scheduled[name] = self.stage.loop.call_at(at, action)

    def _cancel(self, name: str) -> None:
        entry = self._scheduled.pop(name, None)
        if entry is not None:
            entry.cancel()
