"""Callbacks over Twilio: the real ``twilio.rest.Client`` against the fake REST API, and
Twilio's status callbacks (in order, out of order, repeated) deciding each attempt."""

from __future__ import annotations

import asyncio
import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import AttemptResult, CallbackStatus
from callflow.errors import ProviderRejected
from callflow.providers.port import AdvisorLeg, CallbackCall, ResidentCall
from callflow.providers.twilio.dialler import TwilioDialler
from callflow.providers.twilio.provider import TwilioProvider
from callflow.providers.twilio.rest import HttpxTwilioClient
from callflow.providers.twilio.settings import TwilioAccount, twilio_settings
from callflow.service.rules import LineRules
from callflow.store.advisors import register_advisor, set_advisor_state
from callflow.store.models import AdvisorState, CallbackAttempt, CallbackRequest
from tests.fakes.twilio_server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    LINE_NUMBER,
    FakeCall,
    new_call_sid,
)
from tests.providers.twilio.conftest import BOTH_DATABASES, PUBLIC_URL, TwilioRig, with_twilio
from tests.store.helpers import T0, add_callback
from workers.dispatcher import Dispatcher

T = TypeVar("T")
ADVISOR_PHONE = "+358401110000"
RESIDENT = "+358402220000"
RING = timedelta(seconds=20)


async def eventually(condition: Callable[[], T], within: float = 5.0) -> T:
    """*condition*'s value once it is true; fails after *within* seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (value := condition()):
        assert loop.time() < deadline, "it never happened"
        await asyncio.sleep(0.01)
    return value


def run(line: TwilioRig, scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    async def attached() -> T:
        line.fake.attach(asyncio.get_running_loop())
        result = await scenario()
        await line.fake.settle()
        return result

    return asyncio.run(attached())


class Phones:
    """What happens on Twilio's side of the calls the dialler places."""

    def __init__(self, line: TwilioRig) -> None:
        self.line = line
        self.fake = line.fake

    async def placed_to(self, number: str, nth: int = 1) -> FakeCall:
        calls = await eventually(lambda: self.fake.placed(number)[nth - 1 :])
        return calls[0]

    async def advisor_picks_up(self, number: str = ADVISOR_PHONE) -> FakeCall:
        """Ringing, answered; the whisper is heard and the advisor waits in the conference."""
        call = await self.placed_to(number)
        await self.fake.progress(call.sid, "initiated", "ringing", "in-progress")
        whisper = ET.fromstring(await self.fake.fetch_twiml(call.sid))
        ready = whisper.find("Redirect")
        assert ready is not None
        answer = await self.line.webhooks.post(
            ready.text or "", {**self.fake._standard(call), "CallStatus": "in-progress"}
        )
        assert answer.status_code == 200 and "<Conference" in answer.text
        self.whisper = " ".join(say.text or "" for say in whisper.iter("Say"))
        return call

    async def resident_answers(self, answered_by: str = "human") -> tuple[FakeCall, str]:
        call = await self.placed_to(RESIDENT)
        await self.fake.progress(call.sid, "initiated", "ringing")
        call.answered_by = answered_by
        twiml = await self.fake.fetch_twiml(call.sid, AnsweredBy=answered_by)
        await self.fake.progress(call.sid, "in-progress")
        return call, twiml


@pytest.fixture
def phones(line: TwilioRig) -> Phones:
    return Phones(line)


@pytest.fixture
def callback_call(line: TwilioRig) -> CallbackCall:
    with line.database.transaction() as session:
        callback_id = add_callback(session, RESIDENT, entered=T0 - timedelta(minutes=12))
        advisor_id = register_advisor(
            session, "Anna", ["nurse"], ["fi"], T0, dial_string=ADVISOR_PHONE
        )
    return CallbackCall(
        callback_id=callback_id,
        attempt_no=1,
        advisor_id=advisor_id,
        advisor_dial_string=ADVISOR_PHONE,
        number_e164=RESIDENT,
        topic="health",
        language="fi",
        waited=timedelta(minutes=12),
        caller_id=LINE_NUMBER,
    )


def dialler(line: TwilioRig) -> TwilioDialler:
    return line.provider.dialler()


