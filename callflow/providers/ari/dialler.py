"""Callbacks on Asterisk: the advisor's leg, a whisper, then the resident's, joined.

A worker process dials through its own Stasis application
(``<app>-dialler-<id>``): ARI gives an application's events to one
websocket, and the line's adapter holds the line's. The legs get channel
ids of our choosing (``cf-cb-<callback>-<attempt>-advisor`` / ``-resident``),
so a duplicate originate for the same attempt is refused by Asterisk itself
(409) rather than ringing a resident twice.

The resident's leg can run ``AMD()`` in the dialplan first
(``[connect] machine_detection``): once answered, it is continued in
``amd_context`` (extension ``s``), which runs ``AMD()`` and sends it back
with ``Stasis(${CALLFLOW_APP},resident,${AMDSTATUS})``. It is originated
into our application rather than into that context, so we hear its
progress (and a refusal's cause) from the start. A leg's end is its
``ChannelDestroyed``, which an originated channel always has; the
``StasisEnd`` of going through the dialplan is no end. A
machine is hung up on and recorded as such, never as reached. A leg that
never answers ends with Asterisk's hang-up cause, mapped to the attempt's
result.

When the advisor hangs up first on a reached resident (and the exchange did
not cut the advisor's leg), the resident may be asked the recommendation
question (``[survey]``): the engine's machine runs their leg, with the store
attached (:class:`~callflow.service.surveys.ResidentSurvey`), after the
attempt is over, so the advisor's wrap-up does not wait for it; the leg is
hung up when the question is done.

Never a silent leg: every leg we give up on (not answered, hung up during
the whisper, declared gone by a resync, the attempt interrupted, or an
attempt that fails with an error or is cancelled) is hung up unless its
``ChannelDestroyed`` was heard, a 404 being fine. And a resync judges only
the legs whose originate Asterisk had answered before the list was asked: a
``GET /channels`` sent at the moment of an originate can come back without
the new channel (traces README, last section).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from callflow.config.models import HotlineConfig
from callflow.engine import survey
from callflow.engine.clock import Clock, real_seconds
from callflow.engine.commands import Ask, ClearTimer, Command, Play, SetTimer, StopPlayback
from callflow.engine.events import (
    CallerHungUp,
    DigitPressed,
    Event,
    PlaybackFinished,
    TimerFired,
)
from callflow.engine.vocabulary import AttemptResult
from callflow.engine.whisper import whisper
from callflow.errors import ProviderError, ProviderRejected
from callflow.providers.ari import events as ari_events
from callflow.providers.ari.causes import by_exchange
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.sounds import media_for
from callflow.providers.ari.stream import Connected
from callflow.providers.port import AdvisorLeg, CallbackCall, ResidentCall
from callflow.service.rules import LineRules
from callflow.service.surveys import ResidentSurvey
from callflow.store.session import Database

log = structlog.get_logger("callflow.ari")

CAUSE_RESULTS = {
    1: AttemptResult.WRONG_NUMBER,  # unallocated number
    3: AttemptResult.WRONG_NUMBER,  # no route to destination
    22: AttemptResult.WRONG_NUMBER,  # number changed
    28: AttemptResult.WRONG_NUMBER,  # invalid number format
    17: AttemptResult.BUSY,
    18: AttemptResult.NO_ANSWER,  # no user responding
    19: AttemptResult.NO_ANSWER,  # alerting, no answer
    21: AttemptResult.NO_ANSWER,  # call rejected
    34: AttemptResult.CONGESTION,
    38: AttemptResult.CONGESTION,
    41: AttemptResult.CONGESTION,
    42: AttemptResult.CONGESTION,
}
"""Q.850 hang-up causes of a leg that never answered; any other is ``FAILED``."""
MACHINE = "MACHINE"
QUESTION_SILENT_AT_MOST = timedelta(minutes=2)
"""The longest a resident's leg may stay without any event while the question runs: far
longer than the question, the answer's timeout and the thanks together."""


def result_of_cause(cause: int | None) -> AttemptResult:
    return CAUSE_RESULTS.get(cause or 0, AttemptResult.FAILED)


