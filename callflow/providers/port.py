"""The port a telephony provider implements so the dispatcher can call residents back.

A callback attempt is two calls joined: the advisor's phone first (with a
whisper saying who is to be called), then the resident's, from the line's
number. The dispatcher records each step in the store between the two, so
the resident is dialled only after the attempt is marked as dialling —
never twice for one attempt. The simulator, Asterisk (ARI) and Twilio each
implement :class:`CallbackDialler`; the dispatcher sees nothing else of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from callflow.engine.vocabulary import AttemptResult


@dataclass(frozen=True, slots=True)
class CallbackCall:
    """What a provider needs for one attempt at calling a resident back."""

    callback_id: int
    attempt_no: int
    advisor_id: int
    advisor_dial_string: str | None
    number_e164: str
    topic: str
    language: str
    waited: timedelta
    """Since the caller entered the queue: the whisper tells the advisor."""
    caller_id: str
    """The line's number, shown to the resident."""


@dataclass(frozen=True, slots=True)
class AdvisorLeg:
    """The advisor's answered call, as the provider knows it."""

    ref: str


@dataclass(frozen=True, slots=True)
class ResidentCall:
    """How dialling the resident ended. ``REACHED``: a person answered and the call is
    over (``talk`` long); a machine is ``MACHINE``, never reached."""

    result: AttemptResult
    talk: timedelta = timedelta(0)


class CallbackDialler(Protocol):
    async def ring_advisor(self, call: CallbackCall, timeout: timedelta) -> AdvisorLeg | None:
        """Ring the advisor; when they answer, whisper the topic, the language and how
        long the caller waited. None when they do not answer within *timeout*."""
        ...

    async def dial_resident(self, call: CallbackCall, leg: AdvisorLeg) -> ResidentCall:
        """Dial the resident from the line's number and join them with the advisor;
        return when the resident's side is settled and, if answered, the call is over."""
        ...

    async def hang_up(self, leg: AdvisorLeg) -> None:
        """End the advisor's call (nobody to join them with)."""
        ...
