"""Advisors' legs for queued callers: ring a free advisor, join them with the caller.

Whenever a caller joins a queue (and every few seconds as a safety net),
the callers without an advisor on the way are paired with free advisors
by the engine's one matcher (:mod:`callflow.engine.matching`), each
advisor made busy in the store in the same transaction that chooses them
(so the callback dispatcher and other connectors pass them over). Asterisk
can bridge any caller, so nobody waits behind a caller no free advisor
can serve. The advisor's phone is rung by an originate into our Stasis
application; when they answer, the engine hears ``AdvisorConnected`` and
the two channels share a mixing bridge. When the advisor hangs up first,
Asterisk leaves the caller alone in that bridge, still in our application:
the bridge goes, and the engine hears ``AdvisorHungUp`` (``dropped`` when the
exchange, not the advisor, ended the leg) and decides what the caller hears
next, the recommendation question or nothing.

A leg is for one caller. If that caller has left by the time the advisor
answers, the advisor is thanked with a hang-up. How the leg ended (a talk,
nothing, refused, not answered) is all this module decides; what that
means for the advisor is the store's one rule for every provider
(:func:`~callflow.store.advisors.advisor_leg_ended`).

Leg channel ids are ``cf-adv-<advisor>-<n>-<call id>``, so a restarted
adapter can tell whose leg a channel it finds is. A resync judges only the
legs whose originate Asterisk had answered before the channel list was
asked for (a list asked at the moment of an originate can miss the new
channel, traces README), and a leg it declares gone is hung up all the same,
so no advisor is ever left on a silent line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from sqlalchemy.orm import Session

from callflow.engine.events import AdvisorConnected, AdvisorHungUp
from callflow.engine.matching import Queue, WaitingCaller
from callflow.engine.state import Phase
from callflow.errors import ProviderError, ProviderRejected
from callflow.providers.ari.calls import InboundCall
from callflow.providers.ari.dialler import result_of_cause
from callflow.providers.ari.models import Snapshot
from callflow.service.passes import run_passes
from callflow.store.advisors import (
    LegEnd,
    TakenAdvisor,
    advisor_leg_ended,
    take_matched_advisors,
)

if TYPE_CHECKING:
    from callflow.providers.ari.adapter import AsteriskAdapter

log = structlog.get_logger("callflow.ari")

LEG_PREFIX = "cf-adv-"
TALK_BRIDGE_PREFIX = "cf-talk-"
T = TypeVar("T")


@dataclass(slots=True)
class Leg:
    channel_id: str
    advisor_id: int
    call: InboundCall
    answered: bool = False
    connected_at: datetime | None = None
    let_go: bool = False
    """Hung up by us before it joined anyone: the advisor is free at once."""
    originated: bool = False
    """Asterisk has answered its originate, so a channel list asked for later shows it."""
    lost: bool = False
    """The exchange ended it (a fault, a restart), not the advisor: the talk was dropped,
    and the caller is not asked the recommendation question."""


class AdvisorLegs:
    """The advisors' legs of one adapter; :meth:`run` connects queued callers."""

    def __init__(self, adapter: AsteriskAdapter) -> None:
        self.adapter = adapter
        self.legs: dict[str, Leg] = {}
        self._numbers = itertools.count(1)
        self._woken = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()

    def wake(self) -> None:
        self._woken.set()

    async def run(self) -> None:
        await run_passes(
            self.connect_waiting,
            self._woken,
            self.adapter.config.connect.interval.total_seconds(),
            self.adapter.outage,
            "ari.connect_failed",
        )

    async def connect_waiting(self) -> int:
        """One pass: ring the advisor the matcher gives each waiting caller it pairs."""
        adapter = self.adapter
        if not adapter.config.connect.queued:
            return 0
        waiting: dict[str, InboundCall] = {}
        queues = []
        for topic, queue in adapter.config.queues.items():
            callers = []
            for call in adapter.queued_calls(topic):
                caller = _waiting_for_a_match(call)
                if caller is not None:
                    callers.append(caller)
                    waiting[caller.call_id] = call
            queues.append(Queue(topic, queue.skill, callers))
        if not waiting:
            return 0
        taken = await self._in_store(
            lambda session, now: take_matched_advisors(session, lambda: queues, now)
        )
        rung = 0
        for pair, advisor in taken:
            call = waiting[pair.caller.call_id]
            if call.gone or call.failed or not call.state.in_queue:
                # Gone while the store was asked: the advisor is free as they were.
                await self._leg_over(advisor.id, LegEnd.ENDED)
                self.wake()
                continue
            await self._ring(call, advisor)
            rung += 1
        return rung

    async def _ring(self, call: InboundCall, advisor: TakenAdvisor) -> None:
        adapter = self.adapter
        channel_id = f"{LEG_PREFIX}{advisor.id}-{next(self._numbers)}-{call.state.call_id}"
        leg = self.legs[channel_id] = Leg(channel_id, advisor.id, call)
        call.advisor_leg = channel_id
        try:
            await adapter.client.channels.originate(
                advisor.dial_string,
                app=adapter.ari.app,
                app_args=("advisor", str(advisor.id)),
                caller_id=adapter.config.line.number,
                timeout=max(1, round(adapter.config.connect.advisor_ring_timeout.total_seconds())),
                channel_id=channel_id,
            )
        except ProviderError as exc:
            self.legs.pop(channel_id, None)
            call.advisor_leg = None
            log.warning("ari.advisor_not_rung", advisor_id=advisor.id, error=str(exc))
            # A dial string Asterisk refuses will not work next time either; an Asterisk
            # out of reach is nobody's fault, and the advisor is free as before.
            if isinstance(exc, ProviderRejected):
                await self._leg_over(advisor.id, LegEnd.REFUSED)
                return
            # No answer is not no channel: it may be ringing the advisor, for nobody.
            self._spawn(self._hang_up(channel_id))
            await self._leg_over(advisor.id, LegEnd.ENDED)
            return
        leg.originated = True
        log.info("ari.advisor_rung", advisor_id=advisor.id, channel=channel_id)

    # -- events ----------------------------------------------------------------------------

    def answered(self, channel_id: str) -> None:
        """The advisor picked up: join them with their caller, if still waiting."""
        leg = self.legs.get(channel_id)
        if leg is None:
            self._spawn(self._hang_up(channel_id))  # not ours to serve
            return
        leg.answered = True
        call = leg.call
        if call.gone or call.failed or not call.state.in_queue or call.advisor_leg != channel_id:
            self._let_go(leg)
            return
        call.deliver(AdvisorConnected(str(leg.advisor_id)))

    def lost(self, channel_id: str) -> None:
        """Asterisk is ending the advisor's leg for no person's choice
        (:func:`~callflow.providers.ari.causes.by_exchange`): its end is a dropped talk."""
        leg = self.legs.get(channel_id)
        if leg is not None:
            leg.lost = True

    def ended(self, channel_id: str, cause: int | None) -> None:
        """An advisor's leg is over (``StasisEnd``, or ``ChannelDestroyed`` with *cause*)."""
        leg = self.legs.pop(channel_id, None)
        if leg is None:
            return
        adapter, call = self.adapter, leg.call
        now = adapter.clock.now()
        if call.advisor_leg == channel_id:
            call.advisor_leg = None
            if leg.connected_at is not None and call.state.phase is Phase.CONNECTED:
                call.deliver(AdvisorHungUp(dropped=leg.lost))
        if leg.connected_at is not None:
            topic = call.state.topic
            if topic is not None:
                adapter.queue_reads.handles.add(topic, now - leg.connected_at)
            self._spawn(self._destroy_talk(call))
            how = LegEnd.TALKED
        elif leg.answered or leg.let_go:
            how = LegEnd.ENDED
        else:
            log.warning("ari.advisor_no_answer", advisor_id=leg.advisor_id, cause=cause)
            how = LegEnd.unanswered(result_of_cause(cause))
        self._spawn(self._leg_over(leg.advisor_id, how))
        self.wake()  # the caller (or another) may still be waiting

    # -- what the engine asks ---------------------------------------------------------------

    async def join(self, call: InboundCall, advisor_id: str) -> None:
        leg = self.legs.get(call.advisor_leg or "")
        if leg is None:
            log.error("ari.advisor_leg_missing", advisor_id=advisor_id)
            return
        bridge_id = TALK_BRIDGE_PREFIX + call.state.call_id
        client = self.adapter.client
        await client.bridges.create("mixing", bridge_id=bridge_id, name="talk")
        await client.bridges.add_channel(bridge_id, [call.channel_id, leg.channel_id])
        leg.connected_at = self.adapter.clock.now()
        log.info("ari.advisor_joined", advisor_id=leg.advisor_id, channel=call.channel_id)

    async def release(self, call: InboundCall) -> None:
        leg = self.legs.get(call.advisor_leg or "")
        call.advisor_leg = None
        if leg is not None:
            self._let_go(leg)

    def caller_left(self, call: InboundCall) -> None:
        """The call is over: its advisor's leg, talking or still ringing, ends too."""
        leg = self.legs.get(call.advisor_leg or "")
        if leg is None:
            return
        if leg.connected_at is None:
            leg.let_go = True
        self._spawn(self._hang_up(leg.channel_id))

    def originated(self) -> frozenset[str]:
        """The legs a channel list asked for from now on can judge (see :meth:`resync`)."""
        return frozenset(channel_id for channel_id, leg in self.legs.items() if leg.originated)

    async def resync(self, snapshot: Snapshot, judged: frozenset[str]) -> None:
        """Legs of *judged* (:meth:`originated` before *snapshot* was asked for) that it
        lacks ended unheard: they end now, and are hung up should they be up after all.
        Legs a previous process rang are taken over if their caller is still talking to
        them, and let go otherwise; a talk whose advisor's leg ended while no process was
        listening ends too."""
        present = {channel.id for channel in snapshot.channels}
        # Calls restored by a new process: their advisor's leg is known only if it is up.
        legless = [
            call
            for call in self.adapter.calls.values()
            if call.state.phase is Phase.CONNECTED and call.advisor_leg is None
        ]
        for channel_id in [c for c in judged if c in self.legs and c not in present]:
            self.lost(channel_id)  # gone while no one heard why: a talk lost, not ended
            self.ended(channel_id, None)
            await self._hang_up(channel_id)
        by_call = {call.state.call_id: call for call in self.adapter.calls.values()}
        for channel_id in present - set(self.legs):
            parsed = _parse_leg(channel_id)
            if parsed is None:
                continue
            advisor_id, call_id = parsed
            call = by_call.get(call_id)
            leg = Leg(channel_id, advisor_id, call) if call is not None else None
            if leg is not None and call is not None and call.state.phase is Phase.CONNECTED:
                leg.answered = True
                leg.connected_at = self.adapter.clock.now()
                call.advisor_leg = channel_id
                self.legs[channel_id] = leg
                continue
            log.info("ari.stray_advisor_leg", channel=channel_id)
            if leg is not None:
                leg.let_go = True
                self.legs[channel_id] = leg
            await self._hang_up(channel_id)
        for call in legless:
            if call.advisor_leg is None:
                self._talk_lost(call)

    def _talk_lost(self, call: InboundCall) -> None:
        """The advisor's leg went while no process held it: the caller hears the talk is
        over, and the advisor (busy in the store since) starts their wrap-up now."""
        advisor_id = call.state.advisor_id
        log.warning("ari.talk_lost", call_id=call.state.call_id, advisor_id=advisor_id)
        if not call.gone:
            call.deliver(AdvisorHungUp(dropped=True))  # nobody chose to end the talk
        self._spawn(self._destroy_talk(call))
        if advisor_id is not None and advisor_id.isdigit():
            self._spawn(self._leg_over(int(advisor_id), LegEnd.TALKED))

    # -- helpers ----------------------------------------------------------------------------

    def _let_go(self, leg: Leg) -> None:
        leg.let_go = True
        self._spawn(self._hang_up(leg.channel_id))

    async def _hang_up(self, channel_id: str) -> None:
        with contextlib.suppress(ProviderError):  # gone already: that is what we wanted
            await self.adapter.client.channels.hangup(channel_id, reason="normal")

    async def _destroy_talk(self, call: InboundCall) -> None:
        with contextlib.suppress(ProviderError):
            await self.adapter.client.bridges.destroy(TALK_BRIDGE_PREFIX + call.state.call_id)

    async def _leg_over(self, advisor_id: int, how: LegEnd) -> None:
        wrap_up = self.adapter.config.dispatch.wrap_up
        await self._in_store(
            lambda session, now: advisor_leg_ended(session, advisor_id, how, now, wrap_up=wrap_up)
        )

    async def _in_store(self, work: Callable[[Session, datetime], T]) -> T:
        adapter = self.adapter

        def run() -> T:
            with adapter.database.transaction() as session:
                return work(session, adapter.clock.now())

        return await asyncio.get_running_loop().run_in_executor(adapter.executor, run)

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ari.advisor_step_failed", error=str(task.exception()))


def _waiting_for_a_match(call: InboundCall) -> WaitingCaller | None:
    """*call* as the matcher sees it; None if it is not waiting for a match (an advisor
    is being rung for it already, its language is not chosen, or it failed)."""
    state = call.state
    if call.advisor_leg is not None or call.failed:
        return None
    if state.language is None or state.queue_entered_at is None:
        return None
    return WaitingCaller(state.queue_entered_at, state.call_id, state.language)


def _parse_leg(channel_id: str) -> tuple[int, str] | None:
    if not channel_id.startswith(LEG_PREFIX):
        return None
    advisor, _, rest = channel_id.removeprefix(LEG_PREFIX).partition("-")
    _, _, call_id = rest.partition("-")
    if not advisor.isdigit() or not call_id:
        return None
    return int(advisor), call_id
