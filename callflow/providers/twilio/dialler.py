"""Callbacks over Twilio: the :class:`~callflow.providers.port.CallbackDialler` it implements.

The advisor's phone is called first (REST ``calls.create``); when they pick
up they hear the whisper and then wait in a conference of the attempt's own
(:mod:`callflow.providers.twilio.legs`). Only then is the resident called,
from the line's number, with answering-machine detection if configured; a
person who answers joins the conference, a machine is hung up on. The
outcome comes from the resident leg's status callbacks: completed after
joining is reached (for as long as Twilio says it lasted), a machine is a
machine and never reached, and no-answer, busy, failed and canceled are
what they say. When the advisor's call ends first, the attempt is reached
at once, its talk timed from the resident's joining to that end: the
resident's call may go on to the recommendation question
(:mod:`~callflow.providers.twilio.callback_survey`), which neither the
attempt nor the advisor's wrap-up waits for.

Each leg is placed once per call of a method, and the dispatcher calls
``dial_resident`` once per attempt (after recording the attempt as dialled),
so a retried status callback or webhook can never place a second call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog

from callflow.engine.clock import Clock
from callflow.engine.vocabulary import AttemptResult
from callflow.errors import ProviderRejected
from callflow.providers.port import AdvisorLeg, CallbackCall, ResidentCall
from callflow.providers.twilio.legs import LegView, LegWatch, unanswered_result
from callflow.providers.twilio.rest import rest_call
from callflow.providers.twilio.settings import TwilioSettings
from callflow.providers.twilio.store import (
    LegNews,
    Writes,
    add_call,
    apply_news,
    locked_call,
    read_call,
    save_call,
)
from callflow.service.passes import woken_or_after
from callflow.service.rules import LineRules
from callflow.store.session import Database
from callflow.store.twilio_tables import TwilioLeg

log = structlog.get_logger("callflow.twilio")

PROGRESS_EVENTS = ["initiated", "ringing", "answered", "completed"]
WHISPER_ALLOWANCE = timedelta(seconds=60)
"""Beyond the ring timeout, how long an advisor's pick-up and whisper may take."""
ANSWER_ALLOWANCE = timedelta(seconds=60)
"""Beyond the ring timeout, how long detection and Twilio's own delays may take."""
BAD_REQUEST = 400
"""Twilio refuses what was asked (the number, mostly); any other refusal is about the
account or the request itself and is raised: the attempt is then handed back by the lease."""
NOT_A_NUMBER = frozenset({"21211", "21214", "21217", "13224"})
"""Twilio's codes for a number that cannot be called at all: a wrong number, not a retry."""

NO_TIME = timedelta(0)

Views = dict[str, LegView | None]


