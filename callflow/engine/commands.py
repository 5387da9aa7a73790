"""What the engine asks the shell to do. Imperative; providers carry them out.

Commands are values, never changed once made (plain slotted dataclasses for
speed, like the events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from callflow.engine.prompts import PromptRef
from callflow.engine.vocabulary import Channel, EventKind


@dataclass(slots=True)
class Answer:
    pass


@dataclass(slots=True)
class Play:
    """Play prompts in order; the caller's digits are not awaited."""

    playback_id: str
    prompts: tuple[PromptRef, ...]


@dataclass(slots=True)
class Ask:
    """Play prompts and collect up to ``max_digits`` digits.

    Digits during the prompts stop them (barge-in). The input timeout starts
    when the prompts finish; the engine sets that timer itself.
    """

    playback_id: str
    prompts: tuple[PromptRef, ...]
    max_digits: int
    finish_on_key: str | None
    timeout: timedelta


@dataclass(slots=True)
class StopPlayback:
    playback_id: str


@dataclass(slots=True)
class SetTimer:
    """Fire ``TimerFired(name, at)`` at ``at``, replacing any timer of that name."""

    name: str
    at: datetime


@dataclass(slots=True)
class ClearTimer:
    name: str


@dataclass(slots=True)
class EnterQueue:
    """Wait with music in ``topic``'s queue, in place by ``entered_at``."""

    topic: str
    language: str
    entered_at: datetime


@dataclass(slots=True)
class LeaveQueue:
    topic: str


@dataclass(slots=True)
class ConnectAdvisor:
    """Join the caller with the advisor who answered."""

    advisor_id: str


@dataclass(slots=True)
class ReleaseAdvisor:
    """An advisor was offered this call after it left the queue; free them again."""

    advisor_id: str


@dataclass(slots=True)
class LookUpPendingCallback:
    number_e164: str


@dataclass(slots=True)
class LookUpQueue:
    """Ask how *topic*'s queue stands for this caller: from their place (*entered_at*) if
    they are queued, else as a newcomer. Answered with ``QueueLookedUp``, in the same unit
    of work, so the step itself never reads anything."""

    topic: str
    language: str
    entered_at: datetime | None


@dataclass(slots=True)
class StoreCallback:
    number_e164: str
    topic: str
    language: str
    requested_at: datetime
    queue_entered_at: datetime
    not_before: datetime
    due_at: datetime
    expected_at: datetime
    deadline_class: int


@dataclass(slots=True)
class CancelCallback:
    callback_id: int


@dataclass(slots=True)
class LookUpSurveyed:
    """Has *number_e164* been asked the recommendation question since *since* (the start
    of the line's day), or the callback *callback_id* ever (a retried callback is one
    contact)? Answered with ``SurveyLookedUp`` in the same unit of work, which then opens
    the question's row: so the store may hold the number's turn until it commits."""

    number_e164: str
    since: datetime
    callback_id: int | None = None


@dataclass(slots=True)
class OpenSurvey:
    """The question is asked now: its row (the contact is *call_id* or *callback_id*).
    Answered with ``SurveyOpened``, carrying the row's id."""

    channel: Channel
    asked_at: datetime
    number_e164: str | None
    topic: str | None
    language: str | None
    call_id: str | None = None
    callback_id: int | None = None


@dataclass(slots=True)
class StoreSurveyAnswer:
    """Keep *score* (0–10) as the answer to the question *survey_id*; nothing is answered
    back (a second answer to one question is ignored by the store)."""

    survey_id: int
    score: int
    answered_at: datetime


@dataclass(slots=True)
class Record:
    """Append an entry to the call-event log; ``data`` holds JSON values or datetimes."""

    kind: EventKind
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Hangup:
    reason: str


Command = (
    Answer
    | Play
    | Ask
    | StopPlayback
    | SetTimer
    | ClearTimer
    | EnterQueue
    | LeaveQueue
    | ConnectAdvisor
    | ReleaseAdvisor
    | LookUpPendingCallback
    | LookUpQueue
    | StoreCallback
    | CancelCallback
    | LookUpSurveyed
    | OpenSurvey
    | StoreSurveyAnswer
    | Record
    | Hangup
)
