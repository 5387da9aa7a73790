"""Queued callers and free advisors: the advisor is called with TwiML that dials the
topic's queue, and Twilio hands over the caller at the front."""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine, MutableMapping
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from structlog.testing import capture_logs

from callflow.engine.vocabulary import CallOutcome, EventKind
from callflow.service.rules import LineRules
from callflow.store.advisors import register_advisor, set_advisor_state
from callflow.store.models import Advisor, AdvisorState
from tests.fakes.twilio_server import FakeCall
from tests.providers.leg_policy import EXPECTED, readiness
from tests.providers.twilio.conftest import Caller, TwilioRig
from tests.store.helpers import T0, Restarting

T = TypeVar("T")
ANNA = "+358401110000"


def run(line: TwilioRig, scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    async def attached() -> T:
        line.fake.attach(asyncio.get_running_loop())
        result = await scenario()
        await line.fake.settle()
        return result

    return asyncio.run(attached())


def advisor(
    line: TwilioRig,
    name: str,
    phone: str,
    languages: tuple[str, ...] = ("fi",),
    skills: tuple[str, ...] = ("nurse",),
) -> int:
    with line.database.transaction() as session:
        advisor_id = register_advisor(session, name, skills, languages, T0, dial_string=phone)
        set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, T0)
    return advisor_id


def queued(line: TwilioRig, number: str, digit: str = "1", topic_digit: str = "1") -> Caller:
    """A caller in the health queue, or the topic of *topic_digit* (who says no to a
    callback, if one is offered)."""
    call = line.call(number).dial()
    call.press(digit)
    call.press(topic_digit)
    if call.asked:
        call.press("2")
    assert call.waiting
    line.clock.advance(timedelta(seconds=1))
    return call


def state_of(line: TwilioRig, advisor_id: int) -> AdvisorState:
    with line.database.reading() as session:
        found = session.get(Advisor, advisor_id)
        assert found is not None
        return found.state


def connect(line: TwilioRig) -> int:
    return run(line, line.provider.connector.connect_waiting)


class TestConnecting:
    def test_the_front_caller_is_handed_to_a_free_advisor(self, line: TwilioRig) -> None:
        anna = advisor(line, "Anna", ANNA)
        call = queued(line, "+358401000001")
        assert connect(line) == 1
        assert state_of(line, anna) is AdvisorState.BUSY  # no callback claims her now
        (placed,) = line.fake.placed(ANNA)

        async def twilio_side() -> None:
            await line.fake.progress(placed.sid, "initiated", "ringing", "in-progress")
            document = ET.fromstring(await line.fake.fetch_twiml(placed.sid))
            queue = document.find("Dial/Queue")
            assert queue is not None and queue.text == "callflow-health"
            assert "kieli suomi" in " ".join(s.text or "" for s in document.iter("Say"))
            line.clock.advance(timedelta(seconds=20))
            answer = await line.webhooks.post(
                queue.attrib["url"],
                {**call.params(), "QueueSid": "QU" + "2" * 32, "DequeingCallSid": placed.sid},
            )
            assert answer.status_code == 200
            line.clock.advance(timedelta(minutes=5))
            await line.fake.progress(placed.sid, "completed", duration=300)

        run(line, twilio_side)
        call.leave_queue("bridged")
        assert call.hung_up_on
        (row,) = line.rows("calls")
        assert row["outcome"] == CallOutcome.ANSWERED
        assert readiness(line.database, anna, line.clock.now()) == EXPECTED["talked"]
        (leg,) = [r for r in line.rows("twilio_calls") if r["kind"] == "connect"]
        assert (leg["duration_s"], leg["ready_at"] is not None) == (300.0, True)
        assert EventKind.ANSWERED in {e["kind"] for e in line.rows("call_events")}

    def test_one_advisor_per_waiting_caller(self, line: TwilioRig) -> None:
        advisor(line, "Anna", ANNA)
        advisor(line, "Bert", "+358401110001")
        queued(line, "+358401000001")
        assert connect(line) == 1
        assert connect(line) == 0  # Anna is being called for that caller already
        assert len(line.fake.placed()) == 1

    def test_nobody_is_handed_a_caller_they_cannot_serve(self, line: TwilioRig) -> None:
        """A Swedish caller at the front: a Finnish-only advisor is not called, not even for
        the Finnish caller behind, whom Twilio would hand the Swedish one."""
        advisor(line, "Anna", ANNA)
        queued(line, "+358401000001", digit="2")
        queued(line, "+358401000002")
        assert connect(line) == 0
        bilingual = advisor(line, "Bert", "+358401110001", languages=("fi", "sv"))
        assert connect(line) == 2
        assert state_of(line, bilingual) is AdvisorState.BUSY

    def test_the_longest_waiter_goes_first_whatever_their_topic(self, line: TwilioRig) -> None:
        """A nurse who is a social counsellor too is free for two callers: the social
        caller, who has waited longer, is theirs, though health comes first in the menu."""
        advisor(line, "Anna", ANNA, skills=("nurse", "social_counsellor"))
        queued(line, "+358401000001", topic_digit="2")
        queued(line, "+358401000002")
        assert connect(line) == 1
        (placed,) = line.fake.placed(ANNA)

        async def picks_up() -> str | None:
            await line.fake.progress(placed.sid, "initiated", "ringing", "in-progress")
            queue = ET.fromstring(await line.fake.fetch_twiml(placed.sid)).find("Dial/Queue")
            return None if queue is None else queue.text

        assert run(line, picks_up) == "callflow-social"

    def test_an_advisor_who_does_not_answer_takes_a_break(self, line: TwilioRig) -> None:
        anna = advisor(line, "Anna", ANNA)
        queued(line, "+358401000001")
        connect(line)
        (placed,) = line.fake.placed(ANNA)

        async def no_answer() -> None:
            await line.fake.progress(placed.sid, "initiated", "ringing", "no-answer")

        run(line, no_answer)
        assert state_of(line, anna) is AdvisorState.BREAK

    def test_a_queue_emptied_meanwhile_frees_the_advisor(self, line: TwilioRig) -> None:
        anna = advisor(line, "Anna", ANNA)
        call = queued(line, "+358401000001")
        connect(line)
        call.leave_queue("hangup")
        (placed,) = line.fake.placed(ANNA)

        async def picks_up() -> FakeCall:
            await line.fake.progress(placed.sid, "initiated", "ringing", "in-progress")
            twiml = await line.fake.fetch_twiml(placed.sid)
            assert "<Hangup" in twiml and "<Dial" not in twiml
            await line.fake.progress(placed.sid, "completed", duration=5)
            return placed

        run(line, picks_up)
        assert state_of(line, anna) is AdvisorState.WRAP_UP  # at once ready again (no wrap-up)

    def test_the_connector_wakes_when_a_caller_joins(self, line: TwilioRig) -> None:
        """Running as the app runs it: a caller joining a queue is connected at once, not at
        the next interval."""
        advisor(line, "Anna", ANNA)
        slow = line.provider.settings.config.connect.interval
        assert slow >= timedelta(seconds=2)

        async def scenario() -> None:
            running = asyncio.create_task(line.provider.connector.run())
            await asyncio.sleep(0)
            joined = asyncio.get_running_loop().run_in_executor(None, queued, line, "+358401000001")
            await joined
            start = asyncio.get_running_loop().time()
            while not line.fake.placed(ANNA):
                assert asyncio.get_running_loop().time() - start < 1.0, "not woken"
                await asyncio.sleep(0.01)
            running.cancel()

        run(line, scenario)


