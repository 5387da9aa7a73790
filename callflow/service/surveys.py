"""The recommendation question's store commands, carried out in the caller's unit of work.

The engine's survey machine (:mod:`callflow.engine.survey`) asks three things of the
store: was this number asked today, open the question's row, keep the answer. The
inbound calls' :class:`~callflow.service.calls.CallHandler` and every dialler that runs
the question on a callback's resident leg answer them here, so a contact is stored the
same way whichever way it came.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from callflow.engine.commands import LookUpSurveyed, OpenSurvey, StoreSurveyAnswer
from callflow.engine.events import SurveyLookedUp, SurveyOpened
from callflow.store.surveys import answer_survey, asked_since, open_survey

SurveyCommand = LookUpSurveyed | OpenSurvey | StoreSurveyAnswer
SURVEY_COMMANDS = (LookUpSurveyed, OpenSurvey, StoreSurveyAnswer)


def carry_out_survey(
    session: Session, command: SurveyCommand
) -> SurveyLookedUp | SurveyOpened | None:
    """Do *command* in *session*; the event to step the machine with next, if any
    (``StoreSurveyAnswer`` has none: the first answer stands, a repeat is dropped)."""
    if isinstance(command, LookUpSurveyed):
        return SurveyLookedUp(asked_since(session, command.number_e164, command.since))
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
