"""The recommendation question's rows: who was asked, when, and what they answered.

Written by every provider through the same three calls, so "never twice a day to one
number" and "counted once" hold whichever way the contact came: a row when the question
is asked, its score when an answer comes (a hang-up leaves it unanswered, which the
response rate counts).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from callflow.engine.vocabulary import Channel
from callflow.store.models import Survey


def asked_since(session: Session, number_e164: str, since: datetime) -> bool:
    """Whether *number_e164* has been asked the question since *since* (the start of the
    line's day: a resident is asked at most once a day)."""
    return bool(
        session.scalar(
            select(exists().where(Survey.number_e164 == number_e164, Survey.asked_at >= since))
        )
    )


def open_survey(
    session: Session,
    *,
    channel: Channel,
    asked_at: datetime,
    number_e164: str | None,
    topic: str | None,
    language: str | None,
    call_id: str | None = None,
    callback_id: int | None = None,
) -> int:
    """The question is being asked now, after the call *call_id* or the callback
    *callback_id*: its row, to be answered by :func:`answer_survey`."""
    survey = Survey(
        call_id=call_id,
        callback_id=callback_id,
        channel=channel,
        topic=topic,
        language=language,
        number_e164=number_e164,
        asked_at=asked_at,
    )
    session.add(survey)
    session.flush()
    return survey.id


def answer_survey(session: Session, survey_id: int, score: int, answered_at: datetime) -> bool:
    """Keep *score* (0–10) as the answer; False if the question already has one (a
    webhook retried, a step replayed): the first answer stands."""
    if not 0 <= score <= 10:
        raise ValueError(f"a survey score is 0 to 10, not {score}")
    done = session.execute(
        update(Survey)
        .where(Survey.id == survey_id, Survey.score.is_(None))
        .values(score=score, answered_at=answered_at)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]
