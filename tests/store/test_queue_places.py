"""Who waits in which queue is in the store, whichever provider carries the call: a caller
has a place while they wait and none once they are gone, answered or not."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.matching import WaitingCaller
from callflow.engine.state import CallState, Phase
from callflow.providers.sim.simulation import Simulation
from callflow.providers.sim.workload import Caller as SimulatedCaller
from callflow.store.models import Advisor
from callflow.store.queue_places import (
    QueuePlace,
    callers_ahead,
    first_waiting,
    give_up_place,
    keep_only,
    take_place,
    waiting,
)
from callflow.store.session import Database
from tests.fakes.ari_asterisk import Phone
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari import conftest as ari_fixtures
from tests.providers.ari.adapter_rig import AdapterRig, running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.providers.twilio import conftest as twilio_fixtures
from tests.providers.twilio.conftest import TwilioRig
from tests.store.helpers import T0, add_advisor

ADVISOR_PHONE = "PJSIP/advisor-1"

# The providers' rigs, here on both databases (Twilio's own tests run most on SQLite only).
fake_ari = ari_fixtures.fake_ari
twilio_config = twilio_fixtures.twilio_config
settings = twilio_fixtures.settings
clock = twilio_fixtures.clock
fake = twilio_fixtures.fake
line = twilio_fixtures.line


def health_caller(patience: timedelta) -> SimulatedCaller:
    """A Finnish caller for health, a second into the run, who will not take a callback."""
    return SimulatedCaller(
        arrives_at=T0 + timedelta(seconds=1),
        withheld=False,
        language="fi",
        topic="health",
        patience=patience,
        takes_callback=False,
    )


def places(database: Database) -> list[tuple[str, str, str, str, datetime]]:
    with database.reading() as session:
        return [
            (p.call_id, p.provider, p.topic, p.language, p.entered_at)
            for p in session.scalars(select(QueuePlace).order_by(QueuePlace.call_id))
        ]


class TestPlaces:
    def test_waiting_callers_come_in_line_order_per_provider_and_topic(
        self, database: Database
    ) -> None:
        """Entry time first, the call id on a tie: the engine's own order."""
        with database.transaction() as session:
            for call_id, seconds in (("b", 0), ("c", 5), ("a", 0), ("d", 1)):
                take_place(
                    session,
                    call_id,
                    provider="ari",
                    topic="health",
                    language="fi",
                    entered_at=T0 + timedelta(seconds=seconds),
                )
            take_place(session, "e", provider="ari", topic="social", language="sv", entered_at=T0)
            take_place(
                session, "f", provider="twilio", topic="health", language="fi", entered_at=T0
            )
        with database.reading() as session:
            health = waiting(session, "ari", "health")
            assert [c.call_id for c in health] == ["a", "b", "d", "c"]
            assert health[0] == WaitingCaller(T0, "a", "fi")
            assert health[0].entered_at.utcoffset() == timedelta(0)
            assert waiting(session, "ari", "social") == [WaitingCaller(T0, "e", "sv")]
            assert [c.call_id for c in waiting(session, "twilio", "health")] == ["f"]
            assert first_waiting(session, "ari", "health") == health[0]
            assert first_waiting(session, "twilio", "social") is None
            # Each caller's count of those ahead is their place in that order, a tie on the
            # entry time included; one not queued yet would stand behind everyone.
            ahead = [
                callers_ahead(session, "ari", "health", c.entered_at, c.call_id) for c in health
            ]
            assert ahead == [0, 1, 2, 3]
            assert callers_ahead(session, "ari", "health", None, "new") == 4
            assert callers_ahead(session, "twilio", "health", T0, "a") == 0

    def test_giving_up_a_place_twice_is_harmless(self, database: Database) -> None:
        with database.transaction() as session:
            take_place(session, "a", provider="ari", topic="health", language="fi", entered_at=T0)
        for _ in range(2):
            with database.transaction() as session:
                give_up_place(session, "a")
        assert places(database) == []

    def test_an_adapter_taking_over_keeps_the_places_of_its_queued_calls_only(
        self, database: Database
    ) -> None:
        """A call that ended while nobody stepped it loses its place; a queued call the
        store had no place for (an adapter from before this table) gets one; another
        provider's places are left alone."""
        with database.transaction() as session:
            for call_id in ("gone", "kept"):
                take_place(
                    session, call_id, provider="ari", topic="health", language="fi", entered_at=T0
                )
            take_place(
                session, "other", provider="twilio", topic="health", language="fi", entered_at=T0
            )
        kept = _queued("kept", T0)
        unplaced = _queued("unplaced", T0 + timedelta(seconds=3))
        talking = CallState("talking", T0, phase=Phase.CONNECTED, topic="health", language="fi")
        with database.transaction() as session:
            keep_only(session, "ari", [kept, unplaced, talking])
        assert places(database) == [
            ("kept", "ari", "health", "fi", T0),
            ("other", "twilio", "health", "fi", T0),
            ("unplaced", "ari", "health", "fi", T0 + timedelta(seconds=3)),
        ]


