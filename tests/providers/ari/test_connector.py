"""An advisor's leg for a queued caller on Asterisk, however it ends, leaves the advisor as
the one rule for every provider says (see :mod:`tests.providers.leg_policy`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.state import Phase
from callflow.store.models import AdvisorState
from callflow.store.session import Database
from tests.fakes.ari_asterisk import Phone
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari.adapter_rig import AdapterRig, running_line
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import run
from tests.providers.ari.test_adapter import (
    ADVISOR_PHONE,
    advisor_state,
    advisor_with_phone,
    in_bridge,
    queued_for_health,
)
from tests.providers.leg_policy import EXPECTED, readiness

WRAP_UP = timedelta(hours=1)
"""Long enough that a wrap-up cannot be over, however slow the machine, before it is read."""
RINGS_FOR = timedelta(minutes=10)


@pytest.mark.parametrize(
    ("how", "dial_string", "phone"),
    [
        ("refused", "Bogus/advisor-1", None),  # no such channel technology: Asterisk refuses
        ("busy", ADVISOR_PHONE, Phone(cause=17)),
        ("not answered", ADVISOR_PHONE, Phone(cause=19)),
        ("ended without a talk", ADVISOR_PHONE, Phone(answer_after=None)),
        ("talked", ADVISOR_PHONE, Phone(answer_after=0.5)),
    ],
)
def test_how_the_leg_ended_decides_the_advisor_s_state(
    fake_ari: FakeAsterisk,
    config: HotlineConfig,
    database: Database,
    how: str,
    dial_string: str,
    phone: Phone | None,
) -> None:
    if phone is not None:
        fake_ari.model.devices[ADVISOR_PHONE] = phone
    advisor_id = advisor_with_phone(database, dial_string)
    dispatch = config.dispatch.model_copy(update={"wrap_up": WRAP_UP})
    # An advisor's phone rings for as long as the test needs: the caller, not the ring
    # timeout (0.2 real seconds at this speed), ends the leg that rings unanswered.
    connect = config.connect.model_copy(update={"advisor_ring_timeout": RINGS_FOR})
    line = with_ari(config).model_copy(update={"dispatch": dispatch, "connect": connect})

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, line, database) as rig:
            channel = await queued_for_health(rig)
            if how == "ended without a talk":
                await rig.until(lambda: rig.call(channel).advisor_leg is not None, "rung")
                await fake_ari.hang_up_far_end(channel)  # the caller leaves while it rings
            elif how == "talked":
                call = await rig.in_phase(channel, Phase.CONNECTED)
                leg, talk = call.advisor_leg, f"cf-talk-{call.state.call_id}"
                assert leg is not None
                await rig.until(lambda: in_bridge(fake_ari, talk, leg), "talking")
                await fake_ari.hang_up_far_end(leg)
            await over(rig, database, advisor_id)
            assert readiness(database, advisor_id, rig.clock.now()) == EXPECTED[how]

    run(scenario())


async def over(rig: AdapterRig, database: Database, advisor_id: int) -> None:
    """Until the store has the advisor's leg over: no longer free or busy with it."""
    settled = (AdvisorState.BREAK, AdvisorState.WRAP_UP)
    await rig.until(lambda: advisor_state(database, advisor_id) in settled, "leg over")