class TestTheLegsEnd:
    """However an advisor's call for a queued caller ends, the advisor is left as the one rule
    for every provider says (see :mod:`tests.providers.leg_policy`)."""

    @pytest.mark.parametrize(
        ("how", "refusal"),
        [
            ("refused", (400, 21211, "The 'To' number is not a valid phone number.")),
            ("provider out of reach", (503, 20500, "Service Unavailable")),
        ],
    )
    def test_a_call_twilio_would_not_place(
        self, line: TwilioRig, how: str, refusal: tuple[int, int, str]
    ) -> None:
        anna = advisor(line, "Anna", ANNA)
        queued(line, "+358401000001")
        line.fake.fail_next(*refusal)
        assert connect(line) == 1
        assert not line.fake.placed(ANNA)
        assert readiness(line.database, anna, line.clock.now()) == EXPECTED[how]

    @pytest.mark.parametrize(("how", "status"), [("busy", "busy"), ("not answered", "no-answer")])
    def test_a_phone_that_never_answered(self, line: TwilioRig, how: str, status: str) -> None:
        anna = advisor(line, "Anna", ANNA)
        queued(line, "+358401000001")
        connect(line)
        (placed,) = line.fake.placed(ANNA)

        async def never_answered() -> None:
            await line.fake.progress(placed.sid, "initiated", "ringing", status)

        run(line, never_answered)
        assert readiness(line.database, anna, line.clock.now()) == EXPECTED[how]

    def test_a_call_answered_to_an_empty_queue(self, line: TwilioRig) -> None:
        anna = advisor(line, "Anna", ANNA)
        call = queued(line, "+358401000001")
        connect(line)
        call.leave_queue("hangup")  # while her phone rings
        (placed,) = line.fake.placed(ANNA)

        async def answered() -> None:
            await line.fake.progress(placed.sid, "initiated", "ringing", "in-progress")
            await line.fake.fetch_twiml(placed.sid)
            await line.fake.progress(placed.sid, "completed", duration=5)

        run(line, answered)
        assert readiness(line.database, anna, line.clock.now()) == EXPECTED["ended without a talk"]


@pytest.mark.slow
def test_an_outage_under_the_connector_is_two_lines_not_a_traceback_a_pass(line: TwilioRig) -> None:
    """``callflow serve`` keeps looking for free advisors while the database is down: one
    line when it went, one when it came back, and no traceback for each pass between."""
    server = Restarting(line.database)
    connector = line.provider.connector
    # Passes only when woken: the safety-net sweep runs on real time, and a pass of its own
    # between two of ours would be a refusal the ten-second steps below do not account for.
    config = connector.config
    connector.rules = LineRules.fixed(
        config.model_copy(
            update={"connect": config.connect.model_copy(update={"interval": timedelta(hours=1)})}
        )
    )

    async def until(condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not condition():
                await asyncio.sleep(0.001)

    async def passes() -> list[MutableMapping[str, Any]]:
        with capture_logs() as logs:
            server.stop()
            running = asyncio.create_task(connector.run())
            await asyncio.sleep(0)  # the connector starts listening for wake-ups
            for tries in range(1, 4):
                connector.wake()
                await until(lambda: server.refused >= tries)  # noqa: B023
                line.clock.advance(timedelta(seconds=10))
            server.start()
            connector.wake()
            await until(lambda: any(e["event"] == "database.available" for e in logs))
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        return logs

    told = [
        (e["event"], e.get("down_for_s"))
        for e in asyncio.run(passes())
        if e["event"].startswith("database.") or "exc_info" in e
    ]
    assert told == [("database.unavailable", None), ("database.available", 30.0)]
