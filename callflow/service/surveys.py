"""The recommendation question's store commands, carried out in the caller's unit of work.

The engine's survey machine (:mod:`callflow.engine.survey`) asks three things of the
store: was this number asked today, open the question's row, keep the answer. The
inbound calls' :class:`~callflow.service.calls.CallHandler` and every dialler that runs
the question on a callback's resident leg answer them here, so a contact is stored the
same way whichever way it came.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callflow.config.models import SurveyConfig
from callflow.engine import survey
from callflow.engine.calendar import Calendar
from callflow.engine.commands import (
    Command,
    LookUpSurveyed,
    OpenSurvey,
    Record,
    StoreSurveyAnswer,
)
from callflow.engine.events import Event, SurveyLookedUp, SurveyOpened
from callflow.engine.survey import SurveyState
from callflow.engine.vocabulary import Channel
from callflow.store.calls import append_events
from callflow.store.models import CallbackRequest
from callflow.store.session import Database
from callflow.store.surveys import already_asked, answer_survey, open_survey

SurveyCommand = LookUpSurveyed | OpenSurvey | StoreSurveyAnswer
SURVEY_COMMANDS = (LookUpSurveyed, OpenSurvey, StoreSurveyAnswer)


def carry_out_survey(
    session: Session, command: SurveyCommand
) -> SurveyLookedUp | SurveyOpened | None:
    """Do *command* in *session*; the event to step the machine with next, if any
    (``StoreSurveyAnswer`` has none: the first answer stands, a repeat is dropped)."""
    if isinstance(command, LookUpSurveyed):
        asked = already_asked(
            session, command.number_e164, command.since, callback_id=command.callback_id
        )
        return SurveyLookedUp(asked)
    if isinstance(command, OpenSurvey):
        survey_id = open_survey(
            session,
            channel=command.channel,
            asked_at=command.asked_at,
            number_e164=command.number_e164,
            topic=command.topic,
            language=command.language,
            call_id=command.call_id,
            callback_id=command.callback_id,
        )
        return SurveyOpened(survey_id)
    answer_survey(session, command.survey_id, command.score, command.answered_at)
    return None


def callback_channel(session: Session, callback_id: int) -> Channel:
    """How a callback's contact is counted: ``web`` for a request left on the web page,
    ``callback`` for one asked for on the phone."""
    made = session.scalar(select(CallbackRequest.channel).where(CallbackRequest.id == callback_id))
    return Channel.WEB if made is Channel.WEB else Channel.CALLBACK


class ResidentSurvey:
    """The question on a callback's resident leg, for a dialler: the engine's machine with
    the store attached, as :class:`~callflow.service.calls.CallHandler` attaches it to an
    inbound call.

    Each method runs one step in its own transaction: the machine's store commands are
    answered inside it, its log entries appended (keyed by the callback), and only the
    media commands (``Ask``, ``Play``, ``StopPlayback``, ``SetTimer``, ``ClearTimer``)
    come back for the dialler to carry out. When :attr:`done`, the dialler hangs up the
    resident's leg (unless they have gone). The machine's state is the caller's to keep
    (:attr:`state`, JSON-ready); a failing store leaves it as it was, and raises.
    """

    def __init__(self, database: Database, config: SurveyConfig, state: SurveyState) -> None:
        self.database = database
        self.config = config
        self.state = state

    @classmethod
    def start(
        cls,
        database: Database,
        config: SurveyConfig,
        calendar: Calendar,
        *,
        callback_id: int,
        channel: Channel | None = None,
        language: str,
        topic: str | None,
        number_e164: str | None,
        now: datetime,
    ) -> tuple[ResidentSurvey, list[Command]]:
        """Begin the question for callback *callback_id* (its ``channel``, if not given,
        read from the request: :func:`callback_channel`). Call it only where
        :func:`~callflow.engine.survey.applies` says yes."""
        if channel is None:
            with database.reading() as session:
                channel = callback_channel(session, callback_id)
        state, commands = survey.begin(
            channel=channel,
            language=language,
            topic=topic,
            number_e164=number_e164,
            now=now,
            calendar=calendar,
            callback_id=callback_id,
        )
        run = cls(database, config, state)
        return run, run._with_store(commands, now)

    @property
    def done(self) -> bool:
        return self.state.done

    def handle(self, event: Event, now: datetime) -> list[Command]:
        """Step *event* (``DigitPressed``, ``PlaybackFinished``, ``TimerFired``,
        ``CallerHungUp``); the media commands that follow."""
        working = replace(self.state)
        commands = survey.step(working, event, now, self.config)
        media = self._with_store(commands, now, working)
        self.state = working
        return media

    def _with_store(
        self, commands: list[Command], now: datetime, working: SurveyState | None = None
    ) -> list[Command]:
        state = working if working is not None else self.state
        with self.database.transaction() as session:
            return settle_in(session, state, commands, now, self.config)


def settle_in(
    session: Session,
    state: SurveyState,
    commands: list[Command],
    now: datetime,
    config: SurveyConfig,
) -> list[Command]:
    """A resident leg's survey *commands* with *session*: the store's answered (and what
    the machine says to each answer, in turn), the log entries appended under the
    callback; the media commands left for the leg."""
    media: list[Command] = []
    records: list[Record] = []
    pending = deque(commands)
    while pending:
        command = pending.popleft()
        if isinstance(command, Record):
            records.append(command)
        elif isinstance(command, SURVEY_COMMANDS):
            answer = carry_out_survey(session, command)
            if answer is not None:
                pending.extend(survey.step(state, answer, now, config))
        else:
            media.append(command)
    append_events(session, None, records, now)
    return media
