"""Connecting queued callers: a free advisor is called, and takes the caller at the front.

Twilio holds the callers, one queue per topic; it hands over whoever is at
the front of a queue to a call that dials it (``<Dial><Queue>``). So when a
caller waits and an advisor who can serve them is free, the advisor's phone
is called (REST ``calls.create``) with TwiML that dials the topic's queue
(:meth:`~callflow.providers.twilio.legs.PlacedCalls.connect_answered`).

Who is called for whom is the engine's one matcher's choice
(:mod:`callflow.engine.matching`). Callers already being connected (the
front ones of a topic, as many as advisors are being called for it) are
not waiting for a match. Twilio's queues are served in order: an advisor
is called for a topic only if they can serve the first caller still
waiting, so nobody is handed a caller they cannot serve. The advisor is
marked busy in the same transaction that chooses them, with their row
locked: the callback dispatcher's claim skips them, and so does another
process connecting. One pass runs whenever a caller joins a queue and
every ``[connect] interval``. An advisor who could not be called is freed
or paused by the store's one rule for every provider
(:func:`~callflow.store.advisors.advisor_leg_ended`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.clock import Clock
from callflow.engine.matching import Queue
from callflow.errors import ProviderRejected, ProviderUnavailable
from callflow.providers.twilio.dialler import BAD_REQUEST, PROGRESS_EVENTS
from callflow.providers.twilio.params import FINAL_STATUSES
from callflow.providers.twilio.queue_reads import PROVIDER
from callflow.providers.twilio.rest import rest_call
from callflow.providers.twilio.settings import TwilioSettings
from callflow.providers.twilio.store import Writes, add_call
from callflow.service.passes import run_passes
from callflow.service.rules import LineRules
from callflow.store.advisors import LegEnd, advisor_leg_ended, take_matched_advisors
from callflow.store.queue_places import waiting_by_topic
from callflow.store.session import Database, OutageLog
from callflow.store.twilio_tables import TwilioCall, TwilioLeg

log = structlog.get_logger("callflow.twilio")


@dataclass(frozen=True, slots=True)
class Pick:
    """An advisor chosen (and marked busy) to take the front caller of *topic*."""

    advisor_id: int
    dial_string: str
    topic: str
    language: str


class QueueConnector:
    """Calls free advisors for queued callers; :meth:`run` until cancelled."""

    def __init__(
        self,
        settings: TwilioSettings,
        database: Database,
        clock: Clock,
        client: Any,
        *,
        rules: LineRules | None = None,
        writes: Writes | None = None,
    ) -> None:
        """*rules*: the line's rules in force (*settings*' configuration's, unchanging, if
        none)."""
        self.settings = settings
        self.rules = rules or LineRules.fixed(settings.config)
        self.database = database
        self.clock = clock
        self.outage = OutageLog(clock)
        """A database outage is two log lines, not a traceback each pass."""
        self.client = client
        self.writes = writes or Writes(database)
        self._woken: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def config(self) -> HotlineConfig:
        """The line's rules in force."""
        return self.rules.config

    def wake(self) -> None:
        """Look now (safe from any thread): a caller has joined a queue."""
        if self._loop is not None and self._woken is not None:
            self._loop.call_soon_threadsafe(self._woken.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        await run_passes(
            self.connect_waiting,
            self._woken,
            self.config.connect.interval.total_seconds(),
            self.outage,
            "twilio.connect_failed",
        )

    async def connect_waiting(self) -> int:
        """One pass: call an advisor for every queued caller one can be found for."""
        picks = await asyncio.to_thread(self._pick)
        for pick in picks:
            await self._call(pick)
        return len(picks)

    # -- choosing ---------------------------------------------------------------------------

    def _pick(self) -> list[Pick]:
        with self.writes.transaction() as session:
            now = self.clock.now()
            return [
                Pick(advisor.id, advisor.dial_string, pair.queue, pair.caller.language)
                for pair, advisor in take_matched_advisors(
                    session, lambda: self._waiting(session), now
                )
            ]

    def _waiting(self, session: Session) -> list[Queue]:
        """Each topic's callers waiting for a match, front first: those in its queue but
        the front ones the advisors being called for it will be handed."""
        being_connected = {
            topic: int(legs)
            for topic, legs in session.execute(
                select(TwilioCall.topic, func.count())
                .where(
                    TwilioCall.kind == TwilioLeg.CONNECT,
                    TwilioCall.ready_at.is_(None),
                    TwilioCall.status.not_in(FINAL_STATUSES),
                )
                .group_by(TwilioCall.topic)
            )
        }
        in_queue = waiting_by_topic(session, PROVIDER)
        return [
            Queue(
                topic,
                self.config.queues[topic].skill,
                in_queue.get(topic, [])[being_connected.get(topic, 0) :],
                served_in_order=self.config.provider.serves_queue_front_only,
            )
            for topic in self.config.queues
        ]

    # -- calling ----------------------------------------------------------------------------

    async def _call(self, pick: Pick) -> None:
        ids: dict[str, str | int] = {
            "advisor": pick.advisor_id,
            "topic": pick.topic,
            "lang": pick.language,
        }
        ring = self.config.connect.advisor_ring_timeout
        try:
            created = await rest_call(
                "calls.create",
                self.client.calls.create_async(
                    to=pick.dial_string,
                    from_=self.config.line.number,
                    url=self.settings.url("/twilio/connect/advisor", **ids),
                    method="POST",
                    status_callback=self.settings.url("/twilio/status", leg="connect", **ids),
                    status_callback_method="POST",
                    status_callback_event=PROGRESS_EVENTS,
                    timeout=max(1, round(ring.total_seconds())),
                ),
            )
        except ProviderRejected as exc:
            if exc.status == BAD_REQUEST:
                # Their phone cannot be called: the next caller should not wait on it.
                log.warning("advisor.not_callable", advisor_id=pick.advisor_id, code=exc.code)
                await asyncio.to_thread(self._not_called, pick, LegEnd.REFUSED)
            else:
                # Twilio refused our account or request: nothing of theirs.
                await asyncio.to_thread(self._not_called, pick, LegEnd.ENDED)
            return
        except ProviderUnavailable:
            log.warning("twilio.unavailable", advisor_id=pick.advisor_id)
            await asyncio.to_thread(self._not_called, pick, LegEnd.ENDED)
            return
        await asyncio.to_thread(self._remember, str(created.sid), pick, str(created.status))
        log.info("twilio.advisor_called", advisor_id=pick.advisor_id, topic=pick.topic)

    def _remember(self, sid: str, pick: Pick, status: str) -> None:
        with self.writes.transaction() as session:  # unless its first status callback did
            add_call(
                session, sid, TwilioLeg.CONNECT, self.clock.now(), status=status,
                advisor_id=pick.advisor_id, topic=pick.topic, language=pick.language,
            )  # fmt: skip

    def _not_called(self, pick: Pick, how: LegEnd) -> None:
        wrap_up = self.config.dispatch.wrap_up
        with self.writes.transaction() as session:
            advisor_leg_ended(session, pick.advisor_id, how, self.clock.now(), wrap_up=wrap_up)
