"""The simulator, the Asterisk connector and the Twilio connector pair queued callers with
free advisors through the one matcher, :func:`callflow.engine.matching.match`: what the
simulator's Erlang checks and what-if runs measure is the policy production runs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine import matching
from callflow.engine.calendar import Calendar
from callflow.engine.clock import FakeClock
from callflow.engine.forecast import RotaCapacity
from callflow.providers.sim.floor import SimAdvisor, SimulatedFloor
from callflow.providers.twilio.provider import TwilioProvider
from callflow.providers.twilio.rest import HttpxTwilioClient
from callflow.providers.twilio.settings import TwilioAccount, twilio_settings
from callflow.store.session import Database
from callflow.web.app import create_app
from tests.fakes.ari_server import FakeAsterisk
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Webhooks
from tests.providers.ari.adapter_rig import running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.providers.ari.test_adapter import advisor_with_phone, queued_for_health
from tests.providers.twilio.conftest import PUBLIC_URL, TwilioRig, with_twilio
from tests.providers.twilio.test_connector import advisor, connect, queued
from tests.store.helpers import T0


class MatcherSpy:
    """Wraps the matcher: every pass through it, and the pairs it gave."""

    def __init__(self) -> None:
        self.real = matching.match
        self.given: list[list[matching.Pair[int]] | list[matching.Pair[str]]] = []

    def __call__(
        self,
        queues: Iterable[matching.Queue],
        advisors: Iterable[matching.FreeAdvisor[matching.AdvisorId]],
    ) -> list[matching.Pair[matching.AdvisorId]]:
        pairs = self.real(queues, advisors)
        self.given.append(pairs)
        return pairs

    def last_pass(self) -> list[tuple[str, str]]:
        """(call id, advisor id) pairs the matcher gave last; it must have been called."""
        assert self.given, "the matcher was never called"
        return [(pair.caller.call_id, str(pair.advisor_id)) for pair in self.given[-1]]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> MatcherSpy:
    spy = MatcherSpy()
    monkeypatch.setattr(matching, "match", spy)
    return spy


def test_the_simulator_pairs_through_the_matcher(config: HotlineConfig, spy: MatcherSpy) -> None:
    line = SimulatedFloor(config, RotaCapacity(Calendar.from_config(config), config.staffing))
    line.sign_in(SimAdvisor("nurse-1", "nurse", frozenset({"fi"}), T0))
    line.enqueue("call-1", "health", "fi", T0)
    assert line.match() == spy.last_pass() == [("call-1", "nurse-1")]


def test_the_asterisk_connector_pairs_through_the_matcher(
    config: HotlineConfig, database: Database, spy: MatcherSpy
) -> None:
    fake = FakeAsterisk(time_scale=0.01)
    advisor_id = advisor_with_phone(database)

    async def scenario() -> None:
        async with fake, running_line(fake, with_ari(config), database) as rig:
            channel = await queued_for_health(rig)
            await rig.until(lambda: rig.call(channel).advisor_leg is not None, "rung")
            call_id = rig.call(channel).state.call_id
            assert spy.last_pass() == [(call_id, str(advisor_id))]

    run(scenario())
    assert not fake.violations()


def test_the_twilio_connector_pairs_through_the_matcher(
    config: HotlineConfig, database: Database, spy: MatcherSpy
) -> None:
    settings = twilio_settings(with_twilio(config), TwilioAccount(ACCOUNT_SID, AUTH_TOKEN))
    clock = FakeClock(T0)
    fake = FakeTwilio().start()
    try:
        provider = TwilioProvider(
            settings, database, clock, http=HttpxTwilioClient(route=fake.route)
        )
        app = create_app(settings.config, database, clock=clock, webhooks=provider.webhooks())
        fake.webhooks = Webhooks(public_url=PUBLIC_URL, app=app)
        line = TwilioRig(app, provider, fake.webhooks, database, clock, fake)
        advisor_id = advisor(line, "Anna", "+358401110000")
        queued(line, "+358401000001")
        assert connect(line) == 1
        (inbound,) = [row for row in line.rows("twilio_calls") if row["kind"] == "inbound"]
        assert spy.last_pass() == [(inbound["call_id"], str(advisor_id))]
    finally:
        fake.stop()


@pytest.mark.parametrize(("twilio", "paired"), [(False, [("call-2", "nurse-1")]), (True, [])])
def test_a_what_if_run_of_a_twilio_line_measures_its_in_order_queues(
    config: HotlineConfig, twilio: bool, paired: list[tuple[str, str]]
) -> None:
    """A Swedish caller at the front, a Finnish one behind, a Finnish nurse free: on
    Asterisk she takes the Finnish caller; on Twilio, whose queue would hand her the
    Swedish one, nobody is connected. The simulator runs the line's own policy."""
    line_config = with_twilio(config) if twilio else config
    line = SimulatedFloor(line_config, RotaCapacity(Calendar.from_config(config), config.staffing))
    line.sign_in(SimAdvisor("nurse-1", "nurse", frozenset({"fi"}), T0))
    line.enqueue("call-1", "health", "sv", T0)
    line.enqueue("call-2", "health", "fi", T0 + timedelta(seconds=1))
    assert line.match() == paired
