"""The recommendation question on the fake Asterisk: the advisor hangs up first, the caller
stays in our application, hears the question and answers it with keys (or hangs up); the
answer is stored with the call, which stays answered."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.state import Phase
from callflow.engine.survey import Stage
from callflow.engine.vocabulary import CallOutcome, Channel
from callflow.store.models import Survey
from callflow.store.session import Database
from tests.engine.conftest import with_settings
from tests.fakes.ari_asterisk import Phone
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari.adapter_rig import AdapterRig, running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.providers.ari.test_adapter import (
    ADVISOR_PHONE,
    advisor_with_phone,
    closed_in_store,
    in_bridge,
    queued_for_health,
)


@pytest.fixture
def ari_config() -> HotlineConfig:
    return with_ari(with_settings({"survey.enabled": True, "survey.share": 1.0}))


def surveys(database: Database) -> list[Survey]:
    with database.reading() as session:
        rows = list(session.scalars(select(Survey).order_by(Survey.id)))
        session.expunge_all()
        return rows


async def advisor_hangs_up(
    rig: AdapterRig, fake: FakeAsterisk, number: str, cause: int = 16
) -> str:
    """A caller talks with the advisor, who then hangs up (with *cause*); the caller's
    channel."""
    channel = await queued_for_health(rig, number)
    call = await rig.in_phase(channel, Phase.CONNECTED)
    leg = call.advisor_leg
    assert leg is not None
    await rig.until(lambda: in_bridge(fake, f"cf-talk-{call.state.call_id}", channel), "talk")
    await fake.hang_up_far_end(leg, cause)
    return channel


async def asked(rig: AdapterRig, channel: str) -> None:
    """The question has been said to the end: the caller's answer is awaited."""
    call = await rig.in_phase(channel, Phase.SURVEY)

    def waiting() -> bool:
        survey = call.state.survey
        return survey is not None and survey.stage is Stage.ASKING and survey.timer_at is not None

    await rig.until(waiting, "the question said")


@pytest.mark.parametrize(("keys", "score"), [("10", 10), ("7", 7)])
def test_the_caller_answers_after_the_advisor_hangs_up(
    fake_ari: FakeAsterisk,
    ari_config: HotlineConfig,
    database: Database,
    keys: str,
    score: int,
) -> None:
    fake_ari.model.devices[ADVISOR_PHONE] = Phone(answer_after=0.5)
    advisor_with_phone(database)

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await advisor_hangs_up(rig, fake_ari, "+358401234567")
            await asked(rig, channel)
            # Still ours, still up, and alone: the talk bridge is gone.
            assert fake_ari.model.channels[channel].stasis_app == "hotline"
            await rig.until(lambda: fake_ari.model.channels[channel].bridge is None, "unbridged")
            await rig.press(channel, keys)
            call = await closed_in_store(rig, database, channel)  # thanks, then hung up
            assert call.outcome == CallOutcome.ANSWERED
            [row] = surveys(database)
            assert (row.call_id, row.channel, row.topic, row.score) == (
                call.id,
                Channel.PHONE,
                "health",
                score,
            )
            assert row.asked_at is not None and row.answered_at is not None
            assert row.asked_at <= row.answered_at
            assert channel not in fake_ari.model.channels  # the line hung up

    run(scenario())


def test_a_caller_who_hangs_up_at_the_question_has_no_answer(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    fake_ari.model.devices[ADVISOR_PHONE] = Phone(answer_after=0.5)
    advisor_with_phone(database)

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await advisor_hangs_up(rig, fake_ari, "+358401234567")
            await asked(rig, channel)
            await fake_ari.hang_up_far_end(channel)
            call = await closed_in_store(rig, database, channel)
            assert call.outcome == CallOutcome.ANSWERED
            [row] = surveys(database)
            assert (row.call_id, row.score, row.answered_at) == (call.id, None, None)

    run(scenario())


def test_a_talk_the_exchange_dropped_is_not_followed_by_the_question(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    """The advisor's leg ends for a network fault (cause 38): nobody chose to end the talk,
    so the caller is not asked how it went."""
    fake_ari.model.devices[ADVISOR_PHONE] = Phone(answer_after=0.5)
    advisor_with_phone(database)

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await advisor_hangs_up(rig, fake_ari, "+358401234567", cause=38)
            call = await closed_in_store(rig, database, channel)
            assert call.outcome == CallOutcome.ANSWERED
            assert surveys(database) == []

    run(scenario())