def _queued(call_id: str, entered: datetime) -> CallState:
    return CallState(
        call_id,
        entered,
        phase=Phase.QUEUED,
        topic="health",
        language="fi",
        queue_entered_at=entered,
        in_queue=True,
    )


# -- every provider writes them --------------------------------------------------------------


@pytest.fixture
def ari_config(config: HotlineConfig) -> HotlineConfig:
    return with_ari(config)


async def _queued_on_asterisk(rig: AdapterRig, number: str) -> str:
    channel = await rig.call_in(number)
    await rig.press(channel, "1")  # Finnish, during the greeting
    await rig.until(lambda: rig.call(channel).state.language == "fi", "language chosen")
    await rig.press(channel, "1")  # health
    await rig.in_phase(channel, Phase.QUEUED)
    return channel


class TestAsterisk:
    def test_a_caller_has_a_place_while_waiting_and_none_after_hanging_up(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        async def scenario() -> None:
            async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
                channel = await _queued_on_asterisk(rig, "+358401234567")
                call_id = rig.call(channel).state.call_id
                entered = rig.call(channel).state.queue_entered_at
                assert places(database) == [(call_id, "ari", "health", "fi", entered)]
                await fake_ari.hang_up_far_end(channel)
                await rig.until(lambda: channel not in rig.line.calls, "caller let go")
                assert places(database) == []

        run(scenario())

    def test_a_caller_handed_to_an_advisor_has_no_place(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        fake_ari.model.devices[ADVISOR_PHONE] = Phone(answer_after=0.5)
        with database.transaction() as session:
            advisor = session.get(Advisor, add_advisor(session, "Aino"))
            assert advisor is not None
            advisor.dial_string = ADVISOR_PHONE

        async def scenario() -> None:
            async with fake_ari, running_line(fake_ari, ari_config, database) as rig:
                channel = await _queued_on_asterisk(rig, "+358401234567")
                await rig.in_phase(channel, Phase.CONNECTED)
                assert places(database) == []

        run(scenario())

    def test_a_restarted_adapter_clears_the_place_of_a_caller_gone_meanwhile(
        self, fake_ari: FakeAsterisk, ari_config: HotlineConfig, database: Database
    ) -> None:
        """Start-up reconciliation: the caller hung up while no adapter ran; the next one
        finds the channel gone, and the place goes with the call."""

        async def scenario() -> None:
            async with fake_ari:
                async with running_line(fake_ari, ari_config, database) as rig:
                    channel = await _queued_on_asterisk(rig, "+358401234567")
                await fake_ari.hang_up_far_end(channel)
                assert len(places(database)) == 1  # nobody stepped the hang-up
                async with running_line(fake_ari, ari_config, database) as rig:
                    await rig.until(lambda: places(database) == [], "place cleared")

        run(scenario(), timeout=30)


class TestTwilio:
    def test_a_caller_has_a_place_while_waiting_and_none_after_hanging_up(
        self, line: TwilioRig
    ) -> None:
        call = line.call().dial()
        call.press("1")  # Finnish
        call.press("1")  # health
        call.press("2")  # no callback: waits on
        assert call.waiting
        ((call_id, provider, topic, language, entered),) = places(line.database)
        (row,) = line.rows("calls")
        assert (call_id, provider, topic, language) == (row["id"], "twilio", "health", "fi")
        assert entered == row["queue_entered_at"] == T0
        call.leave_queue("hangup")
        call.hang_up()
        assert places(line.database) == []

    def test_the_final_status_clears_the_place_of_a_caller_still_queued(
        self, line: TwilioRig
    ) -> None:
        """Twilio's status callback may be all the line hears of a caller who went."""
        call = line.call().dial()
        call.press("1")
        call.press("1")
        assert len(places(line.database)) == 1
        call.hang_up()
        assert places(line.database) == []


class TestSimulator:
    def test_a_caller_has_a_place_while_waiting_and_none_once_answered(
        self, config: HotlineConfig, database: Database
    ) -> None:
        """The simulated line `callflow serve` runs, for the board. Nobody is signed in: the
        caller waits, and has a place. An advisor signs in and takes them: the place is
        gone."""
        sim = Simulation(config, database, seed=1, start=T0, people_at_the_desk=True)
        sim.schedule_callers([health_caller(patience=timedelta(hours=2))])
        sim.run_until(T0 + timedelta(minutes=3))
        ((call_id, provider, topic, language, _),) = places(database)
        assert (provider, topic, language) == ("sim", "health", "fi")
        assert call_id in sim.calls
        sim.sign_in_everyone()
        sim.run_until(T0 + timedelta(minutes=4))
        assert sim.calls[call_id].state.phase is Phase.CONNECTED
        assert places(database) == []

    def test_a_what_if_run_shows_no_places(self, config: HotlineConfig, database: Database) -> None:
        """A simulation nobody watches (``callflow simulate``, the benchmarks) answers its
        queue questions from memory: a caller waits, and no place is written."""
        sim = Simulation(config, database, seed=1, start=T0)
        sim.schedule_callers([health_caller(patience=timedelta(hours=2))])
        sim.run_until(T0 + timedelta(minutes=3))
        (call,) = sim.calls.values()
        assert call.state.in_queue
        assert places(database) == []

    def test_a_caller_whose_patience_runs_out_has_no_place(
        self, config: HotlineConfig, database: Database
    ) -> None:
        sim = Simulation(config, database, seed=1, start=T0)
        sim.schedule_callers([health_caller(patience=timedelta(minutes=2))])
        sim.run_until(T0 + timedelta(minutes=10))
        assert sim.tally.abandoned == 1
        assert places(database) == []

    def test_a_stopped_simulation_leaves_no_place_behind(
        self, config: HotlineConfig, database: Database
    ) -> None:
        """`callflow serve` stops the simulated line with callers still waiting: their
        places go with it. Another run's, and another provider's, stay."""
        with database.transaction() as session:
            take_place(
                session, "0therrun1", provider="sim", topic="health", language="fi", entered_at=T0
            )
            take_place(
                session, "ari-call", provider="ari", topic="health", language="fi", entered_at=T0
            )
        sim = Simulation(config, database, seed=1, start=T0, people_at_the_desk=True)
        sim.schedule_callers([health_caller(patience=timedelta(hours=2))])
        sim.run_until(T0 + timedelta(minutes=3))
        assert {p[0] for p in places(database)} == {"0therrun1", "ari-call", *sim.calls}
        sim.close()
        assert {p[0] for p in places(database)} == {"0therrun1", "ari-call"}
