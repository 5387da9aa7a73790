"""The state of one call, small and serialisable.

A provider keeps one :class:`CallState` per call and passes it to
:func:`callflow.engine.flow.step` with each event. ``to_dict``/``from_dict``
give a JSON-ready form, so a provider that restarts mid-call can rebuild it
from the store and carry on; a field added since a state was stored takes its
default when that state is read back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any

from callflow.engine.events import ExistingCallback
from callflow.engine.survey import SurveyState


class Phase(StrEnum):
    NEW = "new"
    LOOKING_UP = "looking_up"  # waiting for the store: does this number have a callback?
    IVR = "ivr"  # menus and messages before the queue
    QUEUED = "queued"  # waiting for an advisor, with music and announcements
    CALLBACK = "callback"  # agreeing a callback: number read-back or entry
    STORING = "storing"  # waiting for the store to take or refuse the request
    CANCELLING = "cancelling"
    CONNECTED = "connected"
    SURVEY = "survey"  # the advisor hung up first: the recommendation question
    FAREWELL = "farewell"  # last words, then hang up
    ENDED = "ended"


class Menu(StrEnum):
    """Which question the caller is being asked."""

    LANGUAGE = "language"
    TOPIC = "topic"
    PENDING = "pending"  # keep or cancel an existing callback
    OFFER = "offer"  # callback offer
    READBACK = "readback"  # is this the number to call?
    NUMBER = "number"  # enter a number


class QueueNeed(StrEnum):
    """What a step was about to do when it asked for the queue (``LookUpQueue``): the
    answer (``QueueLookedUp``) carries on exactly there."""

    FIRST_ANNOUNCEMENT = "first_announcement"  # just queued: quiet if an advisor is free
    ANNOUNCEMENT = "announcement"
    CLOSING_TIME = "closing_time"
    AFTER_HOURS_OFFER = "after_hours_offer"
    ACCEPTING_OFFER = "accepting_offer"  # pressed 1 while queued: does the offer still hold?


class After(StrEnum):
    """What to do when a non-interactive playback ends."""

    HANG_UP = "hang_up"
    LANGUAGE_MENU = "language_menu"
    TOPIC_MENU = "topic_menu"
    WAIT = "wait"  # back to music in the queue
    NUMBER_FLOW = "number_flow"
    PROCEED = "proceed"  # carry on after the pending-callback question
    ENTER_QUEUE = "enter_queue"  # after an emergency message said on choosing a topic
    CALLBACK_OFFER = "callback_offer"  # the same, where a callback is offered instead


@dataclass(slots=True)
class CallState:
    call_id: str
    started_at: datetime
    phase: Phase = Phase.NEW
    caller_e164: str | None = None
    withheld: bool = False
    open_at_arrival: bool = True
    rules_version: int = 0  # the version of the line's rules the call last stepped under
    emergency_said: bool = False  # the line's emergency message, said once a call
    language: str | None = None
    topic: str | None = None

    menu: Menu | None = None
    failures: int = 0
    digits: str = ""
    playback: str | None = None
    playback_seq: int = 0
    after: After | None = None
    queue_need: QueueNeed | None = None  # asked for the queue, waiting for the answer

    input_at: datetime | None = None
    announce_at: datetime | None = None
    closing_at: datetime | None = None

    queue_entered_at: datetime | None = None
    in_queue: bool = False
    offer_open: bool = False
    offer_declined: bool = False
    alternative_told: bool = False
    closing_handled: bool = False
    callback_after_hours: bool = False  # callback agreed because the line is or is going closed

    offered_at: datetime | None = None  # expected time said in the offer
    callback_number: str | None = None
    existing: ExistingCallback | None = None
    callback_id: int | None = None
    advisor_id: str | None = None
    outcome: str | None = None
    hung_up: bool = False  # gone while the store was still answering
    survey: SurveyState | None = None  # the recommendation question, once asked

    def copy(self) -> CallState:
        """A copy a step may change (every field is a value or is replaced, never changed in
        place, but the survey's machine, which is copied too).

        Every step of every call copies its state, so the fields are read in one go and
        handed to the generated ``__init__``: twice as fast as a loop of getattr/setattr."""
        copied = CallState(*_field_values(self))
        if copied.survey is not None:  # the one field a step changes in place
            copied.survey = replace(copied.survey)
        return copied

    def adopt(self, other: CallState) -> None:
        """Take every field of *other*: a step's result, once it is safely stored."""
        CallState.__init__(self, *_field_values(other))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, ExistingCallback):
                value = {
                    "callback_id": value.callback_id,
                    "language": value.language,
                    "topic": value.topic,
                    "due_at": value.due_at.isoformat(),
                    "expected_at": value.expected_at.isoformat() if value.expected_at else None,
                }
            elif isinstance(value, SurveyState):
                value = value.to_dict()
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallState:
        values = dict(data)
        for name in (
            "started_at",
            "input_at",
            "announce_at",
            "closing_at",
            "queue_entered_at",
            "offered_at",
        ):
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        values["phase"] = Phase(values["phase"])
        for name, enum in (("menu", Menu), ("after", After), ("queue_need", QueueNeed)):
            if values.get(name) is not None:
                values[name] = enum(values[name])
        existing = values.get("existing")
        if existing is not None:
            values["existing"] = ExistingCallback(
                callback_id=existing["callback_id"],
                language=existing["language"],
                topic=existing["topic"],
                due_at=datetime.fromisoformat(existing["due_at"]),
                expected_at=(
                    datetime.fromisoformat(existing["expected_at"])
                    if existing["expected_at"]
                    else None
                ),
            )
        if values.get("survey") is not None:
            values["survey"] = SurveyState.from_dict(values["survey"])
        return cls(**values)


_field_values = attrgetter(*(f.name for f in fields(CallState)))
"""Every field's value, in ``__init__``'s order."""
