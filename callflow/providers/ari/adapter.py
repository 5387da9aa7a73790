"""The engine on Asterisk: one Stasis application, its calls, queues and advisors' legs.

:class:`AsteriskAdapter` routes each ARI event to the call it concerns
(:class:`~callflow.providers.ari.calls.InboundCall`) or to the advisor's
leg it concerns (:mod:`callflow.providers.ari.connector`), runs the
engine's steps with the store off the event loop (the steps of calls that
wait together share a commit: :mod:`~callflow.providers.ari.group_commit`),
and keeps what Asterisk holds in step with what the engine believes:

- **Queues** are one holding bridge per topic with music on hold; each
  waiting caller hears their own announcements on their own channel.
- **Advisors** for queued callers are rung by the connector; the leg that
  answers is joined with its caller in a mixing bridge.
- **Resync.** Events that happen while the websocket is down are lost, so
  every (re)connection compares the calls we hold with ``GET /channels``
  and ``GET /bridges``: a caller gone is a hang-up, a caller still waiting
  is put back in their queue's bridge, a playback that ended unheard is
  finished.
- **Restart.** Every step stores the engine's state with the call, so a
  new adapter process takes over the calls still up (:meth:`restore`).
- **Live rules.** Each step is taken under the line's rules in force when it
  starts (:class:`~callflow.service.rules.LineRules`). When they change, every
  caller waiting in a queue hears ``RulesChanged`` at once, through their own
  inbox: music on hold brings no other event until their next announcement,
  and a closure that starts while they wait applies the queue's closing
  policy to them now.
  Prompt files whose text changed are rendered again, or asked for
  (:mod:`~callflow.providers.ari.live_sounds`).
- **Dropped, not abandoned.** A caller's line the exchange lost is no
  abandon: the engine hears ``CallerHungUp(dropped=True)``. Asterisk says so
  in the ``ChannelHangupRequest`` before the ``StasisEnd``: a soft hang-up
  was asked inside Asterisk (a shutdown or restart, an operator; ours come
  only after the engine ended the call, so they change nothing), and a cause
  in :data:`~callflow.providers.ari.causes.EXCHANGE_FAULTS` names a fault of
  the network or of a carrier
  (27 destination out of order, 34 and 42 congestion, 38 network out of
  order, 41 temporary failure, 47 resources unavailable…). Any other cause
  is the caller's hang-up: a drop leaves the call out of the abandon and
  service-level figures, so only a cause that surely names a fault may make
  one (an unfamiliar cause is logged, to be added here if it is one). Callers whose
  channel vanished while the websocket was down were dropped if Asterisk has
  started since the previous connection (``GET /asterisk/info`` names a new
  ``startup_time``); that cannot be told on the first connection of a
  process, so they count as hang-ups then. An advisor's leg ended the same
  way is a dropped talk (``AdvisorHungUp(dropped=True)``): the caller is then
  not asked the recommendation question.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial

import structlog
from sqlalchemy import select

from callflow.config.models import AriConfig, HotlineConfig
from callflow.engine.clock import Clock
from callflow.engine.commands import Command
from callflow.engine.events import DigitPressed, Event, RulesChanged
from callflow.engine.flow import new_call
from callflow.engine.state import CallState, Phase
from callflow.errors import ChannelGone, PlaybackGone, ProviderError
from callflow.providers.ari import events as ari_events
from callflow.providers.ari.calls import InboundCall, Stepped
from callflow.providers.ari.causes import by_exchange
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.connector import AdvisorLegs
from callflow.providers.ari.group_commit import GroupCommit
from callflow.providers.ari.live_sounds import LiveSounds
from callflow.providers.ari.models import Channel, Snapshot
from callflow.providers.ari.playbacks import MOST_PLAYBACKS, ari_playback_id, engine_playback
from callflow.providers.ari.queue_reads import PROVIDER, AriQueueReads
from callflow.providers.ari.stream import Connected
from callflow.service.arrival import call_arrived
from callflow.service.calls import CallHandler, fixed
from callflow.service.rules import LineRules, RulesInForce
from callflow.store.calls import DirectJournal
from callflow.store.models import Call
from callflow.store.queue_places import keep_only
from callflow.store.session import Database, OutageLog

log = structlog.get_logger("callflow.ari")

QUEUE_BRIDGE_PREFIX = "cf-queue-"


class AsteriskAdapter:
    """Runs the line's inbound calls on one Stasis application until cancelled."""

    def __init__(
        self,
        config: HotlineConfig,
        database: Database,
        clock: Clock,
        client: AriClient,
        *,
        rules: LineRules | None = None,
        sounds: LiveSounds | None = None,
        on_callback_change: Callable[[int], None] | None = None,
    ) -> None:
        """*config* says how to reach Asterisk (``[provider.ari]``, kept as it was at
        start); *rules* are the line's rules in force (*config*'s, unchanging, if none);
        *sounds* keeps their prompt files on Asterisk (rendered into Asterisk's own
        sounds directory where it is here, if none)."""
        assert config.provider.ari is not None
        self.rules = rules or LineRules.fixed(config)
        self.ari: AriConfig = config.provider.ari
        self.database = database
        self.clock = clock
        self.client = client
        self.sounds = sounds or LiveSounds(self.rules, self.ari)
        # What it reads of the configuration (skills, promises, default handle times) is
        # not changed while the line runs.
        self.queue_reads = AriQueueReads(config)
        self._journal = DirectJournal()
        self._on_callback_change = on_callback_change
        self.calls: dict[str, InboundCall] = {}
        """By the caller's channel id."""
        self.advisors = AdvisorLegs(self)
        # SQLite takes one writer at a time: more threads would only queue for its lock.
        threads = 1 if database.engine.dialect.name == "sqlite" else 4
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="callflow-ari")
        self.steps = GroupCommit(database, self.executor)
        self._bridged_queues: set[str] = set()
        self.outage = OutageLog(clock)
        """A database outage is two log lines, however many calls and passes fail in it."""
        self._dropped: set[str] = set()
        """Callers' channels whose hang-up request named a fault of the exchange."""
        self._asterisk_started: datetime | None = None
        """Asterisk's ``startup_time`` at the last connection."""
        self._serving = False
        """:meth:`run` is running: changes of the rules are followed."""

    @property
    def config(self) -> HotlineConfig:
        """The line's rules in force."""
        return self.rules.config

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Take over the calls a previous process left, then serve events until cancelled."""
        events = self.client.events.subscribe()
        self._serving = True
        self._follow_rules(asyncio.get_running_loop())
        await self.restore()
        stream = asyncio.create_task(self.client.events.run(on_connected=self.resync))
        connector = asyncio.create_task(self.advisors.run())
        try:
            async for event in events:
                self.on_event(event)
        finally:
            self._serving = False
            events.close()
            connector.cancel()
            await self.client.events.stop()
            for task in (stream, connector):
                with contextlib.suppress(asyncio.CancelledError, ProviderError):
                    await task
            for call in list(self.calls.values()):
                await call.stop()
            await self.steps.close()
            self.executor.shutdown(wait=True)

    def on_event(self, event: ari_events.Event) -> None:
        """Route one event; unrelated ones (other applications' channels) are ignored."""
        match event:
            case ari_events.StasisStart(channel=channel, args=args):
                if args and args[0] == "advisor":
                    self.advisors.answered(channel.id)
                elif not args:
                    self._arrived(channel)
            case ari_events.ChannelDtmfReceived(channel=channel, digit=digit):
                if (call := self.calls.get(channel.id)) is not None:
                    call.deliver(DigitPressed(digit))
            case ari_events.PlaybackFinished(playback=playback):
                if (ours := engine_playback(playback.id)) is not None:
                    channel_id, playback_id, _ = ours
                    if (call := self.calls.get(channel_id)) is not None:
                        if playback.state == "failed":
                            log.warning("ari.playback_failed", media=playback.media_uri)
                        call.playback_ended(playback_id, playback.id)
            case ari_events.ChannelHangupRequest(channel=channel, cause=cause, soft=soft):
                call = self.calls.get(channel.id)
                live = call is not None and call.state.phase is not Phase.ENDED
                if live and by_exchange(cause, soft):
                    self._dropped.add(channel.id)
                elif call is None and channel.id in self.advisors.legs and by_exchange(cause, soft):
                    self.advisors.lost(channel.id)  # an advisor's talk the exchange cut
            case ari_events.StasisEnd(channel=channel):
                dropped = channel.id in self._dropped
                self._dropped.discard(channel.id)
                if (call := self.calls.get(channel.id)) is not None:
                    call.hung_up(dropped=dropped)
                else:
                    self.advisors.ended(channel.id, None)
            case ari_events.ChannelDestroyed(channel=channel, cause=cause):
                self.advisors.ended(channel.id, cause)

    def _arrived(self, channel: Channel) -> None:
        if channel.id in self.calls:
            return
        now = self.clock.now()
        number = channel.caller.number
        call = InboundCall(self, channel.id, new_call(_new_call_id(), now))
        self.calls[channel.id] = call
        log.info("ari.call_arrived", channel=channel.id, number=number.strip())
        call.start()
        call.deliver(call_arrived(number, self.config))

    # -- the rules changing -------------------------------------------------------------------

    def _follow_rules(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hear of new rules (in whichever thread put them in force) on *loop*."""
        self.sounds.follow()  # settings stored before this process started

        def heard(_rules: RulesInForce) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the line has stopped
                loop.call_soon_threadsafe(self._rules_changed)

        self.rules.on_change(heard)

    def _rules_changed(self) -> None:
        """New rules: their prompt files on their way to Asterisk, and every caller waiting
        in a queue told (see the module docstring)."""
        if not self._serving:
            return
        self.sounds.follow()
        waiting = [
            call
            for call in self.calls.values()
            if call.state.in_queue and not (call.gone or call.failed)
        ]
        for call in waiting:
            call.deliver(RulesChanged())
        if waiting:
            log.info("ari.rules_told", version=self.rules.current.version, waiting=len(waiting))

    # -- what a call asks of us (InboundCall's Exchange) ---------------------------------------

    async def step(self, state: CallState, event: Event, channel_id: str) -> Stepped:
        """One step, under the rules in force as it starts: what it decides and the words
        its prompts are said in are of the same rules. Its store work shares a commit with
        other calls' steps (:mod:`~callflow.providers.ari.group_commit`); *state* takes
        the result once that has committed."""
        now = self.clock.now()
        rules = self.rules.current
        handler = self.handler(rules)

        def work() -> tuple[CallState, list[Command]]:
            stepped = state.copy()  # the call's own state waits for the commit
            return stepped, handler.handle(stepped, event, now, provider_ref=channel_id)

        stepped, commands = await self.steps.run(work)
        state.adopt(stepped)
        self.outage.succeeded()
        return Stepped(commands, rules.config)

    def handler(self, rules: RulesInForce) -> CallHandler:
        """The engine with the store, for one step under *rules*, inside
        :attr:`steps`."""
        return CallHandler(
            self.database,
            fixed(rules.context),
            self.queue_reads,
            provider=PROVIDER,
            unit_of_work=self.steps.unit,
            journal=self._journal,
            on_callback_change=self._callback_changed,
        )

    def _callback_changed(self, callback_id: int) -> None:
        """Whoever dispatches callbacks hears of a request stored or cancelled once that
        is committed."""
        if self._on_callback_change is not None:
            self.steps.after_commit(partial(self._on_callback_change, callback_id))

    async def join_queue(self, call: InboundCall, topic: str) -> None:
        bridge_id = QUEUE_BRIDGE_PREFIX + topic
        if topic not in self._bridged_queues:
            with contextlib.suppress(ProviderError):  # 409: it is there already
                await self.client.bridges.create("holding", bridge_id=bridge_id, name=topic)
            self._bridged_queues.add(topic)
        await self.client.bridges.add_channel(bridge_id, call.channel_id, role="participant")
        # The music stops when the last caller leaves the bridge: start it with each one.
        await self.client.bridges.start_moh(bridge_id, self.ari.hold_music)
        self.advisors.wake()

    async def leave_queue(self, call: InboundCall, topic: str) -> None:
        with contextlib.suppress(ChannelGone, ProviderError):  # 422: not in it any more
            await self.client.bridges.remove_channel(QUEUE_BRIDGE_PREFIX + topic, call.channel_id)

    async def join_advisor(self, call: InboundCall, advisor_id: str) -> None:
        await self.advisors.join(call, advisor_id)

    async def release_advisor(self, call: InboundCall, advisor_id: str) -> None:
        await self.advisors.release(call)

    def call_ended(self, call: InboundCall) -> None:
        self.calls.pop(call.channel_id, None)
        self._dropped.discard(call.channel_id)
        self.advisors.caller_left(call)

    def waiting(self, topic: str) -> list[tuple[datetime, str]]:
        """The callers in *topic*'s queue, in line order (the engine's own)."""
        return sorted(
            (call.state.queue_entered_at, call.state.call_id)
            for call in list(self.calls.values())
            if call.state.in_queue
            and call.state.topic == topic
            and call.state.queue_entered_at is not None
        )

    def queued_calls(self, topic: str) -> list[InboundCall]:
        """The live calls waiting in *topic*'s queue, front first."""
        by_id = {call.state.call_id: call for call in self.calls.values() if not call.gone}
        return [by_id[call_id] for _, call_id in self.waiting(topic) if call_id in by_id]

    # -- restart and resync --------------------------------------------------------------------

    async def restore(self) -> None:
        """Take over the calls a previous adapter process was serving (their states are
        in the store); :meth:`resync` then checks each against Asterisk."""
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(self.executor, self._take_over_calls)
        for channel_id, state in rows:
            if channel_id in self.calls:
                continue
            call = InboundCall(self, channel_id, state)
            self.calls[channel_id] = call
            call.start()
        if rows:
            log.info("ari.calls_restored", calls=len(rows))

    def _take_over_calls(self) -> list[tuple[str, CallState]]:
        """The calls left unfinished, by channel; the store's queue places become theirs
        (a call of this line that ended with nobody to step it leaves its place)."""
        with self.database.transaction() as session:
            rows = session.execute(
                select(Call.provider_ref, Call.flow_state).where(
                    Call.provider == PROVIDER,
                    Call.ended_at.is_(None),
                    Call.flow_state.is_not(None),
                    Call.provider_ref.is_not(None),
                )
            )
            restored = []
            for channel_id, document in rows:
                state = CallState.from_dict(document)
                if state.phase is not Phase.ENDED and channel_id is not None:
                    restored.append((channel_id, state))
            keep_only(session, PROVIDER, (state for _, state in restored))
            return restored

    async def resync(self, info: Connected) -> None:
        """The websocket is (re)connected: bring what we hold in step with Asterisk."""
        judged_legs = self.advisors.originated()  # a leg rung meanwhile may not be listed
        restarted = await self._asterisk_restarted()
        snapshot = await self.client.snapshot()
        channels = {channel.id for channel in snapshot.channels}
        bridges = {bridge.id: bridge for bridge in snapshot.bridges}
        self._bridged_queues = {
            bridge_id.removeprefix(QUEUE_BRIDGE_PREFIX)
            for bridge_id in bridges
            if bridge_id.startswith(QUEUE_BRIDGE_PREFIX)
        }
        closed = requeued = 0
        for call in list(self.calls.values()):
            if call.channel_id not in channels:
                closed += call.hung_up(dropped=restarted or call.channel_id in self._dropped)
                self._dropped.discard(call.channel_id)
                continue
            if await self._resync_call(call, snapshot):
                requeued += 1
        await self.advisors.resync(snapshot, judged_legs)
        log.info(
            "ari.resynced",
            connection=info.number,
            calls=len(self.calls),
            closed=closed,
            requeued=requeued,
        )

    async def _asterisk_restarted(self) -> bool:
        """Whether Asterisk has started again since the last connection: every channel it
        had then is lost, the callers' lines dropped by the exchange."""
        started = (await self.client.asterisk.get_info(["status"])).startup_time
        previous, self._asterisk_started = self._asterisk_started, started
        restarted = None not in (previous, started) and started != previous
        if restarted:
            log.warning("ari.asterisk_restarted", startup_time=str(started))
        return restarted

    async def _resync_call(self, call: InboundCall, snapshot: Snapshot) -> bool:
        """One call still up: its playbacks and its place in a queue; True if it had to be
        put back in its queue's bridge."""
        state = call.state
        playback_id = state.playback or (state.survey.playback if state.survey else None)
        if playback_id is not None and playback_id not in call.playing:
            await self._pick_up_playback(call, playback_id)
        for tracked in call.playing:
            await self._check_playbacks(call, tracked)
        if not state.in_queue or state.topic is None:
            return False
        bridge_id = QUEUE_BRIDGE_PREFIX + state.topic
        held = any(
            bridge.id == bridge_id and call.channel_id in bridge.channels
            for bridge in snapshot.bridges
        )
        if held:
            return False
        await call.guarded(self.join_queue(call, state.topic))
        return True

    async def _pick_up_playback(self, call: InboundCall, playback_id: str) -> None:
        """A restored call whose engine waits for a playback: follow its ARI playbacks
        still under way, or tell the engine it is over. (An engine playback is
        :data:`~callflow.providers.ari.playbacks.MOST_PLAYBACKS` ARI playbacks at most, and
        finished ones are unknown to Asterisk.)"""
        alive = []
        for n in range(MOST_PLAYBACKS):
            ari_id = ari_playback_id(call.channel_id, playback_id, n)
            try:
                await self.client.playbacks.get(ari_id)
            except PlaybackGone:
                continue
            except ProviderError:
                return  # Asterisk is out of reach again: the next resync looks
            alive.append(ari_id)
        call.follow_playback(playback_id, alive)

    async def _check_playbacks(self, call: InboundCall, playback_id: str) -> None:
        """Playbacks that finished while the websocket was down finish now."""
        for ari_id in call.unfinished(playback_id):
            try:
                await self.client.playbacks.get(ari_id)
            except PlaybackGone:
                call.playback_ended(playback_id, ari_id)
            except ProviderError:
                return


def _new_call_id() -> str:
    return str(uuid.uuid4())
