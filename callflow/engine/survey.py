"""The recommendation question (NPS), asked once a contact is over: the rule, once.

Who is asked (:func:`applies`): the survey is on, the contact falls in ``[survey]
share`` by a stable hash of its key (a call's id, or ``callback:<id>``: the same
answer on every run and in every process), and the conversation was not dropped
(the exchange lost a leg: nobody chose to end it, and a resident cut off is not
asked how they liked it). A number asked since the start of the line's local
day is not asked again: that needs the store, so the machine asks for it
(``LookUpSurveyed`` → ``SurveyLookedUp``). A withheld number cannot be checked;
it is asked all the same, as nothing about it is kept to ask twice.

The answer, keyed after "Press 0 to 10 — 1 then 0 for ten — or hang up":

- a first key 0 or 2–9 is the answer at once (it may cut the question short);
- a 1 waits ``ten_timeout`` for a 0, which makes it 10; silence, or any other key
  (``#``, ``*``, another digit), leaves the answer 1 at once: the resident has
  keyed a whole answer, and a second key that is not the 0 of ten is taken as
  "that's it" rather than guessed at; a hang-up while waiting keeps the 1 too;
- ``*`` and ``#`` as a first key are no answer and are ignored;
- silence for ``answer_timeout`` after the question ends it without an answer
  (goodbye), as does a hang-up at any point before an answer.

After an answer the resident hears ``survey_thanks``. The question's row is
opened when it is asked (``OpenSurvey`` → ``SurveyOpened``), so a hang-up counts
as asked but unanswered; an answer is stored with ``StoreSurveyAnswer``.

The machine (:class:`SurveyState`, :func:`begin`, :func:`step`) is the same for
an inbound call, whose flow hands it the caller once the advisor has hung up,
and for a callback's resident leg, run by a dialler: commands out, events in,
and ``state.done`` when the host should hang up (unless the resident already
has). Its one timer is :data:`SURVEY_TIMER`; its playbacks are ``survey<n>``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from callflow.config.models import SurveyConfig
from callflow.engine.calendar import Calendar
from callflow.engine.commands import (
    Ask,
    ClearTimer,
    Command,
    LookUpSurveyed,
    OpenSurvey,
    Play,
    Record,
    SetTimer,
    StopPlayback,
    StoreSurveyAnswer,
)
from callflow.engine.events import (
    CallerHungUp,
    DigitPressed,
    Event,
    PlaybackFinished,
    SurveyLookedUp,
    SurveyOpened,
    TimerFired,
)
from callflow.engine.prompts import PromptRef
from callflow.engine.vocabulary import Channel, EventKind

SURVEY_TIMER = "survey"
"""The machine's one timer: the answer's timeout, then the wait for the 0 of ten."""

ANSWERS = frozenset("023456789")
"""First keys that are the answer at once (1 may be the start of 10)."""

KEYS = frozenset("0123456789*#")


def contact_key(*, call_id: str | None = None, callback_id: int | None = None) -> str:
    """The key a contact's share is drawn by: its call's id, or ``callback:<id>``."""
    if callback_id is not None:
        return f"callback:{callback_id}"
    assert call_id is not None, "a contact is a call or a callback"
    return call_id


def share_point(key: str) -> float:
    """Where *key* falls in [0, 1): a hash, so every process and run agrees (Python's
    own ``hash`` of a string changes with each process)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def applies(config: SurveyConfig, key: str, *, dropped: bool = False) -> bool:
    """Whether the contact *key* may be asked: the survey on, the contact in its share,
    the conversation not *dropped*. (The once-a-day rule is the machine's first step.)"""
    return config.enabled and not dropped and share_point(key) < config.share


class Stage(StrEnum):
    LOOKING_UP = "looking_up"  # asked the store whether the number was asked today
    OPENING = "opening"  # asked the store to open the question's row
    ASKING = "asking"  # the question said, or being said: waiting for a first key
    TEN = "ten"  # a 1 heard: a 0 makes it ten
    THANKING = "thanking"  # thanks or goodbye being said
    DONE = "done"


