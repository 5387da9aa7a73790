"""What happens to a call, as the engine hears it. Past tense; providers build these.

Events are values: nothing changes one after it is made. They are plain
slotted dataclasses rather than frozen ones because a frozen dataclass costs
three times as much to build, and the engine's hot path builds many.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from callflow.engine.forecast import QueueSnapshot


@dataclass(slots=True)
class ExistingCallback:
    """A caller's open callback request, as the store describes it."""

    callback_id: int
    language: str
    topic: str
    due_at: datetime
    expected_at: datetime | None


@dataclass(slots=True)
class CallArrived:
    """A call reached the line. ``caller_e164`` is None when withheld or not callable."""

    caller_e164: str | None
    withheld: bool = False


@dataclass(slots=True)
class PlaybackFinished:
    """A playback ended: played out, stopped, or failed (the caller must not get stuck)."""

    playback_id: str


@dataclass(slots=True)
class DigitPressed:
    digit: str


@dataclass(slots=True)
class TimerFired:
    """A timer the engine set went off. ``at`` tells a stale timer from a current one."""

    name: str
    at: datetime


@dataclass(slots=True)
class PendingCallbackLookedUp:
    found: ExistingCallback | None


@dataclass(slots=True)
class QueueLookedUp:
    """The answer to ``LookUpQueue``: the queue as the caller sees it now."""

    snapshot: QueueSnapshot


@dataclass(slots=True)
class CallbackStored:
    """The request is stored; ``due_at`` is the promise the store recorded for it."""

    callback_id: int
    due_at: datetime


@dataclass(slots=True)
class CallbackRejected:
    """The store refused a new request: the number already has an open one."""

    existing: ExistingCallback


@dataclass(slots=True)
class CallbackCancelled:
    callback_id: int


@dataclass(slots=True)
class AdvisorConnected:
    """An advisor answered and is ready to be joined with this caller."""

    advisor_id: str


@dataclass(slots=True)
class AdvisorHungUp:
    """The advisor's leg ended the conversation.

    ``dropped``: the exchange lost the advisor's leg (a fault, a restart, a leg no process
    held): nobody chose to end the talk, so the resident is not asked how it went."""

    dropped: bool = False


@dataclass(slots=True)
class CallerHungUp:
    """The caller's line is gone.

    ``dropped``: the exchange or carrier lost it (a fault, a restart), nobody chose to
    hang up. Such a call is no abandon, whichever provider saw it go: the measures of
    abandons and of waiting are the callers', not the line's faults.
    """

    dropped: bool = False


@dataclass(slots=True)
class SurveyLookedUp:
    """The answer to ``LookUpSurveyed``: whether the number was asked today already."""

    asked_today: bool


@dataclass(slots=True)
class SurveyOpened:
    """The answer to ``OpenSurvey``: the question's row."""

    survey_id: int


@dataclass(slots=True)
class RulesChanged:
    """The line's rules changed since the call's last step (a closure, special hours, an
    emergency message, a queue's settings): a waiting caller's queue may be closed under
    them now, or close at another time. Stepped by the service before a call's next event
    under new rules, and pushed by a provider to its queued callers, who may hear no other
    event for a while; hearing it twice changes nothing."""


Event = (
    CallArrived
    | PlaybackFinished
    | DigitPressed
    | TimerFired
    | PendingCallbackLookedUp
    | QueueLookedUp
    | CallbackStored
    | CallbackRejected
    | CallbackCancelled
    | AdvisorConnected
    | AdvisorHungUp
    | CallerHungUp
    | SurveyLookedUp
    | SurveyOpened
    | RulesChanged
)
