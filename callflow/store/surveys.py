"""The recommendation question's rows: who was asked, when, and what they answered.

Written by every provider through the same three calls, so "never twice a day to one
number" and "counted once" hold whichever way the contact came: a row when the question
is asked, its score when an answer comes (a hang-up leaves it unanswered, which the
response rate counts).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select, text, update
from sqlalchemy.orm import Session

from callflow.engine.vocabulary import Channel
from callflow.store.models import Survey


def already_asked(
    session: Session, number_e164: str, since: datetime, *, callback_id: int | None = None
) -> bool:
    """Whether *number_e164* has been asked the question since *since* (the start of the
    line's day: a resident is asked at most once a day), or the callback *callback_id*
    ever (a callback tried again another day is still one contact).

    On PostgreSQL the number's turn is held until the transaction ends, and the caller
    opens the row (:func:`open_survey`) in the same one: two processes asking for one
    number at the same moment (a call on the line, a callback in a worker) cannot both
    be told no. SQLite's single writer does that by itself.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"survey:{number_e164}"},
        )
    today = (Survey.number_e164 == number_e164) & (Survey.asked_at >= since)
    asked = today if callback_id is None else today | (Survey.callback_id == callback_id)
    return bool(session.scalar(select(exists().where(asked))))


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
