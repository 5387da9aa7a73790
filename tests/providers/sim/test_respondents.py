"""The simulated residents' answers to the recommendation question: the share who answer,
the scores they give, keyed as a person keys them, after an answered call and after a
reached callback, stored through the engine's machine."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path

import pytest
import structlog
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.vocabulary import CallOutcome, Channel, EventKind
from callflow.logging import configure_logging
from callflow.providers.sim.respondents import survey_keys
from callflow.providers.sim.simulation import Simulation
from callflow.store.models import Call, CallEvent, Survey
from callflow.store.queues import sync_queues
from callflow.store.session import Database

MONDAY = date(2026, 1, 12)


@pytest.fixture(scope="module", autouse=True)
def _quiet() -> Iterator[None]:
    configure_logging("warning")
    yield
    structlog.reset_defaults()


def line(config: HotlineConfig, *, answer_share: float, weights: Sequence[float]) -> HotlineConfig:
    """The example line with the question asked of every contact."""
    simulation = config.simulation.model_copy(
        update={"survey_answer_share": answer_share, "survey_score_weights": list(weights)}
    )
    survey = config.survey.model_copy(update={"enabled": True, "share": 1.0})
    return config.model_copy(update={"survey": survey, "simulation": simulation})


def one_day(
    template: Path, folder: Path, config: HotlineConfig, *, name: str = "day"
) -> list[Survey]:
    """A Monday of the line on a fresh SQLite file in *folder*; the questions it asked."""
    path = folder / f"{name}.sqlite3"
    shutil.copy(template, path)
    database = Database.connect(f"sqlite:///{path}")
    start = Calendar.from_config(config).at_minute(MONDAY, 0)
    with database.transaction() as session:
        sync_queues(session, config, datetime.fromisoformat("2026-01-01T00:00:00+00:00"))
    simulation = Simulation(config, database, seed=5, start=start, run_id="testrun1")
    simulation.schedule_days(MONDAY, 1)
    simulation.run_until(None)
    simulation.close()
    with database.reading() as session:
        asked = list(session.scalars(select(Survey).order_by(Survey.id)))
        answered_events = session.scalars(
            select(CallEvent).where(CallEvent.kind == EventKind.SURVEY_ANSWERED)
        ).all()
        assert len(answered_events) == sum(s.score is not None for s in asked)
        # The day's summary counts every answer, after a call or a callback, once.
        assert simulation.tally.surveys_answered == len(answered_events)
        outcomes = {
            c.id: c.outcome
            for c in session.scalars(
                select(Call).where(Call.id.in_([s.call_id for s in asked if s.call_id is not None]))
            )
        }
    database.close()
    # The question follows an answered call, and the call stays answered.
    assert set(outcomes.values()) <= {CallOutcome.ANSWERED}
    return asked


def test_tens_are_keyed_1_then_0_on_calls_and_callbacks_alike(
    config: HotlineConfig, sqlite_template: Path, tmp_path: Path
) -> None:
    everyone_ten = line(config, answer_share=1.0, weights=[0] * 10 + [1])
    asked = one_day(sqlite_template, tmp_path, everyone_ten)
    channels = Counter(s.channel for s in asked)
    assert channels[Channel.PHONE] > 10 and channels[Channel.CALLBACK] > 3
    assert {s.score for s in asked} == {10}
    assert all(s.answered_at is not None and s.answered_at > s.asked_at for s in asked)


def test_a_lone_1_is_an_answer_of_1_once_the_ten_wait_is_over(
    config: HotlineConfig, sqlite_template: Path, tmp_path: Path
) -> None:
    everyone_one = line(config, answer_share=1.0, weights=[0, 1] + [0] * 9)
    asked = one_day(sqlite_template, tmp_path, everyone_one)
    assert asked and {s.score for s in asked} == {1}
    ten_timeout = everyone_one.survey.ten_timeout
    assert all(s.answered_at and s.answered_at - s.asked_at > ten_timeout for s in asked)


def test_those_who_do_not_answer_hang_up_and_are_counted_as_asked(
    config: HotlineConfig, sqlite_template: Path, tmp_path: Path
) -> None:
    nobody = line(config, answer_share=0.0, weights=[1] * 11)
    asked = one_day(sqlite_template, tmp_path, nobody)
    assert asked and all(s.score is None and s.answered_at is None for s in asked)


def test_the_same_seed_gives_the_same_answers(
    config: HotlineConfig, sqlite_template: Path, tmp_path: Path
) -> None:
    as_configured = line(config, answer_share=0.5, weights=config.simulation.survey_score_weights)
    runs = [
        [
            (s.channel, s.call_id, s.callback_id, s.asked_at, s.score)
            for s in one_day(sqlite_template, tmp_path, as_configured, name=name)
        ]
        for name in ("first", "second")
    ]
    assert runs[0] == runs[1]
    assert any(score is None for *_, score in runs[0])
    assert any(score is not None for *_, score in runs[0])


def test_the_share_who_answer_and_the_scores_follow_the_configuration(
    config: HotlineConfig,
) -> None:
    simulation = config.simulation.model_copy(
        update={"survey_answer_share": 0.3, "survey_score_weights": [0] * 7 + [1, 0, 0, 3]}
    )
    rng = random.Random(1)
    keyed = Counter(survey_keys(rng, simulation) for _ in range(10_000))
    assert keyed.keys() == {None, "7", "10"}
    assert 0.28 < 1 - keyed[None] / 10_000 < 0.32
    assert 2.7 < keyed["10"] / keyed["7"] < 3.3
