"""Callback attempts through Asterisk: every way a resident's leg can end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.clock import AcceleratedClock
from callflow.engine.vocabulary import AttemptResult, Channel
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.dialler import AriDialler, result_of_cause
from callflow.providers.ari.sounds import sound_files
from callflow.providers.port import CallbackCall, ResidentCall
from callflow.store.models import Survey
from callflow.store.session import Database
from tests.engine.conftest import with_settings
from tests.fakes.ari_asterisk import LAB_DIALPLAN, Phone, Stasis
from tests.fakes.ari_server import PASSWORD, USERNAME, FakeAsterisk
from tests.providers.ari.lines import with_ari, with_connect
from tests.providers.ari.rig import run
from tests.store.helpers import T0, add_callback

APP = "hotline-dialler-test"
ADVISOR = "PJSIP/advisor-7"
RESIDENT = "+358401234567"
TRUNK_DEVICE = f"PJSIP/{RESIDENT}@trunk"
SURVEY_ON = with_settings({"survey.enabled": True, "survey.share": 1.0})


def callback() -> CallbackCall:
    return CallbackCall(
        callback_id=41,
        attempt_no=1,
        advisor_id=7,
        advisor_dial_string=ADVISOR,
        number_e164=RESIDENT,
        topic="health",
        language="fi",
        waited=timedelta(minutes=12),
        caller_id="+358923100000",
    )


def fake_with(amd_verdict: str = "HUMAN") -> FakeAsterisk:
    dialplan = {
        **LAB_DIALPLAN,
        ("callflow-amd", "s"): Stasis("${CALLFLOW_APP}", ("resident", amd_verdict)),
    }
    return FakeAsterisk(time_scale=0.01, dialplan=dialplan)


@asynccontextmanager
async def dialler_on(
    fake: FakeAsterisk, config: HotlineConfig, database: Database | None = None
) -> AsyncIterator[AriDialler]:
    assert config.provider.ari is not None
    for sound in sound_files(config, config.provider.ari):
        fake.add_sound(sound.name, 1.0)
    async with fake, AriClient(fake.url, USERNAME, PASSWORD, APP) as client:
        clock = AcceleratedClock(T0, speed=100)
        dialler = AriDialler(config, client, clock, database=database)
        hearing = asyncio.create_task(dialler.run())
        try:
            await fake.wait_until(lambda: fake.is_connected(APP), 5)
            yield dialler
        finally:
            hearing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hearing


async def attempt(dialler: AriDialler) -> ResidentCall | None:
    leg = await dialler.ring_advisor(callback(), timedelta(seconds=20))
    if leg is None:
        return None
    resident = await dialler.dial_resident(callback(), leg)
    if resident.result is not AttemptResult.REACHED:
        await dialler.hang_up(leg)
    return resident


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        (Phone(cause=17), AttemptResult.BUSY),
        (Phone(cause=19), AttemptResult.NO_ANSWER),
        (Phone(cause=1), AttemptResult.WRONG_NUMBER),
        (Phone(cause=34), AttemptResult.CONGESTION),
        (Phone(cause=127), AttemptResult.FAILED),
    ],
)
def test_a_resident_who_is_not_reached_gives_the_attempt_its_result(
    config: HotlineConfig, phone: Phone, expected: AttemptResult
) -> None:
    fake = fake_with()
    fake.model.devices.update({ADVISOR: Phone(answer_after=0.5), TRUNK_DEVICE: phone})

    async def scenario() -> None:
        line = with_connect(with_ari(config), machine_detection=False)
        async with dialler_on(fake, line) as dialler:
            resident = await attempt(dialler)
            assert resident == ResidentCall(expected)

    run(scenario())


@pytest.mark.slow
def test_an_answered_callback_joins_the_legs_and_reports_the_talk(config: HotlineConfig) -> None:
    """The advisor hears the whisper first; the resident answers (a person, says AMD),
    both talk in one bridge, and the attempt is reached with the talk's length."""
    fake = fake_with("HUMAN")
    fake.model.devices.update(
        {ADVISOR: Phone(answer_after=0.5), TRUNK_DEVICE: Phone(answer_after=1.0, talk=120.0)}
    )

    async def scenario() -> None:
        async with dialler_on(fake, with_ari(config)) as dialler:
            resident = await attempt(dialler)
            assert resident is not None and resident.result is AttemptResult.REACHED
            assert timedelta(seconds=100) < resident.talk < timedelta(seconds=200)
        whispered = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/play")]
        assert whispered and "advisor" in whispered[0].path

    run(scenario(), timeout=30)


