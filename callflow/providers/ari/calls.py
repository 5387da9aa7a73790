"""One inbound call on Asterisk: ARI events in as engine events, engine commands out as
ARI requests.

Each call is an actor: its events wait in its own inbox and are stepped
one at a time by its own task, so one caller's slow store step or slow
request never holds up another's. The engine's timers are handles on the
event loop, set from the injected clock; they live in the engine's state
too, so a call restored after a restart sets them again.

Asterisk races us: a caller may hang up between an event and our request.
A refusal saying the channel is gone is that race, not a fault: the call
stops sending requests and waits for its ``StasisEnd`` (or the resync that
stands in for a lost one).

A step is taken under the rules in force when it starts, and its prompts are
said in that step's words (:class:`Stepped`): a prompt changed or an emergency
message switched off meanwhile cannot leave it without its words.

Each call's task is supervised, as wazo-calld returns a channel whose
handler failed to the dialplan: a step that fails (a bug, the database
raising), the first one included, ends the engine's part. The failure is
logged once, the caller hears the ``technical_problem`` prompt in their
language and is sent on as ``[provider.ari] on_failure`` says (to a
dialplan context, or hung up); the call is then closed in the store if the
store will, and the adapter forgets the channel. No caller is left in
Stasis with nothing pending.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from callflow.config.models import AriConfig, HotlineConfig
from callflow.engine import survey
from callflow.engine.clock import Clock, real_seconds
from callflow.engine.commands import (
    Answer,
    Ask,
    ClearTimer,
    Command,
    ConnectAdvisor,
    EnterQueue,
    Hangup,
    LeaveQueue,
    Play,
    ReleaseAdvisor,
    SetTimer,
    StopPlayback,
)
from callflow.engine.events import CallerHungUp, Event, PlaybackFinished, TimerFired
from callflow.engine.prompts import prompt
from callflow.engine.state import CallState, Phase
from callflow.errors import ChannelGone, PlaybackGone, ProviderError
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.live_sounds import LiveSounds
from callflow.providers.ari.playbacks import chunks
from callflow.store.session import OutageLog

log = structlog.get_logger("callflow.ari")

APOLOGY = "technical_problem"
"""The prompt a caller hears when their call fails on our side (every language has it)."""
APOLOGY_PLAYBACK = "apology"
"""Its playback id; the engine's own are ``p<n>``."""
APOLOGY_LONGEST = timedelta(seconds=20)
"""Line time the apology may take before the caller is sent on regardless (a playback
Asterisk never finishes must not hold them)."""


@dataclass(frozen=True, slots=True)
class Stepped:
    """What one step asks of Asterisk, and the line's rules it was taken under."""

    commands: list[Command]
    config: HotlineConfig
    """Its prompts' words."""


class Exchange(Protocol):
    """What a call needs of the adapter around it."""

    client: AriClient
    ari: AriConfig
    clock: Clock
    outage: OutageLog
    sounds: LiveSounds

    @property
    def config(self) -> HotlineConfig:
        """The rules in force."""
        ...

    async def step(self, state: CallState, event: Event, channel_id: str) -> Stepped:
        """Step the engine (with the store) off the event loop."""
        ...

    async def join_queue(self, call: InboundCall, topic: str) -> None: ...

    async def leave_queue(self, call: InboundCall, topic: str) -> None: ...

    async def join_advisor(self, call: InboundCall, advisor_id: str) -> None: ...

    async def release_advisor(self, call: InboundCall, advisor_id: str) -> None: ...

    def call_ended(self, call: InboundCall) -> None: ...


