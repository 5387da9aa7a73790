"""The simulated dialler (``callflow worker`` without a carrier): a reached resident,
whose advisor hangs up first, hears the recommendation question on their leg and
answers it, stored with their callback as the real diallers store it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.engine.commands import StoreCallback
from callflow.engine.vocabulary import AttemptResult, Channel, EventKind
from callflow.providers.port import AdvisorLeg, CallbackCall
from callflow.providers.sim.dialler import SimulatedDialler
from callflow.store.callbacks import create_callback
from callflow.store.models import CallEvent, Survey
from callflow.store.session import Database
from tests.store.helpers import T0

NUMBER = "+358401234567"
SPEED = 10_000.0
"""A talk of minutes in a few dozen milliseconds. The answer cannot outrun the question: a
resident keys only once the question is heard, and a 0 is queued before the 1 is stepped."""


def asked_every_time(config: HotlineConfig, *, score: int) -> HotlineConfig:
    weights = [0.0] * 11
    weights[score] = 1.0
    simulation = config.simulation.model_copy(
        update={"survey_answer_share": 1.0, "survey_score_weights": weights}
    )
    survey = config.survey.model_copy(update={"enabled": True, "share": 1.0})
    return config.model_copy(update={"survey": survey, "simulation": simulation})


def web_request(database: Database) -> int:
    with database.transaction() as session:
        request = create_callback(
            session,
            StoreCallback(
                number_e164=NUMBER,
                topic="health",
                language="sv",
                requested_at=T0,
                queue_entered_at=T0,
                not_before=T0,
                due_at=T0 + timedelta(hours=3),
                expected_at=T0,
                deadline_class=1,
            ),
            call_id=None,
            now=T0,
            channel=Channel.WEB,
            description="Ring mig",
        )
        session.flush()
        return request.id


async def reach(dialler: SimulatedDialler, callback_id: int) -> None:
    """Dial until the resident answers (the dialler draws who does), then let the talk's
    after-work finish."""
    call = CallbackCall(
        callback_id, 1, 1, None, NUMBER, "health", "sv", timedelta(minutes=5), "+35860000000"
    )
    for _ in range(50):
        result = await dialler.dial_resident(call, AdvisorLeg("advisor"))
        if result.result is AttemptResult.REACHED:
            break
    else:
        raise AssertionError("never reached")
    await dialler.settle()


def test_a_reached_web_requests_resident_answers_ten_with_1_then_0(
    config: HotlineConfig, database: Database
) -> None:
    line = asked_every_time(config, score=10)
    callback_id = web_request(database)
    dialler = SimulatedDialler(line, database, FakeClock(T0), seed=4, speed=SPEED)
    asyncio.run(reach(dialler, callback_id))
    with database.reading() as session:
        (asked,) = session.scalars(select(Survey)).all()
        logged = session.scalars(
            select(CallEvent.kind).where(CallEvent.callback_id == callback_id)
        ).all()
    assert (asked.callback_id, asked.call_id, asked.channel) == (callback_id, None, Channel.WEB)
    assert (asked.language, asked.topic, asked.score) == ("sv", "health", 10)
    assert EventKind.SURVEY_ASKED in logged and EventKind.SURVEY_ANSWERED in logged


def test_nobody_is_asked_while_the_survey_is_off(config: HotlineConfig, database: Database) -> None:
    line = asked_every_time(config, score=7)
    line = line.model_copy(update={"survey": line.survey.model_copy(update={"enabled": False})})
    callback_id = web_request(database)
    dialler = SimulatedDialler(line, database, FakeClock(T0), seed=4, speed=SPEED)
    asyncio.run(reach(dialler, callback_id))
    with database.reading() as session:
        assert session.scalars(select(Survey)).all() == []
