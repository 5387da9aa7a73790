"""The calls the line places: a callback's two legs, and advisors called to take a queued
caller — their TwiML, and what their status callbacks change.

Status callbacks are written to the leg's row (a repeated one, or one older
than what is known, changes nothing: see
:func:`~callflow.providers.twilio.store.apply_news`) and then announced to
whoever waits on that leg in this process (:class:`LegWatch`). The
dispatcher placing a callback may run in another process; it reads the row
again every ``status_wait`` and so hears the news either way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import Dial, VoiceResponse  # type: ignore[import-untyped]

from callflow.config.models import HotlineConfig
from callflow.engine.clock import Clock
from callflow.engine.prompts import PromptRef
from callflow.engine.vocabulary import AttemptResult
from callflow.engine.whisper import whisper
from callflow.providers.twilio.callback_survey import ResidentSurveys
from callflow.providers.twilio.calls import InboundCalls
from callflow.providers.twilio.params import (
    FINAL_STATUSES,
    MACHINES,
    CallbackLeg,
    ConnectLeg,
    StatusCallback,
)
from callflow.providers.twilio.queue_reads import PROVIDER
from callflow.providers.twilio.settings import TwilioSettings
from callflow.providers.twilio.store import (
    CallRow,
    LegNews,
    add_call,
    apply_news,
    locked_call,
    save_call,
)
from callflow.providers.twilio.twiml import Speech
from callflow.store.advisors import LegEnd, advisor_leg_ended
from callflow.store.models import CallbackRequest
from callflow.store.queue_places import first_waiting
from callflow.store.session import Database
from callflow.store.twilio_tables import TwilioLeg

log = structlog.get_logger("callflow.twilio")

UNANSWERED_RESULTS = {
    "no-answer": AttemptResult.NO_ANSWER,
    "busy": AttemptResult.BUSY,
    "canceled": AttemptResult.INTERRUPTED,
}
"""A call never answered, by its final status (any other is ``FAILED``): the one reading of
Twilio's statuses, for a resident's leg and an advisor's alike."""


def unanswered_result(status: str) -> AttemptResult:
    return UNANSWERED_RESULTS.get(status, AttemptResult.FAILED)


@dataclass(frozen=True, slots=True)
class LegView:
    """A placed call as its row says now."""

    call_sid: str
    status: str
    answered_by: str | None
    ready_at: datetime | None
    duration_s: float | None
    changed_at: datetime
    """When the line last heard news of it (a final status: when it heard the call end)."""

    @property
    def ready(self) -> bool:
        """Joined: a callback's advisor past the whisper, or its resident (a person) in the
        conference."""
        return self.ready_at is not None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def answered(self) -> bool:
        return self.status in ("in-progress", "completed")

    @property
    def machine(self) -> bool:
        return self.answered_by in MACHINES

    @classmethod
    def of(cls, row: CallRow) -> LegView:
        return cls(
            row.call_sid, row.status, row.answered_by, row.ready_at, row.duration_s, row.updated_at
        )