def test_an_answering_machine_is_never_a_reached_resident(config: HotlineConfig) -> None:
    fake = fake_with("MACHINE")
    fake.model.devices.update(
        {ADVISOR: Phone(answer_after=0.5), TRUNK_DEVICE: Phone(answer_after=1.0)}
    )

    async def scenario() -> None:
        async with dialler_on(fake, with_ari(config)) as dialler:
            assert await attempt(dialler) == ResidentCall(AttemptResult.MACHINE)

    run(scenario())


def test_an_advisor_who_does_not_answer_means_no_resident_is_dialled(
    config: HotlineConfig,
) -> None:
    fake = fake_with()
    fake.model.devices.update({ADVISOR: Phone(cause=19)})

    async def scenario() -> None:
        async with dialler_on(fake, with_ari(config)) as dialler:
            assert await attempt(dialler) is None
        assert not any(RESIDENT in str(r.query) for r in fake.requests)

    run(scenario())


def test_hang_up_causes_map_to_attempt_results() -> None:
    assert result_of_cause(None) is AttemptResult.FAILED
    assert result_of_cause(21) is AttemptResult.NO_ANSWER


def test_an_advisor_who_hangs_up_during_the_whisper_means_no_resident_is_dialled(
    config: HotlineConfig,
) -> None:
    """The advisor answers, hears the start of the whisper and hangs up: the attempt goes
    no further (as with an advisor who never answered), and nothing is left up."""
    fake = fake_with()
    fake.model.devices.update(
        {ADVISOR: Phone(answer_after=0.5, talk=1.5), TRUNK_DEVICE: Phone(answer_after=1.0)}
    )

    async def scenario() -> None:
        async with dialler_on(fake, with_ari(config)) as dialler:
            assert await attempt(dialler) is None
        assert any(r.operation == "channels.play" and "advisor" in r.path for r in fake.requests)
        assert not any(RESIDENT in str(r.query) for r in fake.requests)
        assert not fake.model.channels

    run(scenario())


@pytest.mark.slow
def test_legs_lost_in_an_asterisk_restart_end_the_attempt_without_a_second_dial(
    config: HotlineConfig,
) -> None:
    """Asterisk restarts while the resident's phone rings, taking both legs with it. Once
    the dialler is back, the attempt ends as failed (the dispatcher returns the request
    to the line by its retry policy), and the resident was dialled once, not again."""
    fake = fake_with()
    fake.model.devices.update(
        {ADVISOR: Phone(answer_after=0.5), TRUNK_DEVICE: Phone(answer_after=None)}
    )
    ringing = timedelta(minutes=30)  # rings until the restart, however slow the machine

    async def scenario() -> None:
        line = with_connect(
            with_ari(config), machine_detection=False, resident_ring_timeout=ringing
        )
        async with dialler_on(fake, line) as dialler:
            attempted = asyncio.create_task(attempt(dialler))
            await fake.wait_until(lambda: resident_leg(fake) is not None, 5)
            await fake.restart()
            resident = await asyncio.wait_for(attempted, 10)
        assert resident == ResidentCall(AttemptResult.FAILED)
        dialled = [r for r in fake.requests if RESIDENT in str(r.query)]
        assert len(dialled) == 1
        assert not fake.model.channels

    run(scenario(), timeout=30)


def resident_leg(fake: FakeAsterisk) -> str | None:
    return next((c for c in fake.model.channels if c.endswith("-resident")), None)


