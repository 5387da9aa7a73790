"""The ports of a telephony provider: what the rest of callflow asks of a line's telephony.

:class:`Provider` is the line as the commands see it: something to run (the
simulated callers and advisors, Asterisk's adapter), webhooks for the line's
HTTP app (Twilio's), and a dialler for the callback workers. The composition
root (:mod:`callflow.cli.composition`) builds one from the configuration; no
command, nor the HTTP app, knows which one it got.

:class:`CallbackDialler` is what the dispatcher needs to call residents back.
A callback attempt is two calls joined: the advisor's phone first (with a
whisper saying who is to be called), then the resident's, from the line's
number. The dispatcher records each step in the store between the two, so
the resident is dialled only after the attempt is marked as dialling —
never twice for one attempt. The simulator, Asterisk (ARI) and Twilio each
implement it; the dispatcher sees nothing else of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from callflow.engine.vocabulary import AttemptResult

if TYPE_CHECKING:
    from starlette.routing import BaseRoute


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


@dataclass(frozen=True, slots=True)
class Webhooks:
    """What a provider whose carrier calls the line over HTTP adds to the line's app."""

    routes: Sequence[BaseRoute]
    """Mounted before the API's routes: every call's requests pass here first."""
    serving: Callable[[], AbstractAsyncContextManager[None]]
    """Runs while the app serves the routes (Twilio's connector, which calls advisors for
    the callers its webhooks queued)."""
    https: bool
    """The carrier reaches the app over HTTPS (TLS ends at a proxy in front), so every
    answer asks browsers for HTTPS too."""


class Provider(Protocol):
    """A line's telephony: the simulator, Asterisk or Twilio.

    Each command takes what it needs: ``callflow serve`` runs the line (and the app with
    its webhooks), ``callflow web`` the app with its webhooks, ``callflow worker`` the
    dialler. There is no ``close``: what a provider holds open (an HTTP client, a
    websocket) is let go when what opened it ends — :meth:`run` when cancelled, the
    webhooks' ``serving`` and :meth:`dialling` on leaving.
    """

    name: str
    """As the log lines name it: ``sim``, ``ari`` or ``twilio``."""

    def facts(self) -> Mapping[str, object]:
        """What the line's start and stop log about it: where it runs, and what it did."""
        ...

    def webhooks(self) -> Webhooks | None:
        """Its routes on the line's app; None if its carrier does not call the line over
        HTTP."""
        ...

    async def run(self) -> None:
        """Run the line beside the app until cancelled (a line that is nothing but its
        webhooks has nothing to run, and just waits)."""
        ...

    def dialling(self) -> AbstractAsyncContextManager[CallbackDialler]:
        """A dialler for the callback dispatcher, usable until the context is left (then
        what it holds open is let go, after the calls it has started end)."""
        ...
