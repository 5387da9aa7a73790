"""Emergency messages: which is in force, and what it makes of the line and its queues.

An admin switches a message on for the whole line (scope ``line``) or for one
queue (its name), with a mode: keep serving, take callbacks only, or close
(:class:`~callflow.config.models.EmergencyConfig`). Every question the call
flow and the queue ask about one — is it in force now, does it close the line
or the caller's queue, which of two decides what happens to the caller, when
does one that closes begin, what does the caller hear — is answered here, the
same way for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from callflow.config.models import (
    EMERGENCY_SCOPE_LINE,
    EmergencyConfig,
    HotlineConfig,
    emergency_prompt,
)
from callflow.engine.calendar import Calendar
from callflow.engine.prompts import PromptRef
from callflow.engine.turn import Turn

_STRICTNESS = {"serve": 0, "callbacks_only": 1, "close": 2}


@dataclass(frozen=True, slots=True)
class Emergency:
    """A message in force, and whose it is: the line's or a queue's."""

    scope: str
    message: EmergencyConfig

    @property
    def closes(self) -> bool:
        return self.message.mode == "close"

    @property
    def callbacks_only(self) -> bool:
        return self.message.mode == "callbacks_only"

    @property
    def strictness(self) -> tuple[int, bool]:
        """How much it keeps from the caller: closing over callbacks only over serving, and
        closing without the after-hours offer over closing with it."""
        return _STRICTNESS[self.message.mode], not self.message.after_hours_offer


def in_force(
    config: HotlineConfig, calendar: Calendar, scope: str, at: datetime
) -> EmergencyConfig | None:
    """The emergency message of *scope* (``line``, or a queue's name), if it is in force at
    *at*: its start and end are the line's wall-clock times."""
    message = config.emergency.get(scope)
    if message is None or not message.in_force(calendar.local(at).replace(tzinfo=None)):
        return None
    return message


def line_open(t: Turn) -> bool:
    """Whether the line takes calls now: open by its calendar, and not closed by its message."""
    return t.calendar_open and (not t.config.emergency or closing_line(t) is None)


def queue_open(t: Turn) -> bool:
    """Whether the caller's queue takes callers now: the line open, the queue not closed by
    its own message."""
    return t.calendar_open and (not t.config.emergency or closing_queue(t) is None)


def closing_line(t: Turn) -> Emergency | None:
    """The line's message, if it is in force and closes the line."""
    return _closing(t, (EMERGENCY_SCOPE_LINE,))


def closing_queue(t: Turn) -> Emergency | None:
    """The message in force that closes the caller's queue: the line's, else the queue's."""
    return _closing(t, _scopes(t))


def steering(t: Turn) -> Emergency | None:
    """Of the messages in force for the line and the caller's queue, the one that keeps the
    caller out of the queue (the strictest, the line's on a tie); None when none does."""
    if not t.config.emergency:
        return None  # the usual day: every step asks, so answer at once
    in_force_now = (_now(t, scope) for scope in _scopes(t))
    keeping_out = [found for found in in_force_now if found and found.message.mode != "serve"]
    return max(keeping_out, key=lambda found: found.strictness, default=None)


def line_takes_callbacks_only(t: Turn) -> bool:
    found = _now(t, EMERGENCY_SCOPE_LINE)
    return found is not None and found.callbacks_only


def next_closing(t: Turn) -> datetime | None:
    """When the caller's queue next closes: the line's next closing by its calendar, or
    sooner, the start of a message that closes the line or the queue (None: never)."""
    closing = t.ctx.calendar.next_closing(t.now)
    if not t.config.emergency:
        return closing
    for scope in _scopes(t):
        message = t.config.emergency.get(scope)
        if message is None or message.mode != "close":
            continue
        start = message.start.replace(tzinfo=t.ctx.calendar.tz).astimezone(UTC)
        if start > t.now and (closing is None or start < closing):
            closing = start
    return closing


# -- what the caller hears -------------------------------------------------------------


def line_message_in(t: Turn, language: str) -> list[PromptRef]:
    """The line's message in *language*, if it is in force and the caller has not heard it."""
    if t.s.emergency_said or _now(t, EMERGENCY_SCOPE_LINE) is None:
        return []
    return [t.p_in(language, emergency_prompt(EMERGENCY_SCOPE_LINE))]


def tell_line_message(t: Turn) -> list[PromptRef]:
    """The line's message in the caller's language, if it is due, counted as heard: the
    caller hears it once a call."""
    words = line_message_in(t, t.language)
    if words:
        t.s.emergency_said = True
    return words


def queue_message(t: Turn) -> list[PromptRef]:
    """The caller's queue's message, if it is in force (said once they choose the queue)."""
    assert t.s.topic is not None
    return [t.p(emergency_prompt(t.s.topic))] if _now(t, t.s.topic) else []


def _scopes(t: Turn) -> tuple[str, ...]:
    topic = t.s.topic
    return (EMERGENCY_SCOPE_LINE,) if topic is None else (EMERGENCY_SCOPE_LINE, topic)


def _now(t: Turn, scope: str) -> Emergency | None:
    if scope not in t.config.emergency:
        return None  # the usual day: every step asks, so answer at once
    message = in_force(t.config, t.ctx.calendar, scope, t.now)
    return None if message is None else Emergency(scope, message)


def _closing(t: Turn, scopes: tuple[str, ...]) -> Emergency | None:
    if not t.config.emergency:
        return None
    for scope in scopes:
        found = _now(t, scope)
        if found is not None and found.closes:
            return found
    return None
