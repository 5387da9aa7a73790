"""Lines the exchange lost, through the Asterisk adapter: a restart of Asterisk under a
waiting caller, a hang-up naming a network fault, a hang-up asked inside Asterisk. Each is
stored ``dropped``; a caller who hangs up is still an abandon."""

from __future__ import annotations

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.state import Menu
from callflow.engine.vocabulary import CallOutcome
from callflow.store.session import Database
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari.adapter_rig import running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.providers.ari.test_adapter import closed_in_store, queued_for_health, stored_call


@pytest.fixture
def ari_config(config: HotlineConfig) -> HotlineConfig:
    return with_ari(config)


@pytest.mark.slow
def test_callers_waiting_when_asterisk_restarts_are_dropped_not_abandoned(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    """``core restart now``: the websocket goes, and with it every channel. Back on a
    new Asterisk, the resync finds the callers gone: the exchange lost them."""

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channels = [await queued_for_health(rig) for _ in range(2)]
            connections = fake_ari.websocket_connections
            await fake_ari.restart()
            await rig.until(lambda: fake_ari.websocket_connections > connections, "back")
            for channel in channels:
                call = await closed_in_store(rig, database, channel)
                assert call.outcome == CallOutcome.DROPPED

    run(scenario(), timeout=30)


@pytest.mark.slow
def test_a_caller_gone_while_the_websocket_was_down_but_asterisk_was_not_is_an_abandon(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await queued_for_health(rig)
            connections = fake_ari.websocket_connections
            await fake_ari.drop_websockets()
            await fake_ari.hang_up_far_end(channel)
            await rig.until(lambda: fake_ari.websocket_connections > connections, "back")
            call = await closed_in_store(rig, database, channel)
            assert call.outcome == CallOutcome.ABANDONED_QUEUE

    run(scenario(), timeout=30)


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [
        (16, CallOutcome.ABANDONED_QUEUE),  # normal clearing: the caller put the phone down
        (31, CallOutcome.ABANDONED_QUEUE),  # normal, unspecified
        (27, CallOutcome.DROPPED),  # destination out of order
        (38, CallOutcome.DROPPED),  # network out of order
        (127, CallOutcome.ABANDONED_QUEUE),  # interworking: names no fault, so a hang-up
        (41, CallOutcome.DROPPED),  # temporary failure
    ],
)
def test_the_hang_up_cause_tells_a_drop_from_an_abandon_in_the_queue(
    fake_ari: FakeAsterisk,
    ari_config: HotlineConfig,
    database: Database,
    cause: int,
    outcome: CallOutcome,
) -> None:
    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await queued_for_health(rig)
            await fake_ari.hang_up_far_end(channel, cause)
            call = await closed_in_store(rig, database, channel)
            assert call.outcome == outcome

    run(scenario())


def test_a_network_fault_in_the_menus_is_a_drop(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await rig.call_in()
            await rig.until(lambda: rig.call(channel).state.menu is Menu.LANGUAGE, "asked")
            await fake_ari.hang_up_far_end(channel, 34)  # circuit/channel congestion
            await closed_in_store(rig, database, channel)
            assert stored_call(database, channel).outcome == CallOutcome.DROPPED

    run(scenario())


def test_a_hang_up_asked_inside_asterisk_is_a_drop(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    """A shutdown, or an operator's ``channel request hangup``: a soft hang-up nobody on
    the line chose."""

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await queued_for_health(rig)
            fake_ari.model.hang_up_by_app(fake_ari.model.channels[channel], 16)
            call = await closed_in_store(rig, database, channel)
            assert call.outcome == CallOutcome.DROPPED

    run(scenario())