class TwilioDialler:
    """Places a callback's calls through Twilio's REST API."""

    def __init__(
        self,
        settings: TwilioSettings,
        database: Database,
        clock: Clock,
        client: Any,
        watch: LegWatch,
        *,
        rules: LineRules | None = None,
    ) -> None:
        """*rules*: the line's rules in force (*settings*' configuration's, unchanging, if
        none)."""
        self.settings = settings
        self.rules = rules or LineRules.fixed(settings.config)
        self.database = database
        self.clock = clock
        self.client = client
        self.watch = watch
        self.writes = Writes(database)

    async def ring_advisor(self, call: CallbackCall, timeout: timedelta) -> AdvisorLeg | None:
        if not call.advisor_dial_string:
            log.warning("advisor.no_phone", advisor_id=call.advisor_id)
            return None
        try:
            sid = await self._place(
                call,
                TwilioLeg.ADVISOR,
                call.advisor_dial_string,
                "/twilio/callback/advisor",
                timeout,
            )
        except ProviderRejected as exc:
            if exc.status != BAD_REQUEST:
                raise  # our account or our request, not the advisor's phone
            log.warning("advisor.not_callable", advisor_id=call.advisor_id, code=exc.code)
            return None
        views = await self._watch([sid], _advisor_settled(sid), timeout + WHISPER_ALLOWANCE)
        leg = views[sid]
        if leg is not None and leg.ready and not leg.final:
            return AdvisorLeg(sid)
        if leg is None or not leg.final:
            await self._stop(sid, answered=leg is not None and leg.answered)
        return None

    async def dial_resident(self, call: CallbackCall, leg: AdvisorLeg) -> ResidentCall:
        connect = self.rules.config.connect
        ring = connect.resident_ring_timeout
        try:
            sid = await self._place(
                call,
                TwilioLeg.RESIDENT,
                call.number_e164,
                "/twilio/callback/resident",
                ring,
                detect_machines=connect.machine_detection,
            )
        except ProviderRejected as exc:
            if exc.status != BAD_REQUEST:
                raise
            wrong = exc.code in NOT_A_NUMBER
            result = AttemptResult.WRONG_NUMBER if wrong else AttemptResult.FAILED
            log.info("callback.resident_not_callable", callback_id=call.callback_id, code=exc.code)
            return ResidentCall(result)
        views = await self._watch(
            [sid, leg.ref], _resident_settled(sid, leg.ref), ring + ANSWER_ALLOWANCE
        )
        resident, advisor = views[sid], views[leg.ref]
        if resident is None or not (resident.final or resident.ready or resident.machine):
            # Nobody answered in time, or the advisor gave up while it rang.
            await self._stop(sid, answered=False)
            gone = advisor is not None and advisor.final
            return ResidentCall(AttemptResult.INTERRUPTED if gone else AttemptResult.NO_ANSWER)
        views = await self._watch([sid, leg.ref], _talk_over(sid, leg.ref), None)
        return _outcome(views[sid], views[leg.ref])

    async def hang_up(self, leg: AdvisorLeg) -> None:
        await self._stop(leg.ref, answered=True)

    # -- placing and stopping calls -------------------------------------------------------

    async def _place(
        self,
        call: CallbackCall,
        kind: TwilioLeg,
        to: str,
        path: str,
        ring: timedelta,
        *,
        detect_machines: bool = False,
    ) -> str:
        ids = {"cb": call.callback_id, "n": call.attempt_no}
        options: dict[str, Any] = {
            "to": to,
            "from_": call.caller_id,
            "url": self.settings.url(path, **ids),
            "method": "POST",
            "status_callback": self.settings.url("/twilio/status", leg=kind.value, **ids),
            "status_callback_method": "POST",
            "status_callback_event": PROGRESS_EVENTS,
            "timeout": max(1, round(ring.total_seconds())),
        }
        if detect_machines:
            options["machine_detection"] = "Enable"
        created = await rest_call("calls.create", self.client.calls.create_async(**options))
        sid = str(created.sid)
        await asyncio.to_thread(self._remember, sid, kind, call, str(created.status))
        log.info("twilio.call_placed", leg=kind.value, callback_id=call.callback_id, call_sid=sid)
        return sid

    def _remember(self, sid: str, kind: TwilioLeg, call: CallbackCall, status: str) -> None:
        with self.writes.transaction() as session:  # unless its first status callback did
            add_call(
                session, sid, kind, self.clock.now(), status=status,
                callback_id=call.callback_id, attempt_no=call.attempt_no,
                advisor_id=call.advisor_id,
            )  # fmt: skip

    async def _stop(self, sid: str, *, answered: bool) -> None:
        """End a call: a ringing one is canceled, an answered one hung up. One already
        over is left as it is."""
        status = "completed" if answered else "canceled"
        with contextlib.suppress(ProviderRejected):
            await rest_call("calls.update", self.client.calls(sid).update_async(status=status))

    # -- waiting for news -----------------------------------------------------------------

    async def _watch(
        self, sids: Sequence[str], done: Callable[[Views], bool], within: timedelta | None
    ) -> Views:
        """The legs' rows once *done* says so, or when *within* has passed.

        News wakes the wait at once when its webhook lands in this process; else the
        rows are read again every ``status_wait``, and after ``status_check`` without
        any change Twilio is asked directly (a status callback can be lost).
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = None if within is None else started + within.total_seconds()
        step = self.settings.twilio.status_wait.total_seconds()
        check = self.settings.twilio.status_check.total_seconds()
        with self.watch.watching(*sids) as news:
            views = await asyncio.to_thread(self._read, sids)
            changed_at = loop.time()
            while not done(views):
                now = loop.time()
                if deadline is not None and now >= deadline:
                    break
                pause = step if deadline is None else min(step, deadline - now)
                await woken_or_after(news, pause)
                fresh = await asyncio.to_thread(self._read, sids)
                if fresh != views:
                    views, changed_at = fresh, loop.time()
                elif loop.time() - changed_at >= check:
                    views, changed_at = await self._ask_twilio(sids), loop.time()
        return views

    def _read(self, sids: Sequence[str]) -> Views:
        with self.database.reading() as session:
            views: Views = {}
            for sid in sids:
                row = read_call(session, sid)
                views[sid] = None if row is None else LegView.of(row)
            return views

    async def _ask_twilio(self, sids: Sequence[str]) -> Views:
        for sid in sids:
            try:
                call = await rest_call("calls.fetch", self.client.calls(sid).fetch_async())
            except ProviderRejected:
                continue
            duration = getattr(call, "duration", None)
            news = LegNews(
                str(call.status),
                None,
                float(duration) if duration not in (None, "") else None,
                getattr(call, "answered_by", None),
            )
            await asyncio.to_thread(self._apply, sid, news)
        return await asyncio.to_thread(self._read, sids)

    def _apply(self, sid: str, news: LegNews) -> None:
        with self.writes.transaction() as session:
            row = locked_call(session, sid)
            if row is not None:
                apply_news(row, news, self.clock.now())
                save_call(session, row)


def _advisor_settled(sid: str) -> Callable[[Views], bool]:
    def settled(views: Views) -> bool:
        leg = views[sid]
        return leg is not None and (leg.ready or leg.final)

    return settled


def _resident_settled(sid: str, advisor_sid: str) -> Callable[[Views], bool]:
    def settled(views: Views) -> bool:
        resident, advisor = views[sid], views[advisor_sid]
        if resident is not None and (resident.final or resident.ready or resident.machine):
            return True
        return advisor is not None and advisor.final

    return settled


def _talk_over(sid: str, advisor_sid: str) -> Callable[[Views], bool]:
    """The resident's leg is over, or the advisor's is while a person was joined: the
    resident's call may go on (the recommendation question), the attempt does not."""

    def over(views: Views) -> bool:
        leg, advisor = views[sid], views[advisor_sid]
        if leg is not None and leg.final:
            return True
        joined = leg is not None and leg.ready and not leg.machine
        return joined and advisor is not None and advisor.final

    return over


def _outcome(leg: LegView | None, advisor: LegView | None) -> ResidentCall:
    """What the resident's leg comes to once the talk is over; a machine is never reached.
    Ended first, it talked for as long as Twilio says it lasted; still up after the
    advisor's call ended, from joining until the line heard that end."""
    if leg is not None and not leg.final and advisor is not None and advisor.final:
        assert leg.ready_at is not None  # _talk_over waits for nothing else
        return ResidentCall(AttemptResult.REACHED, max(advisor.changed_at - leg.ready_at, NO_TIME))
    if leg is None:
        return ResidentCall(AttemptResult.FAILED)
    if leg.status == "completed":
        if leg.machine:
            return ResidentCall(AttemptResult.MACHINE)
        if leg.ready:
            return ResidentCall(AttemptResult.REACHED, timedelta(seconds=leg.duration_s or 0.0))
        return ResidentCall(AttemptResult.FAILED)  # answered, yet never joined: not reached
    return ResidentCall(unanswered_result(leg.status))
