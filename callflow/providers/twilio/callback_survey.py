"""The recommendation question on a callback's resident leg, over Twilio's webhooks.

The resident's ``<Dial>`` into the callback's conference has an ``action``
(``/twilio/callback/resident/after``). Both legs join with
``endConferenceOnExit``, so the conference ends when either leaves, and Twilio
then asks that action what the resident's call does next
(https://www.twilio.com/docs/voice/twiml/dial#action). Asked with
``CallStatus=in-progress``, the advisor left first and the resident is still
on the line: where the rule says so (:func:`~callflow.engine.survey.applies`;
an advisor's call Twilio reported ``failed`` is a talk the carrier dropped, not
asked, as for inbound calls) the answer is the question. Otherwise it hangs up.

The engine's machine runs in each webhook's transaction with the store
attached (:func:`~callflow.service.surveys.settle_in`, as every dialler runs it)
and is kept between webhooks in the leg's row (``survey_state``), so any process
answers any step. Its media become TwiML as an inbound call's question does
(:func:`~.twiml.leg_document`): one key per ``<Gather>``, the 0 of ten in a silent
one of ``ten_timeout``, and a ``<Gather>`` that came back empty runs the question's
timer out. Each document's URLs carry its step (``s``): a retried webhook gets
the first answer back and steps nothing, so an answer is stored once. When the
question is done, or the resident's call ends (their hang-up is the machine's
``CallerHungUp``), the state and the leg's answers are forgotten: they held the
resident's number.

The dialler does not wait for any of this: its attempt is over when the
advisor's call is (:mod:`~callflow.providers.twilio.dialler`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from callflow.engine import survey
from callflow.engine.clock import Clock
from callflow.engine.commands import Command
from callflow.engine.events import CallerHungUp, DigitPressed, Event, PlaybackFinished
from callflow.engine.survey import SurveyState
from callflow.errors import MalformedWebhook
from callflow.providers.twilio.params import CallbackLeg, DialEnded, LegGathered, LegPlayed
from callflow.providers.twilio.settings import TwilioSettings
from callflow.providers.twilio.store import (
    CallRow,
    Writes,
    answer_of,
    forget_answers,
    keep_answers,
    locked_call,
    save_call,
)
from callflow.providers.twilio.twiml import Speech, leg_document, survey_listens
from callflow.service.rules import LineRules
from callflow.service.surveys import callback_channel, settle_in
from callflow.store.models import CallbackRequest
from callflow.store.twilio_tables import TwilioCall, TwilioLeg

log = structlog.get_logger("callflow.twilio")

AFTER_STEP = "after"
RESIDENT_PATH = "/twilio/callback/resident"

Heard = Callable[[SurveyState], Event | None]
"""One event of a webhook, made from the machine as the events before it left it."""


def _heard(event: Event) -> Heard:
    return lambda _state: event


def _time_up(state: SurveyState) -> Event | None:
    return survey.due_timer(state)


class ResidentSurveys:
    """Answers a callback resident's leg once the talk is over."""

    def __init__(
        self,
        settings: TwilioSettings,
        clock: Clock,
        rules: LineRules,
        writes: Writes,
        speech: Speech,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.rules = rules
        self.writes = writes
        self.speech = speech

    def after_url(self, leg: CallbackLeg) -> str:
        """The ``action`` of the resident's ``<Dial>``."""
        return self.settings.url(f"{RESIDENT_PATH}/after", cb=leg.callback_id, n=leg.attempt_no)

    # -- the webhooks -------------------------------------------------------------------

    def talk_over(self, params: DialEnded) -> str:
        """The conference is over: the question if the resident is still there and the rule
        says so; else the resident's call ends."""
        with self.writes.transaction() as session:
            now = self.clock.now()
            row = _resident_leg(session, params)
            kept = answer_of(session, row.call_sid, AFTER_STEP)
            if kept is not None:
                log.info("twilio.step_repeated", call_sid=row.call_sid, step=AFTER_STEP)
                return kept
            stayed = params.call_status == "in-progress" and params.dial_call_status == "completed"
            if not stayed or not self._may_ask(session, params):
                return _hang_up()  # nothing kept: a repeat finds the same
            config = self.rules.config
            request = session.get(CallbackRequest, params.callback_id)
            assert request is not None  # _resident_leg found the leg of this request
            state, commands = survey.begin(
                channel=callback_channel(session, params.callback_id),
                language=request.language,
                topic=request.topic,
                number_e164=request.number_e164,
                now=now,
                calendar=self.rules.calendar,
                callback_id=params.callback_id,
            )
            media = settle_in(session, state, commands, now, config.survey)
            return self._answer(session, row, AFTER_STEP, state, media, now)

    def gathered(self, params: LegGathered, key: str) -> str:
        """A ``<Gather>`` of the question ended: the question's end heard, then the keys,
        or, if none came, the question's time is up."""
        keys: list[Heard] = [_heard(DigitPressed(d)) for d in params.digits]
        if params.finished_on_key:
            keys.append(_heard(DigitPressed(params.finished_on_key)))
        events: list[Heard] = []
        if params.playback is not None:
            events.append(_heard(PlaybackFinished(params.playback)))
        events += keys or [_time_up]
        return self._step(params, key, params.step, events)

    def played(self, params: LegPlayed, key: str) -> str:
        """Words were heard (the thanks, or goodbye)."""
        events = [] if params.playback is None else [_heard(PlaybackFinished(params.playback))]
        return self._step(params, key, params.step, events)

    def hung_up(self, session: Session, row: CallRow, now: datetime) -> None:
        """The resident's call is over (in the status callback's transaction): a question
        still running hears them go, and what held their number is forgotten."""
        if row.survey_state is not None:
            state = SurveyState.from_dict(row.survey_state)
            config = self.rules.config.survey
            settle_in(session, state, survey.step(state, CallerHungUp(), now, config), now, config)
            row.survey_state = None
        forget_answers(session, row.call_sid)

    # -- one step -----------------------------------------------------------------------

    def _step(self, params: CallbackLeg, key: str, number: int, events: Sequence[Heard]) -> str:
        with self.writes.transaction() as session:
            now = self.clock.now()
            row = _resident_leg(session, params)
            kept = answer_of(session, row.call_sid, key)
            if kept is not None:
                log.info("twilio.step_repeated", call_sid=row.call_sid, step=key)
                return kept
            if row.survey_state is None:
                return _hang_up()  # the question is over: a late request
            if number != row.next_step - 1:
                raise MalformedWebhook(
                    f"s={number}: not the current step ({row.next_step - 1}) of CallSid "
                    f"{row.call_sid}; nothing was done"
                )
            state = SurveyState.from_dict(row.survey_state)
            config = self.rules.config.survey
            media: list[Command] = []
            for source in events:
                event = source(state)
                if event is not None:
                    commands = survey.step(state, event, now, config)
                    media += settle_in(session, state, commands, now, config)
            return self._answer(session, row, key, state, media, now)

    def _answer(
        self,
        session: Session,
        row: CallRow,
        key: str,
        state: SurveyState,
        media: list[Command],
        now: datetime,
    ) -> str:
        """The step's document (numbered by the leg's next step), kept for a retry, and the
        machine kept for the next step; forgotten once the question is done."""
        media += survey_listens(state, media, now)
        step = row.next_step
        assert row.callback_id is not None and row.attempt_no is not None  # a resident's leg
        query: dict[str, str | int] = {"cb": row.callback_id, "n": row.attempt_no, "s": step}
        url = self.settings.url
        twiml = leg_document(
            media,
            self.speech,
            self.rules.config,
            gathered=lambda pb: url(f"{RESIDENT_PATH}/gather", **query, pb=pb, k="ask"),
            played=lambda pb: url(f"{RESIDENT_PATH}/played", **query, pb=pb),
        )
        row.next_step = step + 1
        row.survey_state = None if state.done else state.to_dict()
        row.updated_at = now
        save_call(session, row)
        keep_answers(session, row.call_sid, {key: twiml}, now)
        return twiml

    def _may_ask(self, session: Session, params: CallbackLeg) -> bool:
        """The rule, for this callback: a talk whose advisor's call Twilio reported
        ``failed`` (the carrier lost it) is dropped, not asked. A status that comes after
        this request is too late to count, as for inbound calls."""
        advisor_status = session.scalar(
            select(TwilioCall.status).where(
                TwilioCall.kind == TwilioLeg.ADVISOR,
                TwilioCall.callback_id == params.callback_id,
                TwilioCall.attempt_no == params.attempt_no,
            )
        )
        key = survey.contact_key(callback_id=params.callback_id)
        return survey.applies(self.rules.config.survey, key, dropped=advisor_status == "failed")


def _resident_leg(session: Session, params: CallbackLeg) -> CallRow:
    """The resident's leg of this callback attempt, locked; any other call is refused."""
    row = locked_call(session, params.call_sid)
    if (
        row is None
        or row.kind is not TwilioLeg.RESIDENT
        or row.callback_id != params.callback_id
        or row.attempt_no != params.attempt_no
    ):
        raise MalformedWebhook(
            f"CallSid {params.call_sid}: not the resident's call of callback "
            f"{params.callback_id}, attempt {params.attempt_no}"
        )
    return row


def _hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)