@dataclass(slots=True)
class SurveyState:
    """One contact's question, from the look-up to the last word; JSON-ready through
    :meth:`to_dict` / :meth:`from_dict`, so it is kept wherever the host keeps its state."""

    channel: Channel
    language: str
    topic: str | None
    number_e164: str | None
    call_id: str | None = None
    callback_id: int | None = None
    stage: Stage = Stage.LOOKING_UP
    survey_id: int | None = None
    playback: str | None = None
    playback_seq: int = 0
    timer_at: datetime | None = None
    score: int | None = None

    @property
    def done(self) -> bool:
        """Over: the host hangs up now (if the resident has not)."""
        return self.stage is Stage.DONE

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["channel"] = self.channel.value
        out["stage"] = self.stage.value
        if self.timer_at is not None:
            out["timer_at"] = self.timer_at.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SurveyState:
        values = dict(data)
        values["channel"] = Channel(values["channel"])
        values["stage"] = Stage(values["stage"])
        if values.get("timer_at") is not None:
            values["timer_at"] = datetime.fromisoformat(values["timer_at"])
        return cls(**values)


def begin(
    *,
    channel: Channel,
    language: str,
    topic: str | None,
    number_e164: str | None,
    now: datetime,
    calendar: Calendar,
    call_id: str | None = None,
    callback_id: int | None = None,
) -> tuple[SurveyState, list[Command]]:
    """Start the question for a contact :func:`applies` allows: first whether its number
    was asked today (the line's calendar day), straight to opening the row if withheld."""
    state = SurveyState(channel, language, topic, number_e164, call_id, callback_id)
    if number_e164 is None:
        return state, _open(state, now)
    since = calendar.at_minute(calendar.local_date(now), 0)
    return state, [LookUpSurveyed(number_e164, since, callback_id)]


def step(state: SurveyState, event: Event, now: datetime, config: SurveyConfig) -> list[Command]:
    """Apply *event* at *now* to *state* (in place); the commands it calls for. Events
    the question has no use for (another timer, an old playback) change nothing."""
    if state.stage is Stage.DONE:
        return []
    out: list[Command] = []
    if isinstance(event, CallerHungUp):
        state.playback = None  # the line is gone: nothing to stop
        _clear_timer(state, out)
        if state.stage is Stage.TEN:
            _answered(state, 1, now, out)  # a whole answer was keyed before they went
        state.stage = Stage.DONE
    elif isinstance(event, SurveyLookedUp):
        if state.stage is Stage.LOOKING_UP:
            if event.asked_today:
                state.stage = Stage.DONE
            else:
                out += _open(state, now)
    elif isinstance(event, SurveyOpened):
        if state.stage is Stage.OPENING:
            _asked(state, event.survey_id, config, out)
    elif isinstance(event, DigitPressed):
        _key(state, event.digit, now, config, out)
    elif isinstance(event, PlaybackFinished):
        _played(state, event.playback_id, now, config, out)
    elif isinstance(event, TimerFired):
        _timer(state, event, now, out)
    return out


def due_timer(state: SurveyState) -> TimerFired | None:
    """The timer event the question waits for, for a host whose wire says "the time is
    up" without naming a timer (a Twilio ``<Gather>`` that came back empty)."""
    if state.stage is Stage.DONE or state.timer_at is None:
        return None
    return TimerFired(SURVEY_TIMER, state.timer_at)


# -- the stages -------------------------------------------------------------------------


def _open(state: SurveyState, now: datetime) -> list[Command]:
    state.stage = Stage.OPENING
    return [
        OpenSurvey(
            channel=state.channel,
            asked_at=now,
            number_e164=state.number_e164,
            topic=state.topic,
            language=state.language,
            call_id=state.call_id,
            callback_id=state.callback_id,
        )
    ]


