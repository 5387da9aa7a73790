"""Callers who hang up before the queue, through the Asterisk adapter: during the
language and topic menus, the call is closed in the store as abandoned in the menus."""

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
from tests.providers.ari.test_adapter import closed_in_store, stored_call


@pytest.fixture
def ari_config(config: HotlineConfig) -> HotlineConfig:
    return with_ari(config)


@pytest.mark.parametrize(
    ("keys", "menu"),
    [("", Menu.LANGUAGE), ("1", Menu.TOPIC)],
    ids=["at-the-language-menu", "at-the-topic-menu"],
)
def test_a_hang_up_in_the_menus_is_logged_as_abandoned_there(
    fake_ari: FakeAsterisk,
    ari_config: HotlineConfig,
    database: Database,
    keys: str,
    menu: Menu,
) -> None:
    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await rig.call_in()
            for key in keys:
                await rig.press(channel, key)
            await rig.until(lambda: rig.call(channel).state.menu is menu, str(menu))
            await fake_ari.hang_up_far_end(channel)
            await closed_in_store(rig, database, channel)
            assert stored_call(database, channel).outcome == CallOutcome.ABANDONED_IVR

    run(scenario())