@dataclass
class _Leg:
    """What is heard of one channel we originated."""

    answered: asyncio.Future[tuple[str, ...]] = field(default_factory=asyncio.Future)
    ended: asyncio.Future[int | None] = field(default_factory=asyncio.Future)
    playbacks: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    originated: bool = False
    """Asterisk has answered its originate: from then on a channel list asked for shows it
    while it is up, so only then may a list without it mean it has gone."""
    destroyed: bool = False
    """Its ``ChannelDestroyed`` was heard: there is nothing left to hang up."""
    heard: asyncio.Queue[Event] | None = None
    """While the resident is asked the recommendation question: their keys, the
    question's playbacks ending, its timer, as the engine's events."""


class AriDialler:
    """Implements :class:`~callflow.providers.port.CallbackDialler`; run :meth:`run` beside
    the dispatcher (it holds the application's websocket)."""

    question_silent_at_most = QUESTION_SILENT_AT_MOST
    """Real time a resident's leg may stay without any event while the question runs."""

    def __init__(
        self,
        config: HotlineConfig,
        client: AriClient,
        clock: Clock,
        *,
        rules: LineRules | None = None,
        database: Database | None = None,
    ) -> None:
        """*config* says how to reach Asterisk (kept as it was at start); *rules* are the
        line's rules in force (*config*'s, unchanging, if none); the recommendation
        question is stored in *database* (none: it is never asked)."""
        assert config.provider.ari is not None
        self.rules = rules or LineRules.fixed(config)
        self.ari = config.provider.ari
        self.client = client
        self.clock = clock
        self.database = database
        self._legs: dict[str, _Leg] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._asking: dict[str, asyncio.Task[None]] = {}
        """Residents' legs being asked the recommendation question, by channel."""

    @property
    def config(self) -> HotlineConfig:
        """The line's rules in force: the whisper's words, ring timeouts, detection."""
        return self.rules.config

    @staticmethod
    def application(line_app: str) -> str:
        """A Stasis application name of a worker's own."""
        return f"{line_app}-dialler-{uuid.uuid4().hex[:8]}"

    async def run(self) -> None:
        """Hear the legs' events until cancelled."""
        events = self.client.events.subscribe()
        stream = asyncio.create_task(self.client.events.run(on_connected=self._resync))
        try:
            async for event in events:
                self._heard(event)
        finally:
            asking = list(self._asking.values())
            for task in asking:
                task.cancel()  # each hangs up its resident's leg as it stops
            await asyncio.gather(*asking, return_exceptions=True)
            events.close()
            await self.client.events.stop()
            with contextlib.suppress(asyncio.CancelledError, ProviderError):
                await stream

    # -- the port ---------------------------------------------------------------------------

    async def ring_advisor(self, call: CallbackCall, timeout: timedelta) -> AdvisorLeg | None:
        if not call.advisor_dial_string:
            log.warning("ari.advisor_without_phone", advisor_id=call.advisor_id)
            return None
        channel_id = _leg_id(call, "advisor")
        async with self._handed_back_on_failure(channel_id):
            leg = await self._originate(
                channel_id,
                call.advisor_dial_string,
                timeout,
                caller_id=call.caller_id,
                app_args=("callback-advisor",),
            )
            if leg is None:
                return None
            config = self.config
            said = whisper(config, call.topic, call.language, call.waited)
            media = media_for(said, config, self.ari)
            if not await self._answered(leg) or not await self._play(
                channel_id, leg, media, said.language
            ):
                await self._let_go(channel_id)
                return None  # not answered, or hung up during the whisper
        return AdvisorLeg(channel_id)

    async def dial_resident(self, call: CallbackCall, leg: AdvisorLeg) -> ResidentCall:
        resident_id = _leg_id(call, "resident")
        async with self._handed_back_on_failure(resident_id, leg.ref):
            try:
                return await self._call_resident(call, leg)
            finally:
                if resident_id not in self._asking:  # the question lets it go when done
                    await self._let_go(resident_id)

    async def _call_resident(self, call: CallbackCall, leg: AdvisorLeg) -> ResidentCall:
        channel_id = _leg_id(call, "resident")
        endpoint = self.ari.trunk.format(number=call.number_e164)
        resident = await self._originate(
            channel_id,
            endpoint,
            self.config.connect.resident_ring_timeout,
            caller_id=call.caller_id,
            app_args=("resident",),
            variables={"CALLFLOW_APP": self.client.app},
        )
        if resident is None:
            return ResidentCall(AttemptResult.FAILED)
        advisor = self._legs.get(leg.ref)
        waits: set[asyncio.Future[Any]] = {resident.answered, resident.ended}
        if advisor is not None:
            waits.add(advisor.ended)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        # Every way out but a talk leaves the resident's leg to dial_resident to hang up.
        if not resident.answered.done():
            if resident.ended.done():
                return ResidentCall(result_of_cause(resident.ended.result()))
            return ResidentCall(AttemptResult.INTERRUPTED)  # the advisor gave up first
        args = resident.answered.result()
        if len(args) > 1 and args[1] == MACHINE:
            log.info("ari.machine_answered", callback_id=call.callback_id)
            return ResidentCall(AttemptResult.MACHINE)
        answered_at = self.clock.now()
        talk = await self._join(call, leg.ref, channel_id, resident, advisor)
        return ResidentCall(AttemptResult.REACHED, talk or self.clock.now() - answered_at)

    async def hang_up(self, leg: AdvisorLeg) -> None:
        await self._let_go(leg.ref)

    # -- legs ---------------------------------------------------------------------------------

    async def _originate(
        self,
        channel_id: str,
        endpoint: str,
        timeout: timedelta,
        *,
        caller_id: str,
        app_args: tuple[str, ...],
        variables: dict[str, str] | None = None,
    ) -> _Leg | None:
        leg = self._legs[channel_id] = _Leg()
        try:
            await self.client.channels.originate(
                endpoint,
                app=self.client.app,
                app_args=app_args,
                caller_id=caller_id,
                timeout=max(1, round(timeout.total_seconds())),
                channel_id=channel_id,
                variables=variables,
            )
        except ProviderRejected as exc:
            # Refused outright (a dial string Asterisk cannot use, a duplicate id: this
            # attempt's leg exists already): nothing rings.
            self._legs.pop(channel_id, None)
            log.warning("ari.originate_refused", channel=channel_id, error=str(exc))
            return None
        leg.originated = True
        return leg

    async def _answered(self, leg: _Leg) -> bool:
        either: set[asyncio.Future[Any]] = {leg.answered, leg.ended}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        return leg.answered.done() and not leg.ended.done()

    async def _play(self, channel_id: str, leg: _Leg, media: list[str], language: str) -> bool:
        if not media:
            return True
        playback_id = f"{channel_id}~whisper"
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        leg.playbacks[playback_id] = finished
        try:
            await self.client.channels.play(
                channel_id, media, lang=language, playback_id=playback_id
            )
        except ProviderError:
            return not leg.ended.done()
        either: set[asyncio.Future[Any]] = {finished, leg.ended}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        return not leg.ended.done()

    async def _join(
        self,
        call: CallbackCall,
        advisor_id: str,
        resident_id: str,
        resident: _Leg,
        advisor: _Leg | None,
    ) -> timedelta | None:
        """Both legs in one mixing bridge until one hangs up; the talk's length."""
        bridge_id = f"cf-cb-{call.callback_id}-{call.attempt_no}"
        started: datetime = self.clock.now()
        try:
            await self.client.bridges.create("mixing", bridge_id=bridge_id, name="callback")
            await self.client.bridges.add_channel(bridge_id, [advisor_id, resident_id])
        except ProviderError as exc:
            log.warning("ari.callback_not_joined", callback_id=call.callback_id, error=str(exc))
        ends: list[asyncio.Future[int | None]] = [resident.ended]
        if advisor is not None:
            ends.append(advisor.ended)
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        talk = self.clock.now() - started
        if advisor is not None and self._may_ask(call, resident, advisor):
            self._ask(call, resident_id, resident)
        else:
            await self._let_go(resident_id)
        await self._let_go(advisor_id)
        with contextlib.suppress(ProviderError):
            await self.client.bridges.destroy(bridge_id)
        return talk

    # -- the recommendation question ----------------------------------------------------------

    def _may_ask(self, call: CallbackCall, resident: _Leg, advisor: _Leg) -> bool:
        """The advisor hung up first (not cut off by the exchange: a fault's cause, or a
        leg that vanished unheard) on a resident still there, and the rule says yes."""
        if self.database is None or resident.ended.done() or not advisor.ended.done():
            return False
        cause = advisor.ended.result()
        dropped = cause is None or by_exchange(cause)
        key = survey.contact_key(callback_id=call.callback_id)
        return survey.applies(self.config.survey, key, dropped=dropped)

    def _ask(self, call: CallbackCall, channel_id: str, leg: _Leg) -> None:
        leg.heard = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(self._asked(call, channel_id, leg))
        self._asking[channel_id] = task
        task.add_done_callback(lambda _: self._asking.pop(channel_id, None))

    async def _asked(self, call: CallbackCall, channel_id: str, leg: _Leg) -> None:
        """Run the question on the resident's leg until it is done, then hang up."""
        assert self.database is not None and leg.heard is not None
        timers: dict[str, asyncio.TimerHandle] = {}
        try:
            run, media = await asyncio.to_thread(
                ResidentSurvey.start,
                self.database,
                self.config.survey,
                self.rules.calendar,
                callback_id=call.callback_id,
                language=call.language,
                topic=call.topic,
                number_e164=call.number_e164 or None,
                now=self.clock.now(),
            )
            await self._say(channel_id, leg, media, timers)
            while not run.done:
                event = await self._next_heard(leg)
                media = await asyncio.to_thread(run.handle, event, self.clock.now())
                await self._say(channel_id, leg, media, timers)
        except Exception as exc:  # the question is a courtesy: it never fails the worker
            log.warning("ari.survey_failed", callback_id=call.callback_id, error=str(exc))
        finally:
            for handle in timers.values():
                handle.cancel()
            await asyncio.shield(self._let_go(channel_id))

    async def _next_heard(self, leg: _Leg) -> Event:
        """What happened next on the resident's leg; their hang-up, too, when nothing has
        for :attr:`question_silent_at_most` (a playback's end lost while the websocket
        was down would leave them in silence, and the leg ours, for ever)."""
        assert leg.heard is not None
        if leg.ended.done():
            return CallerHungUp()
        heard: asyncio.Future[Event] = asyncio.ensure_future(leg.heard.get())
        either: set[asyncio.Future[Any]] = {heard, leg.ended}
        await asyncio.wait(
            either,
            timeout=self.question_silent_at_most.total_seconds(),
            return_when=asyncio.FIRST_COMPLETED,
        )
        if heard.done():
            return heard.result()
        heard.cancel()
        if not leg.ended.done():
            log.warning("ari.survey_unheard", after_s=self.question_silent_at_most.total_seconds())
        return CallerHungUp()

    async def _say(
        self,
        channel_id: str,
        leg: _Leg,
        commands: list[Command],
        timers: dict[str, asyncio.TimerHandle],
    ) -> None:
        """Carry out the question's media commands on the resident's leg."""
        heard = leg.heard
        assert heard is not None
        loop, config = asyncio.get_running_loop(), self.config
        for command in commands:
            if isinstance(command, Play | Ask) and command.prompts:
                ari_id = f"{channel_id}~{command.playback_id}"
                finished: asyncio.Future[None] = loop.create_future()
                finished.add_done_callback(
                    functools.partial(_tell, heard, PlaybackFinished(command.playback_id))
                )
                leg.playbacks[ari_id] = finished
                media = [m for ref in command.prompts for m in media_for(ref, config, self.ari)]
                language = command.prompts[0].language
                try:
                    await self.client.channels.play(
                        channel_id, media, lang=language, playback_id=ari_id
                    )
                except ProviderError:
                    leg.playbacks.pop(ari_id, None)
                    finished.set_result(None)  # never started: nothing will say it ended
            elif isinstance(command, StopPlayback):
                ari_id = f"{channel_id}~{command.playback_id}"
                leg.playbacks.pop(ari_id, None)
                with contextlib.suppress(ProviderError):
                    await self.client.playbacks.stop(ari_id)
            elif isinstance(command, SetTimer | ClearTimer):
                if (previous := timers.pop(command.name, None)) is not None:
                    previous.cancel()
                if isinstance(command, SetTimer):
                    fired = TimerFired(command.name, command.at)
                    delay = real_seconds(self.clock, command.at)
                    timers[command.name] = loop.call_later(delay, heard.put_nowait, fired)

    async def _let_go(self, channel_id: str) -> None:
        """We are done with a leg: hang it up unless Asterisk said it is destroyed."""
        leg = self._legs.pop(channel_id, None)
        if leg is not None and not leg.destroyed:
            await self._hang_up(channel_id)

    @contextlib.asynccontextmanager
    async def _handed_back_on_failure(self, *channel_ids: str) -> AsyncIterator[None]:
        """An attempt that fails with an error, or is cancelled (the worker stops), lets its
        legs go rather than leave a phone silent in our application."""
        try:
            yield
        except BaseException:
            for channel_id in channel_ids:
                await asyncio.shield(self._let_go(channel_id))
            raise

    async def _hang_up(self, channel_id: str) -> None:
        with contextlib.suppress(ProviderError):  # gone already
            await self.client.channels.hangup(channel_id, reason="normal")

    # -- events -------------------------------------------------------------------------------

    def _heard(self, event: ari_events.Event) -> None:
        match event:
            case ari_events.StasisStart(channel=channel, args=args):
                if (leg := self._legs.get(channel.id)) is not None:
                    self._started(channel.id, leg, args)
            case ari_events.ChannelDestroyed(channel=channel, cause=cause):
                if (leg := self._legs.get(channel.id)) is not None:
                    leg.destroyed = True
                self._ended(channel.id, cause)
            case ari_events.ChannelDtmfReceived(channel=channel, digit=digit):
                if (leg := self._legs.get(channel.id)) is not None and leg.heard is not None:
                    leg.heard.put_nowait(DigitPressed(digit))
            case ari_events.PlaybackFinished(playback=playback):
                channel_id = playback.id.partition("~")[0]
                if (leg := self._legs.get(channel_id)) is not None:
                    finished = leg.playbacks.pop(playback.id, None)
                    if finished is not None and not finished.done():
                        finished.set_result(None)

    def _started(self, channel_id: str, leg: _Leg, args: tuple[str, ...]) -> None:
        """A leg answered (its first ``StasisStart``). A resident's leg with machine
        detection goes through ``AMD()`` first and comes back with its verdict."""
        if leg.answered.done():
            return
        if args == ("resident",) and self.config.connect.machine_detection:
            self._spawn_detection(channel_id)
            return
        leg.answered.set_result(args)

    def _spawn_detection(self, channel_id: str) -> None:
        async def detect() -> None:
            try:
                await self.client.channels.continue_in_dialplan(
                    channel_id, context=self.ari.amd_context, extension="s", priority=1
                )
            except ProviderError as exc:
                log.warning("ari.amd_not_started", channel=channel_id, error=str(exc))
                await self._hang_up(channel_id)

        task = asyncio.get_running_loop().create_task(detect())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ended(self, channel_id: str, cause: int | None) -> None:
        leg = self._legs.get(channel_id)
        if leg is None:
            return
        if not leg.ended.done():
            leg.ended.set_result(cause)

    async def _resync(self, info: Connected) -> None:
        """Events lost while the websocket was down: a leg Asterisk no longer lists has
        ended. Only legs originated before the list was asked for are judged by it."""
        judged = [channel_id for channel_id, leg in self._legs.items() if leg.originated]
        present = {channel.id for channel in await self.client.channels.list()}
        for channel_id in judged:
            if channel_id not in present:
                self._ended(channel_id, None)


def _tell(heard: asyncio.Queue[Event], event: Event, _done: asyncio.Future[None]) -> None:
    heard.put_nowait(event)


def _leg_id(call: CallbackCall, role: str) -> str:
    return f"cf-cb-{call.callback_id}-{call.attempt_no}-{role}"
