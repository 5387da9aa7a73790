"""A call reaching the line is one rule for every provider
(:func:`callflow.service.arrival.call_arrived`): Asterisk and Twilio take the same caller
IDs for withheld numbers, so the log counts those callers alike whichever carried them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.store.models import Call
from callflow.store.session import Database
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari.adapter_rig import running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.providers.twilio import conftest as twilio
from tests.providers.twilio.conftest import TwilioRig

# The Twilio rig's fixtures, here too: the Twilio half of the test asks for its rig by name.
line, settings, twilio_config, clock, fake = (
    twilio.line,
    twilio.settings,
    twilio.twilio_config,
    twilio.clock,
    twilio.fake,
)

CALLER_IDS = [
    ("anonymous", True),
    ("Restricted", True),
    ("unavailable", True),
    ("blocked", True),
    ("+266696687", True),  # ANONYMOUS on a keypad, as Twilio and some carriers write it
    ("+358401234567", False),
]


def arrived_on_asterisk(config: HotlineConfig, database: Database) -> dict[str, bool]:
    """Each caller ID of :data:`CALLER_IDS` dials the line once: withheld, as stored."""
    asterisk = FakeAsterisk(time_scale=0.01)

    async def scenario() -> dict[str, str]:
        async with asterisk, running_line(asterisk, with_ari(config), database) as rig:
            return {caller_id: await rig.call_in(caller_id) for caller_id, _ in CALLER_IDS}

    channels = run(scenario())
    assert not asterisk.violations()
    return {caller_id: stored_withheld(database, ref) for caller_id, ref in channels.items()}


def arrived_on_twilio(rig: TwilioRig) -> dict[str, bool]:
    """Each caller ID of :data:`CALLER_IDS` dials the line once: withheld, as stored."""
    calls = {caller_id: rig.call(caller_id).dial().sid for caller_id, _ in CALLER_IDS}
    return {caller_id: stored_withheld(rig.database, sid) for caller_id, sid in calls.items()}


def stored_withheld(database: Database, provider_ref: str) -> bool:
    with database.reading() as session:
        withheld = session.scalar(select(Call.withheld).where(Call.provider_ref == provider_ref))
        assert withheld is not None
        return withheld


@pytest.mark.parametrize("provider", ["asterisk", "twilio"])
def test_withheld_numbers_are_the_same_on_every_provider(
    request: pytest.FixtureRequest, config: HotlineConfig, database: Database, provider: str
) -> None:
    if provider == "asterisk":
        arrived = arrived_on_asterisk(config, database)
    else:
        arrived = arrived_on_twilio(request.getfixturevalue("line"))
    assert arrived == dict(CALLER_IDS)