class TestRingingTheAdvisor:
    def test_the_advisor_is_called_first_and_hears_the_whisper(
        self, line: TwilioRig, phones: Phones, callback_call: CallbackCall
    ) -> None:
        async def scenario() -> AdvisorLeg | None:
            ringing = asyncio.create_task(dialler(line).ring_advisor(callback_call, RING))
            advisor = await phones.advisor_picks_up()
            leg = await ringing
            assert leg is not None and leg.ref == advisor.sid
            return leg

        assert run(line, scenario) is not None
        assert phones.whisper == (
            "Takaisinsoitto. Aihe Terveyteen liittyvät asiat, kieli suomi. "
            "Soittaja on odottanut 12 minuuttia."
        )
        (create,) = [r for r in line.fake.requests if r.path.endswith("/Calls.json")]
        params = dict(create.params)
        assert (params["To"], params["From"], params["Timeout"]) == (
            ADVISOR_PHONE,
            LINE_NUMBER,
            "20",
        )
        assert [v for k, v in create.params if k == "StatusCallbackEvent"] == [
            "initiated",
            "ringing",
            "answered",
            "completed",
        ]
        assert "MachineDetection" not in params  # only the resident's leg

    @pytest.mark.parametrize("status", ["no-answer", "busy", "failed"])
    def test_an_advisor_who_does_not_answer(
        self, line: TwilioRig, phones: Phones, callback_call: CallbackCall, status: str
    ) -> None:
        async def scenario() -> AdvisorLeg | None:
            ringing = asyncio.create_task(dialler(line).ring_advisor(callback_call, RING))
            call = await phones.placed_to(ADVISOR_PHONE)
            await line.fake.progress(call.sid, "initiated", "ringing", status)
            return await ringing

        assert run(line, scenario) is None

    def test_a_phone_twilio_cannot_call(self, line: TwilioRig, callback_call: CallbackCall) -> None:
        bad = dataclasses.replace(callback_call, advisor_dial_string="0401110000")

        async def scenario() -> AdvisorLeg | None:
            return await dialler(line).ring_advisor(bad, RING)

        assert run(line, scenario) is None
        assert line.fake.requests[-1].status == 400

    def test_a_wrong_auth_token_is_raised_not_blamed_on_the_advisor(
        self, line: TwilioRig, twilio_config: HotlineConfig, callback_call: CallbackCall
    ) -> None:
        wrong = TwilioProvider(
            twilio_settings(twilio_config, TwilioAccount(ACCOUNT_SID, "not-the-token")),
            line.database,
            line.clock,
            http=HttpxTwilioClient(route=line.fake.route),
        )

        async def scenario() -> None:
            with pytest.raises(ProviderRejected) as refused:
                await wrong.dialler().ring_advisor(callback_call, RING)
            assert (refused.value.status, refused.value.code) == (401, "20003")

        run(line, scenario)