@pytest.mark.slow
def test_the_first_callback_after_start_is_not_judged_by_the_start_up_listing(
    config: HotlineConfig,
) -> None:
    """Issue 16, item 3: the dialler's start-up ``GET /channels`` is on its way when the
    advisor's leg is originated, and comes back without it (as a live Asterisk answered).
    The leg is not declared gone: the advisor answers, hears the whisper, the resident is
    dialled and reached, and nothing is left up afterwards."""
    fake = fake_with("HUMAN")
    fake.model.devices.update(
        {ADVISOR: Phone(answer_after=0.5), TRUNK_DEVICE: Phone(answer_after=1.0, talk=120.0)}
    )

    async def scenario() -> None:
        listing = fake.hold_next("channels.list")
        async with dialler_on(fake, with_ari(config)) as dialler:
            await fake.wait_until(lambda: asked(fake, "channels.list"), 5)
            attempted = asyncio.create_task(attempt(dialler))
            await fake.wait_until(lambda: advisor_leg(fake) is not None, 5)
            listing.set()
            resident = await asyncio.wait_for(attempted, 10)
        assert resident is not None and resident.result is AttemptResult.REACHED
        listed = next(r for r in fake.requests if r.operation == "channels.list")
        assert listed.response == []  # the listing did miss the leg
        assert asked(fake, "channels.play")  # the whisper
        assert any(RESIDENT in str(r.query) for r in fake.requests)
        assert not fake.model.channels

    run(scenario(), timeout=30)


def asked(fake: FakeAsterisk, operation: str) -> bool:
    return any(r.operation == operation for r in fake.requests)


def advisor_leg(fake: FakeAsterisk) -> str | None:
    return next((c for c in fake.model.channels if c.endswith("-advisor")), None)


def test_a_worker_stopping_while_the_advisor_rings_hangs_the_leg_up(
    config: HotlineConfig,
) -> None:
    """The worker stops (the attempt is cancelled) while the advisor's phone rings: the
    leg is hung up there and then, not left ringing into an application nobody serves."""
    fake = fake_with()
    fake.model.devices.update({ADVISOR: Phone(answer_after=None)})

    async def scenario() -> None:
        async with dialler_on(fake, with_ari(config)) as dialler:
            ringing = asyncio.create_task(dialler.ring_advisor(callback(), timedelta(hours=1)))
            await fake.wait_until(lambda: advisor_leg(fake) is not None, 5)
            ringing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ringing
            assert not fake.model.channels

    run(scenario())