class LegWatch:
    """Who in this process waits for news of which call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    @contextmanager
    def watching(self, *call_sids: str) -> Iterator[asyncio.Event]:
        """An event set whenever one of *call_sids* has news (call in the event loop)."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            for sid in call_sids:
                self._waiting.setdefault(sid, []).append(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                for sid in call_sids:
                    waiting = self._waiting.get(sid, [])
                    if entry in waiting:
                        waiting.remove(entry)
                    if not waiting:
                        self._waiting.pop(sid, None)

    def notify(self, call_sid: str) -> None:
        """*call_sid* has news (safe from any thread)."""
        with self._lock:
            waiting = list(self._waiting.get(call_sid, ()))
        for loop, event in waiting:
            loop.call_soon_threadsafe(event.set)


class PlacedCalls:
    """Answers the webhooks of the calls the line places, and every status callback."""

    def __init__(
        self,
        settings: TwilioSettings,
        database: Database,
        clock: Clock,
        inbound: InboundCalls,
        watch: LegWatch,
    ) -> None:
        self.settings = settings
        self.rules = inbound.rules
        self.database = database
        self.clock = clock
        self.inbound = inbound
        self.watch = watch
        self.writes = inbound.writes  # one queue of writers per process (see .store)
        self.speech = Speech(settings, self.rules)
        self.surveys = ResidentSurveys(settings, clock, self.rules, self.writes, self.speech)
        """The resident's leg once the talk is over (the recommendation question)."""

    @property
    def config(self) -> HotlineConfig:
        """The line's rules in force: the whisper's words, the advisors' wrap-up."""
        return self.rules.config

    # -- status callbacks ---------------------------------------------------------------

    def status(self, params: StatusCallback) -> None:
        """``POST /twilio/status``: any call's progress."""
        news = LegNews(
            params.call_status,
            params.sequence_number,
            None if params.call_duration is None else float(params.call_duration),
            params.answered_by,
        )
        with self.writes.transaction() as session:
            now = self.clock.now()
            row = locked_call(session, params.call_sid)
            if row is None and params.leg is not None:
                row = self._placed_row(session, params, now)
            if row is None:
                log.info("twilio.status_unknown_call", call_sid=params.call_sid)
                return
            inbound = row.kind is TwilioLeg.INBOUND
            if not inbound:
                moved = apply_news(row, news, now)
                if moved and row.kind is TwilioLeg.RESIDENT and row.final:
                    self.surveys.hung_up(session, row, now)
                save_call(session, row)
                if moved and row.kind is TwilioLeg.CONNECT and row.final:
                    self._advisor_free_again(session, row, now)
        if inbound:
            if params.call_status in FINAL_STATUSES:
                self.inbound.ended(params.call_sid, params.call_status)
            return
        self.watch.notify(params.call_sid)

    def _placed_row(self, session: Session, params: StatusCallback, now: datetime) -> CallRow:
        """A status callback that came before the dialler wrote down the call it placed."""
        assert params.leg is not None
        return add_call(
            session,
            params.call_sid,
            TwilioLeg(params.leg),
            now,
            status="queued",
            callback_id=params.callback_id,
            attempt_no=params.attempt_no,
            advisor_id=params.advisor_id,
            topic=params.topic,
            language=params.language,
        )

    def _advisor_free_again(self, session: Session, row: CallRow, now: datetime) -> None:
        """An advisor's call for a queued caller is over: a talk if they were handed a
        caller, nothing if they answered to an empty queue, else never answered."""
        if row.advisor_id is None:
            return
        if row.status == "completed":
            how = LegEnd.TALKED if row.ready_at is not None else LegEnd.ENDED
        else:
            how = LegEnd.unanswered(unanswered_result(row.status))
            if how is not LegEnd.ENDED:  # not a call we took back ourselves
                log.warning("advisor.did_not_answer", advisor_id=row.advisor_id, how=how.value)
        wrap_up = self.config.dispatch.wrap_up
        advisor_leg_ended(session, row.advisor_id, how, now, wrap_up=wrap_up)

    # -- a callback's legs ----------------------------------------------------------------

    def advisor_answered(self, params: CallbackLeg) -> str:
        """The advisor picked up: the whisper, then on to wait for the resident."""
        with self.database.reading() as session:
            request = session.get(CallbackRequest, params.callback_id)
            topic = request.topic if request is not None else None
            language = request.language if request is not None else None
            entered = request.queue_entered_at if request is not None else None
        response = VoiceResponse()
        if topic is not None and language is not None and entered is not None:
            self._whisper(response, topic, language, self.clock.now() - entered)
        response.redirect(
            self.settings.url(
                "/twilio/callback/advisor/ready", cb=params.callback_id, n=params.attempt_no
            ),
            method="POST",
        )
        return str(response)

    def advisor_ready(self, params: CallbackLeg) -> str:
        """The whisper is heard: the advisor waits in the callback's conference, and the
        dispatcher may dial the resident."""
        self._mark_ready(params.call_sid, TwilioLeg.ADVISOR, params)
        response = VoiceResponse()
        response.append(self._conference(params, starts=True))
        return str(response)

    def resident_answered(self, params: CallbackLeg) -> str:
        """The resident's phone was answered: a person is joined with the advisor; a machine
        is hung up on (and the attempt will say so)."""
        if params.answered_by in MACHINES:
            with self.writes.transaction() as session:
                row = locked_call(session, params.call_sid)
                if row is not None:
                    row.answered_by = params.answered_by
                    row.updated_at = self.clock.now()
                    save_call(session, row)
            self.watch.notify(params.call_sid)
            hang_up = VoiceResponse()
            hang_up.hangup()
            return str(hang_up)
        self._mark_ready(params.call_sid, TwilioLeg.RESIDENT, params)
        response = VoiceResponse()
        # When the conference ends, Twilio asks the action what the resident's call does next.
        response.append(
            self._conference(params, starts=True, action=self.surveys.after_url(params))
        )
        return str(response)

    def _mark_ready(self, call_sid: str, kind: TwilioLeg, params: CallbackLeg) -> None:
        with self.writes.transaction() as session:
            now = self.clock.now()
            row = add_call(
                session, call_sid, kind, now, status="in-progress",
                callback_id=params.callback_id, attempt_no=params.attempt_no,
            )  # fmt: skip
            apply_news(row, LegNews("in-progress"), now)
            if params.answered_by is not None:
                row.answered_by = params.answered_by
            if row.ready_at is None:
                row.ready_at = now
                row.updated_at = now
            save_call(session, row)
        self.watch.notify(call_sid)

    def _conference(self, params: CallbackLeg, *, starts: bool, action: str | None = None) -> Dial:
        """The callback's conference, ended by whoever leaves it first; after it, the call
        goes on with *action*'s answer (if any), else it ends."""
        dial = Dial() if action is None else Dial(action=action, method="POST")
        dial.conference(
            f"{self.settings.twilio.queue_prefix}callback-{params.callback_id}-{params.attempt_no}",
            start_conference_on_enter=starts,
            end_conference_on_exit=True,
            beep=False,
            wait_url=self.settings.twilio.hold_music,
            wait_method="GET",
        )
        return dial

    # -- an advisor for a queued caller ----------------------------------------------------

    def connect_answered(self, params: ConnectLeg) -> str:
        """The advisor picked up: the caller at the front of the topic's queue is theirs."""
        with self.writes.transaction() as session:
            now = self.clock.now()
            # The connector writes the leg down once Twilio has told it the call's sid, as may
            # its first status callback; if neither got through, it is written here, before
            # the dequeue that follows looks for it.
            row = add_call(
                session, params.call_sid, TwilioLeg.CONNECT, now, status="in-progress",
                advisor_id=params.advisor_id, topic=params.topic, language=params.language,
            )  # fmt: skip
            apply_news(row, LegNews("in-progress"), now)
            save_call(session, row)
            front = first_waiting(session, PROVIDER, params.topic)
        self.watch.notify(params.call_sid)
        response = VoiceResponse()
        if front is None:
            goodbye = self.config.line.default_language
            self.speech.add(response, [PromptRef("goodbye", goodbye)])
            response.hangup()
            return str(response)
        self._whisper(response, params.topic, params.language, now - front.entered_at)
        dial = Dial()
        dial.queue(
            self.settings.queue_name(params.topic),
            url=self.settings.url("/twilio/voice/connected", advisor=params.advisor_id),
            method="POST",
        )
        response.append(dial)
        return str(response)

    def _whisper(self, parent: object, topic: str, language: str, waited: timedelta) -> None:
        config = self.config
        self.speech.add(parent, [whisper(config, topic, language, waited)], config)