class TestDiallingTheResident:
    def attempt(
        self,
        line: TwilioRig,
        phones: Phones,
        callback_call: CallbackCall,
        resident_side: Callable[[], Coroutine[Any, Any, None]],
    ) -> ResidentCall:
        async def scenario() -> ResidentCall:
            placing = dialler(line)
            ringing = asyncio.create_task(placing.ring_advisor(callback_call, RING))
            await phones.advisor_picks_up()
            leg = await ringing
            assert leg is not None
            dialling = asyncio.create_task(placing.dial_resident(callback_call, leg))
            await resident_side()
            return await dialling

        return run(line, scenario)

    def test_answered_by_a_person_and_talked(
        self, line: TwilioRig, phones: Phones, callback_call: CallbackCall
    ) -> None:
        async def resident() -> None:
            call, twiml = await phones.resident_answers()
            assert "<Conference" in twiml
            await line.fake.progress(call.sid, "completed", duration=95)

        result = self.attempt(line, phones, callback_call, resident)
        assert result == ResidentCall(AttemptResult.REACHED, timedelta(seconds=95))
        resident_create = [r for r in line.fake.requests if r.path.endswith("/Calls.json")][1]
        params = dict(resident_create.params)
        assert (params["To"], params["From"], params["MachineDetection"]) == (
            RESIDENT,
            LINE_NUMBER,
            "Enable",
        )

    def test_a_machine_is_hung_up_on_and_never_reached(
        self, line: TwilioRig, phones: Phones, callback_call: CallbackCall
    ) -> None:
        async def resident() -> None:
            call, twiml = await phones.resident_answers("machine_end_beep")
            assert "<Hangup" in twiml and "<Conference" not in twiml
            await line.fake.progress(call.sid, "completed", duration=4)

        result = self.attempt(line, phones, callback_call, resident)
        assert result.result is AttemptResult.MACHINE

    @pytest.mark.parametrize(
        ("status", "result"),
        [
            ("no-answer", AttemptResult.NO_ANSWER),
            ("busy", AttemptResult.BUSY),
            ("failed", AttemptResult.FAILED),
        ],
    )
    def test_not_answered(
        self,
        line: TwilioRig,
        phones: Phones,
        callback_call: CallbackCall,
        status: str,
        result: AttemptResult,
    ) -> None:
        async def resident() -> None:
            call = await phones.placed_to(RESIDENT)
            await line.fake.progress(call.sid, "initiated", "ringing", status)

        assert self.attempt(line, phones, callback_call, resident).result is result

    def test_out_of_order_and_repeated_callbacks(
        self, line: TwilioRig, phones: Phones, callback_call: CallbackCall
    ) -> None:
        """``completed`` before ``in-progress``, ``ringing`` twice: the attempt still ends
        as it really did, once."""

        async def resident() -> None:
            call = await phones.placed_to(RESIDENT)
            await line.fake.progress(call.sid, "initiated", "ringing")  # sequences 0, 1
            await line.fake.fetch_twiml(call.sid, AnsweredBy="human")
            await line.fake.progress(call.sid, "completed", duration=61, sequence=3)
            await line.fake.progress(call.sid, "in-progress", sequence=2)
            await line.fake.progress(call.sid, "ringing", sequence=1)
            await line.fake.progress(call.sid, "completed", duration=61, sequence=3)

        result = self.attempt(line, phones, callback_call, resident)
        assert result == ResidentCall(AttemptResult.REACHED, timedelta(seconds=61))
        rows = [r for r in line.rows("twilio_calls") if r["kind"] == "resident"]
        assert [(r["status"], r["sequence"]) for r in rows] == [("completed", 3)]

    def test_a_number_that_is_not_one_is_a_wrong_number(
        self, line: TwilioRig, phones: Phones, callback_call: CallbackCall
    ) -> None:
        """Twilio's 400 with code 21211: no second try can reach it."""
        odd = dataclasses.replace(callback_call, number_e164="+35812")

        async def scenario() -> ResidentCall:
            placing = dialler(line)
            ringing = asyncio.create_task(placing.ring_advisor(odd, RING))
            await phones.advisor_picks_up()
            leg = await ringing
            assert leg is not None
            return await placing.dial_resident(odd, leg)

        assert run(line, scenario).result is AttemptResult.WRONG_NUMBER
        refused = line.fake.requests[-1]
        assert refused.status == 400

    def test_the_advisor_gives_up_while_it_rings(
        self, line: TwilioRig, phones: Phones, callback_call: CallbackCall
    ) -> None:
        """The resident's call is cancelled; not the resident's doing, so not counted."""

        async def resident() -> None:
            call = await phones.placed_to(RESIDENT)
            await line.fake.progress(call.sid, "initiated", "ringing")
            advisor = line.fake.placed(ADVISOR_PHONE)[0]
            await line.fake.progress(advisor.sid, "completed", duration=30)

        result = self.attempt(line, phones, callback_call, resident)
        assert result.result is AttemptResult.INTERRUPTED
        canceled = [r for r in line.fake.requests if dict(r.params).get("Status") == "canceled"]
        assert len(canceled) == 1

    def test_a_lost_status_callback_is_asked_of_twilio(
        self, line: TwilioRig, phones: Phones, callback_call: CallbackCall, config: HotlineConfig
    ) -> None:
        quick = with_twilio(config, status_check=timedelta(milliseconds=200))
        provider = TwilioProvider(
            twilio_settings(quick, TwilioAccount(ACCOUNT_SID, AUTH_TOKEN)),
            line.database,
            line.clock,
            http=HttpxTwilioClient(route=line.fake.route),
        )
        leg_sid: list[str] = []

        async def scenario() -> ResidentCall:
            placing = provider.dialler()
            ringing = asyncio.create_task(placing.ring_advisor(callback_call, RING))
            advisor = await phones.advisor_picks_up()
            leg_sid.append(advisor.sid)
            leg = await ringing
            assert leg is not None
            dialling = asyncio.create_task(placing.dial_resident(callback_call, leg))
            call = await phones.placed_to(RESIDENT)
            call.status = "busy"  # Twilio knows; its callback never arrives
            return await dialling

        assert run(line, scenario).result is AttemptResult.BUSY
        fetches = [r for r in line.fake.requests if r.method == "GET"]
        assert fetches

    def test_hang_up_ends_the_advisors_call(
        self, line: TwilioRig, phones: Phones, callback_call: CallbackCall
    ) -> None:
        async def scenario() -> None:
            placing = dialler(line)
            ringing = asyncio.create_task(placing.ring_advisor(callback_call, RING))
            await phones.advisor_picks_up()
            leg = await ringing
            assert leg is not None
            await placing.hang_up(leg)

        run(line, scenario)
        (hang_up,) = [r for r in line.fake.requests if dict(r.params).get("Status")]
        assert dict(hang_up.params)["Status"] == "completed"