def test_an_attempt_that_fails_with_an_error_hands_both_legs_back(
    config: HotlineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both have answered when joining them fails with an unexpected error: the error
    reaches the dispatcher, and neither the advisor nor the resident is left on a silent
    line."""
    fake = fake_with("HUMAN")
    fake.model.devices.update(
        {ADVISOR: Phone(answer_after=0.5), TRUNK_DEVICE: Phone(answer_after=1.0)}
    )

    async def scenario() -> None:
        async with dialler_on(fake, with_ari(config)) as dialler:

            async def broken(*args: object, **kwargs: object) -> None:
                raise RuntimeError("a bug in joining the legs")

            monkeypatch.setattr(dialler.client.bridges, "create", broken)
            leg = await dialler.ring_advisor(callback(), timedelta(seconds=20))
            assert leg is not None
            with pytest.raises(RuntimeError):
                await dialler.dial_resident(callback(), leg)
            assert not fake.model.channels

    run(scenario())


def plays_on(fake: FakeAsterisk, channel_id: str) -> list[object]:
    return [r for r in fake.requests if r.path.endswith(f"/channels/{channel_id}/play")]


def _surveys(database: Database) -> list[Survey]:
    with database.reading() as session:
        rows = list(session.scalars(select(Survey).order_by(Survey.id)))
        session.expunge_all()
        return rows


def _reached_callback(
    database: Database, topic: str = "health", language: str = "fi"
) -> tuple[CallbackCall, FakeAsterisk]:
    """A stored request and its call, and an Asterisk on which the advisor and then the
    resident answer."""
    with database.transaction() as session:
        callback_id = add_callback(session, RESIDENT, topic=topic, language=language)
    call = replace(callback(), callback_id=callback_id, topic=topic, language=language)
    fake = fake_with()
    fake.model.devices.update(
        {ADVISOR: Phone(answer_after=0.5), TRUNK_DEVICE: Phone(answer_after=1.0)}
    )
    return call, fake


SURVEYED_LINE = with_connect(with_ari(SURVEY_ON), machine_detection=False)


async def _talk_ended_by_the_advisor(
    fake: FakeAsterisk, dialler: AriDialler, call: CallbackCall, cause: int = 16
) -> str:
    """The two legs talk, then the advisor's ends with *cause* (16: they hung up); the
    attempt is over, reached, at once. The resident's leg."""
    leg = await dialler.ring_advisor(call, timedelta(seconds=20))
    assert leg is not None
    dialling = asyncio.create_task(dialler.dial_resident(call, leg))
    bridge = f"cf-cb-{call.callback_id}-1"
    await fake.wait_until(
        lambda: len(getattr(fake.model.bridges.get(bridge), "channels", ())) == 2, 5
    )
    await fake.hang_up_far_end(leg.ref, cause)
    assert (await dialling).result is AttemptResult.REACHED
    return f"cf-cb-{call.callback_id}-1-resident"


@pytest.mark.parametrize(("keys", "score"), [("10", 10), ("7", 7), ("", None)])
def test_a_resident_the_advisor_hung_up_on_is_asked_the_question(
    database: Database, keys: str, score: int | None
) -> None:
    """The advisor ends the talk; the attempt is over (reached) at once, and the resident,
    still on the line, hears the question and answers it (or hangs up); then the line
    hangs up on them."""
    call, fake = _reached_callback(database, topic="social", language="sv")

    async def scenario() -> None:
        async with dialler_on(fake, SURVEYED_LINE, database) as dialler:
            resident_leg = await _talk_ended_by_the_advisor(fake, dialler, call)
            # The question is being said to the resident.
            await fake.wait_until(lambda: bool(plays_on(fake, resident_leg)), 5)
            if keys:
                await fake.press_digits(resident_leg, keys)
            else:
                await fake.hang_up_far_end(resident_leg)
            await fake.wait_until(lambda: resident_leg not in fake.model.channels, 5)
        [row] = _surveys(database)
        assert (row.callback_id, row.call_id, row.channel) == (
            call.callback_id,
            None,
            Channel.CALLBACK,
        )
        assert (row.language, row.topic, row.score) == ("sv", "social", score)

    run(scenario())


def test_a_resident_whose_advisor_was_cut_off_is_not_asked(database: Database) -> None:
    call, fake = _reached_callback(database)

    async def scenario() -> None:
        async with dialler_on(fake, SURVEYED_LINE, database) as dialler:
            resident_leg = await _talk_ended_by_the_advisor(fake, dialler, call, 38)
            await fake.wait_until(lambda: resident_leg not in fake.model.channels, 5)
        assert _surveys(database) == []  # 38: network out of order

    run(scenario())


def test_a_question_whose_end_was_never_heard_does_not_keep_the_resident_for_ever(
    database: Database,
) -> None:
    """The websocket drops while the question is said, and its end is never heard (Asterisk
    sends no event to an application that is away): after a while with nothing from the
    leg, the line lets the resident go instead of holding them in silence."""
    call, fake = _reached_callback(database)

    async def scenario() -> None:
        async with dialler_on(fake, SURVEYED_LINE, database) as dialler:
            dialler.question_silent_at_most = timedelta(seconds=1)
            resident_leg = await _talk_ended_by_the_advisor(fake, dialler, call)
            await fake.wait_until(lambda: bool(plays_on(fake, resident_leg)), 5)
            await fake.drop_websockets()
            await fake.wait_until(lambda: resident_leg not in fake.model.channels, 10)
        [row] = _surveys(database)
        assert (row.callback_id, row.score) == (call.callback_id, None)

    run(scenario())
