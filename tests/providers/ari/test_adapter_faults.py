"""Faults through the Asterisk adapter: a dropped websocket with a full queue, a resync's
channel list that misses an advisor's leg rung meanwhile, and a channel that hangs up
between an event and our request (Asterisk answers 404)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from callflow.config.models import HotlineConfig
from callflow.engine.state import Phase
from callflow.engine.vocabulary import CallOutcome
from callflow.store.models import AdvisorState, Call
from callflow.store.session import Database
from tests.fakes.ari_asterisk import Phone
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari.adapter_rig import running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.providers.ari.test_adapter import (
    ADVISOR_PHONE,
    advisor_state,
    advisor_with_phone,
    closed_in_store,
    in_bridge,
    queued_for_health,
    stored_call,
)

QUEUED = 50
GONE_DURING_THE_OUTAGE = 12


@pytest.fixture
def ari_config(config: HotlineConfig) -> HotlineConfig:
    return with_ari(config)


def stored_calls(database: Database) -> int:
    with database.reading() as session:
        return session.scalar(select(func.count()).select_from(Call)) or 0


@pytest.mark.slow
def test_fifty_queued_callers_through_a_dropped_websocket(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    """Fifty callers wait; the websocket drops and twelve hang up before it is back.
    After the resync those twelve are closed as abandoned in the queue, the others still
    wait in the holding bridge in their places, and no call is stored twice."""

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channels = [await queued_for_health(rig) for _ in range(QUEUED)]
            places = {c: rig.call(c).state.queue_entered_at for c in channels}
            connections = fake_ari.websocket_connections
            await fake_ari.drop_websockets()
            gone = channels[::4][:GONE_DURING_THE_OUTAGE]
            for channel in gone:
                await fake_ari.hang_up_far_end(channel)
            await rig.until(lambda: fake_ari.websocket_connections > connections, "back")
            await rig.until(lambda: not set(gone) & set(rig.line.calls), "callers closed")
            await rig.until(
                lambda: all(stored_call(database, c).ended_at is not None for c in gone),
                "their calls ended in the store",
            )
            for channel in gone:
                assert stored_call(database, channel).outcome == CallOutcome.ABANDONED_QUEUE
            for channel in set(channels) - set(gone):
                call = rig.call(channel)
                assert call.state.phase is Phase.QUEUED
                assert call.state.queue_entered_at == places[channel]
                assert in_bridge(fake_ari, "cf-queue-health", channel)
                assert stored_call(database, channel).ended_at is None
            assert stored_calls(database) == QUEUED

    run(scenario(), timeout=60)


@pytest.mark.slow
def test_an_advisor_rung_while_the_resync_lists_channels_is_not_declared_gone(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    """The websocket is back and the resync's ``GET /channels`` is on its way when a free
    advisor is rung for the waiting caller; the list comes back without the new leg (as a
    live Asterisk answered). The leg is not taken for gone: the advisor is not put on a
    break, and the caller is connected with them."""
    fake_ari.model.devices[ADVISOR_PHONE] = Phone(answer_after=0.5)

    def listings() -> int:
        return sum(r.operation == "channels.list" for r in fake_ari.requests)

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            channel = await queued_for_health(rig)
            listing = fake_ari.hold_next("channels.list")
            asked = listings()
            await fake_ari.drop_websockets()
            await rig.until(lambda: listings() > asked, "the resync asked for the channels")
            advisor_id = advisor_with_phone(database)
            rig.line.advisors.wake()
            await rig.until(lambda: rig.call(channel).advisor_leg is not None, "rung")
            leg = rig.call(channel).advisor_leg
            assert leg is not None
            await rig.until(lambda: leg in fake_ari.model.channels, "the leg originated")
            listing.set()
            await rig.in_phase(channel, Phase.CONNECTED)
            talk = f"cf-talk-{rig.call(channel).state.call_id}"
            await rig.until(lambda: in_bridge(fake_ari, talk, leg), "talking")
            assert advisor_state(database, advisor_id) is AdvisorState.BUSY

    run(scenario(), timeout=30)


def test_a_channel_gone_before_our_answer_is_a_hang_up_not_a_crash(
    fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
) -> None:
    """The caller hangs up while our answer is on its way: Asterisk says 404. The call
    is closed as abandoned in the menus, and the next caller is served as usual."""

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
            # Asterisk has already torn the channel down when our answer arrives; the
            # events that say so come after the reply.
            fake_ari.fail_next("channels.answer", status=404, message="Channel not found")
            first = await fake_ari.start_inbound_call(number="+358401110001")
            await rig.until(lambda: first.channel_id in rig.line.calls, "first call arrived")

            def answers() -> list[int]:
                return [
                    r.status
                    for r in fake_ari.requests
                    if r.operation == "channels.answer" and first.channel_id in r.path
                ]

            await rig.until(lambda: bool(answers()), "our answer answered")
            assert answers() == [404]
            await fake_ari.hang_up_far_end(first.channel_id)
            await closed_in_store(rig, database, first.channel_id)
            assert stored_call(database, first.channel_id).outcome == CallOutcome.ABANDONED_IVR
            # After the 404 nothing more was asked of that channel: no prompt, no retry.
            asked = [r.operation for r in fake_ari.requests if first.channel_id in r.path]
            assert asked == ["channels.answer"]

            second = await queued_for_health(rig)
            assert rig.call(second).state.phase is Phase.QUEUED

    run(scenario(), timeout=30)
