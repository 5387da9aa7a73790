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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import datetime
from typing import Protocol

import structlog

from callflow.config.models import AriConfig, HotlineConfig
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
from callflow.engine.state import CallState, Phase
from callflow.errors import CallflowError, ChannelGone, PlaybackGone, ProviderError
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.playbacks import chunks

log = structlog.get_logger("callflow.ari")


class Exchange(Protocol):
    """What a call needs of the adapter around it."""

    client: AriClient
    config: HotlineConfig
    ari: AriConfig
    clock: Clock

    async def step(self, state: CallState, event: Event, channel_id: str) -> list[Command]:
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
        self._hung_up = False
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
        self._task = asyncio.get_running_loop().create_task(self._run())

    def deliver(self, event: Event) -> None:
        self._inbox.put_nowait(event)

    def hung_up(self) -> bool:
        """The caller's channel is gone (its ``StasisEnd``, or a resync not finding it):
        the engine hears it once. False if it already had."""
        self.gone = True
        if self._hung_up:
            return False
        self._hung_up = True
        self.deliver(CallerHungUp())
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
        while self.state.phase is not Phase.ENDED:
            event = await self._inbox.get()
            try:
                commands = await self.exchange.step(self.state, event, self.channel_id)
            except CallflowError as exc:
                # The state is as it was; the caller hears nothing new, and the next
                # event (a key, a timer, a hang-up) tries again.
                log.error("ari.step_failed", channel=self.channel_id, error=str(exc))
                continue
            for command in commands:
                await self._carry_out(command)
        self._cancel_timers()
        self.exchange.call_ended(self)

    async def _carry_out(self, command: Command) -> None:
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
            await self._play(command)
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

    async def _play(self, command: Play | Ask) -> None:
        pieces = chunks(
            self.channel_id,
            command.playback_id,
            command.prompts,
            self.exchange.config,
            self.exchange.ari,
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
