"""Whole calls through the Asterisk adapter, against the fake Asterisk and a real store."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.state import Phase
from callflow.store.advisors import set_advisor_state
from callflow.store.models import Advisor, AdvisorState, Call
from callflow.store.session import Database
from tests.fakes.ari_asterisk import Phone
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari.adapter_rig import AdapterRig, running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.store.helpers import T0, add_advisor

ADVISOR_PHONE = "PJSIP/advisor-1"


@pytest.fixture
def ari_config(config: HotlineConfig) -> HotlineConfig:
    return with_ari(config)


def advisor_with_phone(
    database: Database,
    dial_string: str = ADVISOR_PHONE,
    languages: tuple[str, ...] = ("fi",),
    skills: tuple[str, ...] = ("nurse",),
) -> int:
    with database.transaction() as session:
        advisor_id = add_advisor(session, "Aino", skills, languages)
        advisor = session.get(Advisor, advisor_id)
        assert advisor is not None
        advisor.dial_string = dial_string
        return advisor_id


def advisor_state(database: Database, advisor_id: int) -> AdvisorState:
    with database.reading() as session:
        state = session.scalar(select(Advisor.state).where(Advisor.id == advisor_id))
        assert state is not None
        return state


def stored_call(database: Database, channel_id: str) -> Call:
    with database.reading() as session:
        call = session.scalar(select(Call).where(Call.provider_ref == channel_id))
        assert call is not None
        session.expunge(call)
        return call


async def closed_in_store(rig: AdapterRig, database: Database, channel_id: str) -> Call:
    """The call on *channel_id*, once the adapter has let it go and the store ended it."""
    await rig.until(lambda: channel_id not in rig.line.calls, f"{channel_id} let go")
    await rig.until(
        lambda: stored_call(database, channel_id).ended_at is not None, f"{channel_id} ended"
    )
    return stored_call(database, channel_id)


async def queued_for_health(
    rig: AdapterRig, number: str = "+358401234567", language: str = "fi", topic: str = "health"
) -> str:
    """A caller picks *language*, then health (or *topic*), and waits in the queue."""
    channel = await rig.call_in(number)
    digit = str(rig.line.config.languages[language].digit)
    await rig.press(channel, digit)  # during the greeting: barge-in
    await rig.until(lambda: rig.call(channel).state.language == language, "language chosen")
    await rig.press(channel, str(rig.line.config.queues[topic].digit))
    await rig.in_phase(channel, Phase.QUEUED)
    return channel


def in_bridge(fake: FakeAsterisk, bridge_id: str, channel_id: str) -> bool:
    bridge = fake.model.bridges.get(bridge_id)
    return bridge is not None and channel_id in bridge.channels


class TestInboundCalls:
    def test_a_caller_chooses_language_and_topic_and_waits_with_music(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        """The menus are answered by keys pressed during the prompts; the caller then
        waits in the topic's holding bridge with music, and the store has the call."""

        async def scenario() -> None:
            async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
                channel = await queued_for_health(rig)
                await rig.until(lambda: in_bridge(fake_ari, "cf-queue-health", channel))
                bridge = fake_ari.model.bridges["cf-queue-health"]
                assert bridge.bridge_type == "holding"
                await rig.until(lambda: bridge.announcer is not None, "music on hold")
                call = stored_call(database, channel)
                assert (call.language, call.topic) == ("fi", "health")
                assert call.flow_state is not None and call.flow_state["phase"] == "queued"

        run(scenario())

    def test_a_caller_who_hangs_up_in_the_queue_is_logged_as_such(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        async def scenario() -> None:
            async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
                channel = await queued_for_health(rig)
                await fake_ari.hang_up_far_end(channel)
                call = await closed_in_store(rig, database, channel)
                assert call.outcome == "abandoned_queue"

        run(scenario())

    @pytest.mark.slow
    def test_silence_at_the_menus_is_answered_as_the_engine_says(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        """Input timeouts run on the event loop from the injected clock: a caller who
        never presses a key ends up, after the retries, in the fallback queue."""

        async def scenario() -> None:
            async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
                channel = await rig.call_in()
                call = await rig.in_phase(channel, Phase.QUEUED)
                assert call.state.topic == ari_config.menu.fallback_topic

        run(scenario(), timeout=30)


class TestAdvisors:
    def test_a_free_advisor_is_rung_joined_with_the_caller_then_wraps_up(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        fake_ari.model.devices[ADVISOR_PHONE] = Phone(answer_after=0.5)
        advisor_id = advisor_with_phone(database)

        async def scenario() -> None:
            async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
                channel = await queued_for_health(rig)
                call = await rig.in_phase(channel, Phase.CONNECTED)
                leg = call.advisor_leg
                assert leg is not None
                talk = f"cf-talk-{call.state.call_id}"
                await rig.until(lambda: in_bridge(fake_ari, talk, channel))
                assert in_bridge(fake_ari, talk, leg)
                assert not in_bridge(fake_ari, "cf-queue-health", channel)
                assert advisor_state(database, advisor_id) is AdvisorState.BUSY
                await fake_ari.hang_up_far_end(leg)  # the advisor ends the talk
                await rig.until(lambda: channel not in rig.line.calls, "caller let go")
                await rig.until(lambda: advisor_state(database, advisor_id) is AdvisorState.WRAP_UP)

        run(scenario())

    def test_a_caller_further_back_is_rung_an_advisor_who_speaks_their_language(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        """Two Finnish callers wait for Finnish advisors (none free); a Swedish caller
        behind them is not held up by them when a Swedish-speaking advisor is free."""
        advisor_id = advisor_with_phone(database, languages=("sv",))

        async def scenario() -> None:
            async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
                finnish = [await queued_for_health(rig, f"+35840123456{n}", "fi") for n in range(2)]
                swedish = await queued_for_health(rig, "+358401234569", "sv")
                await rig.until(lambda: rig.call(swedish).advisor_leg is not None, "rung")
                leg = rig.call(swedish).advisor_leg
                assert leg is not None and leg.startswith(f"cf-adv-{advisor_id}-")
                assert all(rig.call(channel).advisor_leg is None for channel in finnish)

        run(scenario())

    def test_the_longest_waiter_goes_first_whatever_their_topic(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        """A nurse who is a social counsellor too signs in while a social caller and then
        a health caller wait: the social caller, who has waited longer, is theirs, though
        health comes first in the menu."""
        advisor_id = advisor_with_phone(database, skills=("nurse", "social_counsellor"))
        with database.transaction() as session:
            set_advisor_state(session, advisor_id, AdvisorState.OFFLINE, T0)

        async def scenario() -> None:
            async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
                social = await queued_for_health(rig, "+358401234561", topic="social")
                health = await queued_for_health(rig, "+358401234562")
                with database.transaction() as session:
                    set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, T0)
                rig.line.advisors.wake()
                callers = (social, health)
                await rig.until(lambda: any(rig.call(c).advisor_leg for c in callers), "rung")
                assert rig.call(social).advisor_leg is not None
                assert rig.call(health).advisor_leg is None

        run(scenario())

    def test_an_advisor_who_does_not_answer_goes_on_a_break(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        fake_ari.model.devices[ADVISOR_PHONE] = Phone(cause=19)
        advisor_id = advisor_with_phone(database)

        async def scenario() -> None:
            async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
                channel = await queued_for_health(rig)
                await rig.until(lambda: advisor_state(database, advisor_id) is AdvisorState.BREAK)
                assert rig.call(channel).state.phase is Phase.QUEUED
                assert rig.call(channel).advisor_leg is None

        run(scenario())


class TestFaults:
    @pytest.mark.slow
    def test_callers_waiting_through_a_dropped_websocket_are_kept_or_closed(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        """Events while the socket is down are lost: the resync finds who hung up
        meanwhile (closed as such) and who still waits (still queued, in the bridge)."""

        async def scenario() -> None:
            async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
                channels = [await queued_for_health(rig) for _ in range(6)]
                connections = fake_ari.websocket_connections
                await fake_ari.drop_websockets()
                for channel in channels[:2]:
                    await fake_ari.hang_up_far_end(channel)
                await rig.until(lambda: fake_ari.websocket_connections > connections)
                gone = channels[:2]
                await rig.until(lambda: not set(gone) & set(rig.line.calls), "callers closed")
                await rig.until(
                    lambda: all(stored_call(database, c).ended_at is not None for c in gone),
                    "their calls ended in the store",
                )
                for channel in channels[2:]:
                    assert rig.call(channel).state.phase is Phase.QUEUED
                    assert in_bridge(fake_ari, "cf-queue-health", channel)

        run(scenario(), timeout=30)

    @pytest.mark.slow
    def test_a_restarted_adapter_carries_on_with_the_calls(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        """The adapter process goes away mid-call; the next one restores the call from
        the store and serves it: here, an advisor who signs in afterwards takes it."""

        async def scenario() -> None:
            async with fake_ari:
                async with running_line(fake_ari, ari_config, database) as rig:
                    channel = await queued_for_health(rig)
                fake_ari.model.devices[ADVISOR_PHONE] = Phone(answer_after=0.5)
                advisor_with_phone(database)
                async with running_line(fake_ari, ari_config, database) as rig:
                    await rig.until(lambda: channel in rig.line.calls, "call restored")
                    await rig.in_phase(channel, Phase.CONNECTED)

        run(scenario(), timeout=30)

    def test_a_talk_that_ended_while_no_adapter_ran_ends_for_the_caller_and_the_advisor(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        """The adapter goes away mid-talk and the advisor hangs up before the next one
        starts: it finds no leg for the call, so the caller is let go and the advisor,
        busy in the store all along, wraps up instead of staying busy for good."""
        fake_ari.model.devices[ADVISOR_PHONE] = Phone(answer_after=0.5)
        advisor_id = advisor_with_phone(database)

        async def scenario() -> None:
            async with fake_ari:
                async with running_line(fake_ari, ari_config, database) as rig:
                    channel = await queued_for_health(rig)
                    leg = (await rig.in_phase(channel, Phase.CONNECTED)).advisor_leg
                    assert leg is not None
                await fake_ari.hang_up_far_end(leg)
                assert advisor_state(database, advisor_id) is AdvisorState.BUSY
                async with running_line(fake_ari, ari_config, database) as rig:
                    await rig.until(lambda: channel not in fake_ari.model.channels, "let go")
                    await rig.until(
                        lambda: advisor_state(database, advisor_id) is AdvisorState.WRAP_UP,
                        "advisor wrapping up",
                    )
                    call = await closed_in_store(rig, database, channel)
                    assert call.outcome == "answered"

        run(scenario(), timeout=30)
