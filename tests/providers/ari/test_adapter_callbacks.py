"""The callback offer through the Asterisk adapter: taken while holding in the queue, the
number read back, the request stored; a caller who hangs up during the read-back keeps
the callback they said yes to, as on every provider."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.state import Menu
from callflow.engine.vocabulary import CallbackStatus
from callflow.store.models import CallbackRequest
from callflow.store.session import Database
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari.adapter_rig import AdapterRig, running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.providers.ari.test_adapter import closed_in_store, queued_for_health, stored_call
from tests.store.helpers import T0

CALLER = "+358401234567"


@pytest.fixture
def ari_config(config: HotlineConfig) -> HotlineConfig:
    return with_ari(config)


def requests(database: Database) -> list[CallbackRequest]:
    with database.reading() as session:
        found = list(session.scalars(select(CallbackRequest)))
        session.expunge_all()
        return found


def played(fake: FakeAsterisk, channel: str) -> list[str]:
    """Every media URI played to *channel*, in order."""
    return [
        medium
        for request in fake.requests
        if request.operation == "channels.play" and channel in request.path
        for medium in request.query.get("media", "").split(",")
    ]


async def offered_and_taken(rig: AdapterRig) -> str:
    """Nobody staffs the queue: the first announcement offers a callback; the caller
    takes it and hears their number read back."""
    channel = await queued_for_health(rig)
    await rig.until(lambda: rig.call(channel).state.menu is Menu.OFFER, "the offer")
    await rig.press(channel, "1")
    await rig.until(lambda: rig.call(channel).state.menu is Menu.READBACK, "the read-back")
    return channel


def test_an_accepted_offer_reads_the_number_back_and_stores_the_request(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await offered_and_taken(rig)
            await rig.until(
                lambda: (
                    played(fake_ari, channel)[-11:-1]
                    == [f"sound:fi/callflow/number-{digit}" for digit in "0401234567"]
                ),
                "the number read back digit by digit",
            )
            assert not fake_ari.model.bridges["cf-queue-health"].channels, "left the queue"
            await rig.press(channel, "1")  # yes, call this number
            await rig.until(lambda: bool(requests(database)), "the request stored")
            await rig.until(lambda: channel not in fake_ari.model.channels, "hung up by us")
            [request] = requests(database)
            assert (request.number_e164, request.topic, request.language) == (
                CALLER,
                "health",
                "fi",
            )
            await closed_in_store(rig, database, channel)
            assert stored_call(database, channel).outcome == "callback_requested"
            # The promised time, said before we hang up: today by 10.30.
            assert played(fake_ari, channel)[-4:] == [
                "sound:fi/callflow/number-10",
                "sound:fi/callflow/number-30",
                "sound:fi/callflow/by_today-2",
                "sound:fi/callflow/callback_confirmed-2",
            ]

    run(scenario())


def test_a_caller_who_hangs_up_during_the_read_back_keeps_the_callback(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await offered_and_taken(rig)
            await fake_ari.hang_up_far_end(channel)
            await closed_in_store(rig, database, channel)
            # They said yes to the offer; the number is the one they called from.
            [request] = requests(database)
            assert (request.number_e164, request.status) == (CALLER, CallbackStatus.PENDING)
            assert stored_call(database, channel).outcome == "callback_requested"

    run(scenario())


SATURDAY = T0 + timedelta(days=5)


@pytest.mark.slow
def test_a_silent_call_when_closed_hears_the_next_opening_and_is_logged_closed(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database, SATURDAY) as rig:
            channel = await rig.call_in()
            await rig.until(lambda: channel not in fake_ari.model.channels, "hung up by us")
            heard = played(fake_ari, channel)
            closed = heard.index("sound:fi/callflow/closed-1")
            # "... We open again on Monday at 9."
            assert heard[closed + 1 : closed + 4] == [
                "sound:fi/callflow/day-monday",
                "sound:fi/callflow/at_day-1",
                "sound:fi/callflow/number-9",
            ]
            assert heard[-1] == "sound:fi/callflow/goodbye"
            await closed_in_store(rig, database, channel)
            assert stored_call(database, channel).outcome == "closed"
            assert requests(database) == []

    run(scenario())


def test_a_call_when_closed_can_leave_a_request_for_after_the_opening(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database, SATURDAY) as rig:
            channel = await rig.call_in()
            for menu in (Menu.LANGUAGE, Menu.TOPIC, Menu.OFFER, Menu.READBACK):
                await rig.until(lambda m=menu: rig.call(channel).state.menu is m, str(menu))
                await rig.press(channel, "1")
            await rig.until(lambda: bool(requests(database)), "the request stored")
            [request] = requests(database)
            assert (request.number_e164, request.topic) == (CALLER, "health")
            monday_opening = T0 + timedelta(days=7, hours=-1)  # 09:00 in Helsinki
            assert request.not_before == monday_opening

    run(scenario())