def _asked(state: SurveyState, survey_id: int, config: SurveyConfig, out: list[Command]) -> None:
    state.survey_id = survey_id
    state.stage = Stage.ASKING
    out.append(_record(state, EventKind.SURVEY_ASKED, survey_id=survey_id))
    question = PromptRef("survey_question", state.language)
    out.append(Ask(_new_playback(state), (question,), 1, None, config.answer_timeout))


def _key(
    state: SurveyState, digit: str, now: datetime, config: SurveyConfig, out: list[Command]
) -> None:
    if state.stage is Stage.ASKING:
        if digit not in ANSWERS and digit != "1":
            return  # * or #: no answer, and no reason to cut the question short
        _stop_playback(state, out)
        _clear_timer(state, out)
        if digit == "1":
            state.stage = Stage.TEN
            # Nothing to say: the wait for the 0 starts now. An Ask, so a host that
            # gathers keys (Twilio) gathers the next one for this long.
            out.append(Ask(_new_playback(state), (), 1, None, config.ten_timeout))
            state.playback = None  # no prompt: no playback will finish
            _set_timer(state, now + config.ten_timeout, out)
        else:
            _answered(state, int(digit), now, out)
            _thank(state, out)
    elif state.stage is Stage.TEN and digit in KEYS:
        _clear_timer(state, out)
        _answered(state, 10 if digit == "0" else 1, now, out)
        _thank(state, out)


def _played(
    state: SurveyState, playback_id: str, now: datetime, config: SurveyConfig, out: list[Command]
) -> None:
    if playback_id != state.playback:
        return  # stopped by a key, or an older playback
    state.playback = None
    if state.stage is Stage.ASKING:
        _set_timer(state, now + config.answer_timeout, out)
    elif state.stage is Stage.THANKING:
        state.stage = Stage.DONE


def _timer(state: SurveyState, event: TimerFired, now: datetime, out: list[Command]) -> None:
    if event.name != SURVEY_TIMER or event.at != state.timer_at:
        return  # not ours, or replaced since
    state.timer_at = None
    if state.stage is Stage.ASKING:
        _say_last(state, PromptRef("goodbye", state.language), out)  # no answer
    elif state.stage is Stage.TEN:
        _answered(state, 1, now, out)
        _thank(state, out)


def _answered(state: SurveyState, score: int, now: datetime, out: list[Command]) -> None:
    assert state.survey_id is not None
    state.score = score
    out.append(StoreSurveyAnswer(state.survey_id, score, now))
    out.append(_record(state, EventKind.SURVEY_ANSWERED, survey_id=state.survey_id, score=score))


def _thank(state: SurveyState, out: list[Command]) -> None:
    _say_last(state, PromptRef("survey_thanks", state.language), out)


def _say_last(state: SurveyState, words: PromptRef, out: list[Command]) -> None:
    state.stage = Stage.THANKING
    out.append(Play(_new_playback(state), (words,)))


# -- primitives ---------------------------------------------------------------------------


def _record(state: SurveyState, kind: EventKind, **data: Any) -> Record:
    return Record(
        kind,
        {
            "channel": state.channel.value,
            "topic": state.topic,
            "language": state.language,
            "callback_id": state.callback_id,
            **data,
        },
    )


def _new_playback(state: SurveyState) -> str:
    state.playback_seq += 1
    state.playback = f"survey{state.playback_seq}"
    return state.playback


def _stop_playback(state: SurveyState, out: list[Command]) -> None:
    if state.playback is not None:
        out.append(StopPlayback(state.playback))
        state.playback = None


def _set_timer(state: SurveyState, at: datetime, out: list[Command]) -> None:
    state.timer_at = at
    out.append(SetTimer(SURVEY_TIMER, at))


def _clear_timer(state: SurveyState, out: list[Command]) -> None:
    if state.timer_at is not None:
        state.timer_at = None
        out.append(ClearTimer(SURVEY_TIMER))