class InboundCall:
    """A caller's channel in our Stasis application and the engine's state for it."""

    def __init__(self, exchange: Exchange, channel_id: str, state: CallState) -> None:
        self.exchange = exchange
        self.channel_id = channel_id
        self.state = state
        self.gone = False
        """Asterisk said the channel is no longer ours: no more requests for it."""
        self.failed = False
        """A step failed: the caller hears the apology and is sent on; the engine is done."""
        self._hung_up: CallerHungUp | None = None
        """How the caller's channel went, once it has."""
        self.advisor_leg: str | None = None
        """The advisor's channel rung for, or talking with, this caller."""
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._playing: dict[str, set[str]] = {}
        """Engine playback id → the ARI playbacks of it not yet finished."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start stepping the inbox; a restored call first sets its timers again."""
        for name in ("input", "announce", "closing"):
            at = getattr(self.state, f"{name}_at")
            if at is not None:
                self._set_timer(name, at)
        asking = self.state.survey
        if asking is not None and (due := survey.due_timer(asking)) is not None:
            self._set_timer(due.name, due.at)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def deliver(self, event: Event) -> None:
        self._inbox.put_nowait(event)

    def hung_up(self, *, dropped: bool = False) -> bool:
        """The caller's channel is gone (its ``StasisEnd``, or a resync not finding it): hung
        up by the caller or, if *dropped*, lost by the exchange. The engine hears it once;
        False if it already had."""
        self.gone = True
        if self._hung_up is not None:
            return False
        self._hung_up = CallerHungUp(dropped=dropped)
        self.deliver(self._hung_up)
        return True

    async def stop(self) -> None:
        """Stop stepping (the adapter is shutting down); the state is already stored."""
        self._cancel_timers()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def playing(self) -> set[str]:
        """Engine playbacks still under way here."""
        return set(self._playing)

    def follow_playback(self, playback_id: str, ari_ids: list[str]) -> None:
        """After a restart: the engine waits for *playback_id*, and *ari_ids* of it are
        still playing (none: it is over)."""
        if ari_ids:
            self._playing[playback_id] = set(ari_ids)
        else:
            self.deliver(PlaybackFinished(playback_id))

    def unfinished(self, playback_id: str) -> list[str]:
        return sorted(self._playing.get(playback_id, ()))

    def playback_ended(self, playback_id: str, ari_id: str) -> None:
        """One ARI playback of *playback_id* finished (or failed, or was stopped)."""
        remaining = self._playing.get(playback_id)
        if remaining is None:
            return  # stopped by a barge-in: the engine has moved on
        remaining.discard(ari_id)
        if not remaining:
            del self._playing[playback_id]
            self.deliver(PlaybackFinished(playback_id))

    # -- stepping -------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while self.state.phase is not Phase.ENDED:
                event = await self._inbox.get()
                stepped = await self.exchange.step(self.state, event, self.channel_id)
                for command in stepped.commands:
                    await self._carry_out(command, stepped.config)
        except Exception as exc:  # not CancelledError: stop() keeps the call for a restart
            await self._fail(exc)
        self._cancel_timers()
        self.exchange.call_ended(self)

    # -- supervision ----------------------------------------------------------------------

    async def _fail(self, exc: Exception) -> None:
        """A step failed: apologise, send the caller on, close the call if the store will.
        Nothing here raises: a failure must not fail again."""
        self.failed = True
        self._cancel_timers()
        # A database outage fails every call at once: one line each, the outage itself once.
        outage = self.exchange.outage.failed(exc)
        log.error(
            "ari.call_failed",
            call_id=self.state.call_id,
            channel=self.channel_id,
            error=f"{type(exc).__name__}: {exc}",
            exc_info=None if outage else exc,
        )
        try:
            await self._apologise()
            await self._send_on()
        except Exception as again:
            log.error("ari.call_not_sent_on", channel=self.channel_id, error=str(again))
        if self.state.phase is Phase.ENDED:
            return  # it failed carrying out its last step: the store has closed it
        # The line failed a caller still on it, who chose nothing: dropped, not abandoned. One
        # who had hung up already is closed as they went.
        closing = self._hung_up or CallerHungUp(dropped=True)
        try:
            await self.exchange.step(self.state, closing, self.channel_id)
        except Exception as again:
            log.warning("ari.call_not_closed", call_id=self.state.call_id, error=str(again))

    async def _apologise(self) -> None:
        """The apology, in the caller's language (the line's default before they chose
        one), after whatever was playing; over when heard, or when the caller hangs up."""
        for ari_ids in self._playing.values():
            for ari_id in ari_ids:
                await self._request(self.exchange.client.playbacks.stop(ari_id))
        self._playing.clear()
        # A call failing on arrival is not answered yet; answering an answered one is a no-op.
        await self._request(self.exchange.client.channels.answer(self.channel_id))
        config = self.exchange.config
        language = self.state.language or config.line.default_language
        await self._play(Play(APOLOGY_PLAYBACK, (prompt(APOLOGY, language),)), config)
        clock = self.exchange.clock
        heard = PlaybackFinished(APOLOGY_PLAYBACK)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(real_seconds(clock, clock.now() + APOLOGY_LONGEST)):
                while not self.gone:
                    event = await self._inbox.get()  # the engine's events are void now
                    if event == heard:
                        return

    async def _send_on(self) -> None:
        """``[provider.ari] on_failure``: on into the dialplan, or hung up (also when the
        dialplan refuses to take the channel back)."""
        client, where = self.exchange.client, self.exchange.ari.on_failure
        if where.action == "continue":
            continued = await self._request(
                client.channels.continue_in_dialplan(
                    self.channel_id,
                    context=where.context,
                    extension=where.extension,
                    priority=where.priority,
                )
            )
            if continued or self.gone:
                return
        await self._request(client.channels.hangup(self.channel_id, reason="normal"))

    # -- carrying out commands ------------------------------------------------------------

    async def _carry_out(self, command: Command, config: HotlineConfig) -> None:
        exchange, channel = self.exchange, self.channel_id
        if isinstance(command, SetTimer):
            self._set_timer(command.name, command.at)
        elif isinstance(command, ClearTimer):
            handle = self._timers.pop(command.name, None)
            if handle is not None:
                handle.cancel()
        elif isinstance(command, StopPlayback):
            for ari_id in self._playing.pop(command.playback_id, set()):
                await self._request(exchange.client.playbacks.stop(ari_id))
        elif isinstance(command, Play | Ask):
            await self._play(command, config)
        elif isinstance(command, Answer):
            await self._request(exchange.client.channels.answer(channel))
        elif isinstance(command, EnterQueue):
            await self.guarded(exchange.join_queue(self, command.topic))
        elif isinstance(command, LeaveQueue):
            await self.guarded(exchange.leave_queue(self, command.topic))
        elif isinstance(command, ConnectAdvisor):
            await self.guarded(exchange.join_advisor(self, command.advisor_id))
        elif isinstance(command, ReleaseAdvisor):
            await self.guarded(exchange.release_advisor(self, command.advisor_id))
        elif isinstance(command, Hangup):
            await self._request(exchange.client.channels.hangup(channel, reason="normal"))

    async def _play(self, command: Play | Ask, config: HotlineConfig) -> None:
        exchange = self.exchange
        pieces = chunks(
            self.channel_id,
            command.playback_id,
            command.prompts,
            config,
            exchange.ari,
            exchange.sounds.unverified(),
        )
        if not pieces:
            self.deliver(PlaybackFinished(command.playback_id))
            return
        self._playing[command.playback_id] = {piece.playback_id for piece in pieces}
        for piece in pieces:
            played = await self._request(
                self.exchange.client.channels.play(
                    self.channel_id,
                    list(piece.media),
                    lang=piece.language,
                    playback_id=piece.playback_id,
                )
            )
            if not played:  # never started: nothing will say it ended
                self.playback_ended(command.playback_id, piece.playback_id)

    def _set_timer(self, name: str, at: datetime) -> None:
        previous = self._timers.pop(name, None)
        if previous is not None:
            previous.cancel()
        delay = real_seconds(self.exchange.clock, at)
        self._timers[name] = asyncio.get_running_loop().call_later(
            delay, self.deliver, TimerFired(name, at)
        )

    def _cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    async def _request(self, request: Awaitable[object]) -> bool:
        """Send one request about this call; False if it was not carried out."""
        if self.gone:
            if asyncio.iscoroutine(request):
                request.close()
            return False
        try:
            await request
        except PlaybackGone:
            return False  # it ended on its own just before
        except ChannelGone:
            self.gone = True
            return False
        except ProviderError as exc:
            log.warning("ari.request_failed", channel=self.channel_id, error=str(exc))
            return False
        return True

    async def guarded(self, action: Awaitable[None]) -> None:
        """The adapter's part of a command (bridges, advisors): a refusal is logged, and
        the call carries on as the engine sees it."""
        try:
            await action
        except ChannelGone:
            self.gone = True
        except ProviderError as exc:
            log.warning("ari.request_failed", channel=self.channel_id, error=str(exc))
