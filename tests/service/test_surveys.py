"""The recommendation question with the real store: its rows, its log entries, and the once
a day rule, for an inbound call and for a callback's resident leg."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from callflow.engine.calendar import Calendar
from callflow.engine.commands import Ask, Command, Hangup, Play
from callflow.engine.events import (
    AdvisorConnected,
    AdvisorHungUp,
    CallArrived,
    CallerHungUp,
    DigitPressed,
    Event,
    PlaybackFinished,
    TimerFired,
)
from callflow.engine.flow import FlowContext, new_call
from callflow.engine.state import CallState, Phase
from callflow.engine.survey import SURVEY_TIMER
from callflow.engine.vocabulary import Channel, EventKind
from callflow.service.calls import CallHandler, fixed
from callflow.service.surveys import ResidentSurvey
from callflow.store.models import Call, CallEvent, Survey
from callflow.store.session import Database
from tests.engine.conftest import with_settings
from tests.fakes.queue import FakeQueue
from tests.store.helpers import add_callback

T0 = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)  # Monday 10:00 in Helsinki
MOBILE = "+358401234567"
SURVEY_ON = with_settings({"survey.enabled": True, "survey.share": 1.0})


class Talk:
    """One inbound call through a CallHandler, up to and through the question."""

    def __init__(self, handler: CallHandler, call_id: str, now: datetime) -> None:
        self.handler = handler
        self.now = now
        self.state: CallState = new_call(call_id, now)
        self.commands: list[Command] = []

    def send(self, event: Event) -> Talk:
        self.commands += self.handler.handle(self.state, event, self.now)
        return self

    def hear_out(self) -> Talk:
        self.now += timedelta(seconds=5)
        playback = self.state.playback or (self.state.survey and self.state.survey.playback)
        if playback:
            self.send(PlaybackFinished(playback))
        return self

    def press(self, keys: str) -> Talk:
        for key in keys:
            self.now += timedelta(milliseconds=500)
            self.send(DigitPressed(key))
        return self

    def talk_then_advisor_hangs_up(self, number: str | None = MOBILE) -> Talk:
        self.send(CallArrived(number, withheld=number is None))
        self.hear_out().press("1").hear_out().press("1").hear_out()
        self.now += timedelta(minutes=1)
        self.send(AdvisorConnected("1"))
        self.now += timedelta(minutes=4)
        return self.send(AdvisorHungUp())


@pytest.fixture
def handler(database: Database) -> CallHandler:
    calendar = Calendar.from_config(SURVEY_ON)
    queue = FakeQueue(calendar, staffed=2, planned=2)
    return CallHandler(
        database, fixed(FlowContext(SURVEY_ON, calendar, queue)), queue, provider="test"
    )


def surveys(database: Database) -> list[Survey]:
    with database.transaction() as session:
        rows = list(session.scalars(select(Survey).order_by(Survey.id)))
        session.expunge_all()
        return rows


def test_an_answer_of_ten_is_stored_with_the_call(handler: CallHandler, database: Database) -> None:
    talk = Talk(handler, "call-a", T0).talk_then_advisor_hangs_up()
    asked_at = talk.now
    talk.hear_out().press("10")
    [row] = surveys(database)
    assert (row.call_id, row.callback_id, row.channel) == ("call-a", None, Channel.PHONE)
    assert (row.topic, row.language, row.number_e164) == ("health", "fi", MOBILE)
    assert (row.score, row.asked_at, row.answered_at) == (10, asked_at, talk.now)
    talk.hear_out()
    assert any(isinstance(c, Hangup) for c in talk.commands)
    with database.transaction() as session:
        call = session.get(Call, "call-a")
        assert call is not None and call.outcome == "answered" and call.ended_at == talk.now
        logged = {
            e.kind: e
            for e in session.scalars(select(CallEvent).where(CallEvent.call_id == "call-a"))
        }
        answered = logged[EventKind.SURVEY_ANSWERED]
        assert (answered.data["score"], answered.data["channel"], answered.topic) == (
            10,
            "phone",
            "health",
        )
        assert EventKind.SURVEY_ASKED in logged


def test_a_hang_up_leaves_the_question_asked_and_unanswered(
    handler: CallHandler, database: Database
) -> None:
    Talk(handler, "call-a", T0).talk_then_advisor_hangs_up().send(CallerHungUp())
    [row] = surveys(database)
    assert (row.score, row.answered_at) == (None, None)


def test_a_number_is_asked_once_a_day(handler: CallHandler, database: Database) -> None:
    Talk(handler, "call-a", T0).talk_then_advisor_hangs_up().hear_out().press("7")
    again = Talk(handler, "call-b", T0 + timedelta(hours=3)).talk_then_advisor_hangs_up()
    assert again.state.phase is Phase.ENDED and len(surveys(database)) == 1
    # Tomorrow, in the line's day (Helsinki), it is asked again.
    tomorrow = Talk(handler, "call-c", T0 + timedelta(days=1)).talk_then_advisor_hangs_up()
    assert tomorrow.state.phase is Phase.SURVEY and len(surveys(database)) == 2


def test_withheld_callers_are_asked_and_nothing_about_them_kept(
    handler: CallHandler, database: Database
) -> None:
    Talk(handler, "call-a", T0).talk_then_advisor_hangs_up(None).hear_out().press("3")
    Talk(handler, "call-b", T0).talk_then_advisor_hangs_up(None).hear_out().press("4")
    assert [(r.score, r.number_e164) for r in surveys(database)] == [(3, None), (4, None)]


def test_a_resident_leg_runs_the_same_question(database: Database) -> None:
    with database.transaction() as session:
        callback_id = add_callback(session, MOBILE, topic="social", language="sv")
    calendar = Calendar.from_config(SURVEY_ON)
    run, media = ResidentSurvey.start(
        database,
        SURVEY_ON.survey,
        calendar,
        callback_id=callback_id,
        channel=Channel.CALLBACK,
        language="sv",
        topic="social",
        number_e164=MOBILE,
        now=T0,
    )
    [ask] = [c for c in media if isinstance(c, Ask)]
    assert [(p.key, p.language) for p in ask.prompts] == [("survey_question", "sv")]
    run.handle(PlaybackFinished(ask.playback_id), T0 + timedelta(seconds=6))
    run.handle(DigitPressed("1"), T0 + timedelta(seconds=8))
    assert run.state.timer_at is not None
    media = run.handle(TimerFired(SURVEY_TIMER, run.state.timer_at), run.state.timer_at)
    [thanks] = [c for c in media if isinstance(c, Play)]
    run.handle(PlaybackFinished(thanks.playback_id), T0 + timedelta(seconds=15))
    assert run.done
    [row] = surveys(database)
    assert (row.callback_id, row.call_id, row.channel, row.score) == (
        callback_id,
        None,
        Channel.CALLBACK,
        1,
    )
    with database.transaction() as session:
        kinds = session.scalars(
            select(CallEvent.kind)
            .where(CallEvent.callback_id == callback_id)
            .order_by(CallEvent.id)
        ).all()
    assert kinds[-2:] == [EventKind.SURVEY_ASKED, EventKind.SURVEY_ANSWERED]
    # The same number, asked already today, is not asked after a call either.
    again, media = ResidentSurvey.start(
        database,
        SURVEY_ON.survey,
        calendar,
        callback_id=callback_id,
        channel=Channel.CALLBACK,
        language="sv",
        topic="social",
        number_e164=MOBILE,
        now=T0 + timedelta(hours=1),
    )
    assert again.done and media == []


def test_a_callback_tried_again_another_day_is_not_asked_twice(database: Database) -> None:
    """One question a contact: the callback asked after its first reached attempt is not
    asked after a second one, on another day."""
    with database.transaction() as session:
        callback_id = add_callback(session, MOBILE)
    calendar = Calendar.from_config(SURVEY_ON)

    def start(now: datetime) -> ResidentSurvey:
        run, _ = ResidentSurvey.start(
            database, SURVEY_ON.survey, calendar, callback_id=callback_id,
            channel=Channel.CALLBACK, language="fi", topic="health", number_e164=MOBILE,
            now=now,
        )  # fmt: skip
        return run

    assert not start(T0).done
    assert start(T0 + timedelta(days=2)).done
    assert len(surveys(database)) == 1