class TestStatusCallbacksOfStrangers:
    """A status callback naming a callback request or an advisor the line does not have
    (a call placed by another installation on the account, a store restored from before
    it) is refused with 400, which Twilio's debugger shows and does not retry."""

    @BOTH_DATABASES
    @pytest.mark.parametrize(
        ("query", "named"),
        [("leg=resident&cb=999&n=1", "cb"), ("leg=connect&advisor=999&topic=health", "advisor")],
    )
    def test_refused_and_nothing_stored(self, line: TwilioRig, query: str, named: str) -> None:
        before = line.snapshot()
        params = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": new_call_sid(),
            "Direction": "outbound-api",
            "CallStatus": "ringing",
            "SequenceNumber": "1",
        }
        answer = line.webhooks.post_now(f"{PUBLIC_URL}/twilio/status?{query}", params)
        assert answer.status_code == 400
        assert answer.json()["error"] == "webhook-malformed"
        assert answer.json()["detail"].startswith(f"{named}: this line has no")
        assert line.snapshot() == before


class TestTheDispatcherOverTwilio:
    """The worker's own dispatcher with the Twilio dialler: status callbacks decide the
    attempt records."""

    @BOTH_DATABASES
    def test_reached_waits_for_the_advisors_word(self, line: TwilioRig, phones: Phones) -> None:
        callback_id = self.ready_callback(line)
        dispatcher = self.dispatcher(line)

        async def scenario() -> None:
            assert await dispatcher.dispatch_due() == 1
            await phones.advisor_picks_up()
            call, _ = await phones.resident_answers()
            await line.fake.progress(call.sid, "completed", duration=240)
            await asyncio.gather(*dispatcher.attempts.values())

        run(line, scenario)
        (attempt,) = self.attempts(line, callback_id)
        assert attempt.dialled_at is not None
        assert attempt.duration_s == 240.0
        assert attempt.result is None  # the advisor tells whether it was them
        assert self.request(line, callback_id).status is CallbackStatus.IN_PROGRESS

    @pytest.mark.parametrize(
        ("resident_says", "result"),
        [("no-answer", AttemptResult.NO_ANSWER), ("machine", AttemptResult.MACHINE)],
    )
    def test_not_reached_is_recorded_and_retried(
        self, line: TwilioRig, phones: Phones, resident_says: str, result: AttemptResult
    ) -> None:
        callback_id = self.ready_callback(line)
        dispatcher = self.dispatcher(line)

        async def scenario() -> None:
            await dispatcher.dispatch_due()
            await phones.advisor_picks_up()
            if resident_says == "machine":
                call, _ = await phones.resident_answers("machine_start")
                await line.fake.progress(call.sid, "completed", duration=3)
            else:
                call = await phones.placed_to(RESIDENT)
                await line.fake.progress(call.sid, "initiated", "ringing", "no-answer")
            await asyncio.gather(*dispatcher.attempts.values())

        run(line, scenario)
        (attempt,) = self.attempts(line, callback_id)
        assert attempt.result is result
        request = self.request(line, callback_id)
        assert request.status is CallbackStatus.PENDING
        assert request.next_attempt_at == T0 + timedelta(minutes=30)
        advisor_leg = line.fake.placed(ADVISOR_PHONE)[0]
        assert advisor_leg.status in ("completed", "canceled")  # hung up on: nobody to join

    def ready_callback(self, line: TwilioRig) -> int:
        """A callback due now, and Anna free to make it."""
        with line.database.transaction() as session:
            callback_id = add_callback(session, RESIDENT, entered=T0 - timedelta(minutes=12))
            advisor_id = register_advisor(
                session, "Anna", ["nurse"], ["fi"], T0, dial_string=ADVISOR_PHONE
            )
            set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, T0)
        return callback_id

    def dispatcher(self, line: TwilioRig) -> Dispatcher:
        return Dispatcher(
            LineRules.fixed(line.provider.settings.config),
            line.database,
            line.provider.dialler(),
            clock=line.clock,
            owner="worker-twilio",
        )

    def attempts(self, line: TwilioRig, callback_id: int) -> list[CallbackAttempt]:
        with line.database.reading() as session:
            return list(
                session.scalars(
                    select(CallbackAttempt).where(CallbackAttempt.callback_id == callback_id)
                )
            )

    def request(self, line: TwilioRig, callback_id: int) -> CallbackRequest:
        with line.database.reading() as session:
            request = session.get(CallbackRequest, callback_id)
            assert request is not None
            return request
