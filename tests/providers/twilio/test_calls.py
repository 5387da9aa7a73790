"""Whole calls through the ASGI app, each webhook signed as Twilio signs it.

The app is reached as through a proxy: Twilio calls ``PUBLIC_URL`` (with a
path prefix the app never sees) and signs that URL, so every test here also
shows that the configured base URL is the one checked.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import CallbackStatus, CallOutcome, EventKind
from callflow.providers.twilio.provider import TwilioProvider
from callflow.providers.twilio.rest import HttpxTwilioClient
from callflow.providers.twilio.settings import TwilioAccount, twilio_settings
from callflow.providers.twilio.signatures import sign, sign_json
from callflow.store.advisors import register_advisor, set_advisor_state
from callflow.store.models import AdvisorState
from callflow.web.app import create_app
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, Webhooks, new_call_sid
from tests.providers.twilio.conftest import (
    BOTH_DATABASES,
    MOBILE,
    PUBLIC_URL,
    Caller,
    TwilioRig,
    handed_to_advisor,
)
from tests.store.helpers import T0

SATURDAY = datetime(2026, 1, 17, 8, 0, tzinfo=UTC)  # 10:00 in Helsinki, closed


def kinds(line: TwilioRig) -> list[str]:
    return [row["kind"] for row in sorted(line.rows("call_events"), key=lambda r: r["id"])]


def to_callback_offer(line: TwilioRig, number: str = MOBILE) -> Caller:
    """Finnish, health: in the queue, at its first announcement (which offers a callback:
    nobody is staffed, so the wait cannot be told, and the rota can keep the promise)."""
    call = line.call(number).dial()
    call.press("1")
    call.press("1")
    assert "Jos haluat, että soitamme sinulle" in call.text
    return call


class TestCallbackFromTheQueue:
    @BOTH_DATABASES
    def test_offer_accepted_number_confirmed_request_stored(self, line: TwilioRig) -> None:
        """The queue's first announcement offers a callback; 1 takes it, the caller's own
        number is read back and confirmed, the request is stored and its time promised."""
        call = line.call().dial()
        assert "Tervetuloa" in call.text and call.asked
        call.press("1")
        assert "Valitse, mitä asiasi koskee." in call.text
        call.press("1")
        assert "Olet jonossa sijalla 1." in call.text
        assert "Jos haluat, että soitamme sinulle tänään kello 10.00 mennessä" in call.text
        call.press("1")
        assert "Soitamme numeroon 040 123 4567." in call.text
        call.press("1")
        assert "Soittopyyntösi on vastaanotettu" in call.text
        assert call.hung_up_on
        (request,) = line.rows("callback_requests")
        assert (request["number_e164"], request["topic"], request["language"]) == (
            MOBILE,
            "health",
            "fi",
        )
        assert request["status"] == CallbackStatus.PENDING
        assert request["queue_entered_at"] == T0  # their place in line is kept
        (row,) = line.rows("calls")
        assert row["outcome"] == CallOutcome.CALLBACK_REQUESTED
        assert (row["provider"], row["provider_ref"]) == ("twilio", call.sid)
        assert EventKind.CALLBACK_REQUESTED in kinds(line)

    def test_another_number_is_entered_and_a_bad_one_refused(self, line: TwilioRig) -> None:
        call = to_callback_offer(line)
        call.press("1")
        call.press("2")  # not this number
        assert "Näppäile puhelinnumero" in call.text
        call.press("0700123456", finished_on_key="#")  # a premium-rate number
        assert "Numeroa ei voitu hyväksyä." in call.text
        call.press("0501234567", finished_on_key="#")
        assert "Soitamme numeroon 050 123 4567." in call.text
        call.press("1")
        (request,) = line.rows("callback_requests")
        assert request["number_e164"] == "+358501234567"
        assert EventKind.NUMBER_REJECTED in kinds(line)

    def test_a_number_ended_by_the_timeout_counts_as_entered(self, line: TwilioRig) -> None:
        """Twilio ends the <Gather> when the caller stops keying: no # needed."""
        call = to_callback_offer(line)
        call.press("1")
        call.press("2")
        call.press("0501234567")
        assert "Soitamme numeroon 050 123 4567." in call.text

    def test_a_withheld_caller_must_key_a_number(self, line: TwilioRig) -> None:
        call = to_callback_offer(line, "anonymous")
        call.press("1")
        assert "Näppäile puhelinnumero" in call.text
        call.press("0401112223", finished_on_key="#")
        call.press("1")
        (request,) = line.rows("callback_requests")
        assert request["number_e164"] == "+358401112223"
        (row,) = line.rows("calls")
        assert row["withheld"] is True

    def test_one_who_hangs_up_during_the_read_back_keeps_the_callback(
        self, line: TwilioRig
    ) -> None:
        call = to_callback_offer(line)
        call.press("1")
        assert "Soitamme numeroon" in call.text
        assert call.hang_up().status_code == 204
        (request,) = line.rows("callback_requests")
        assert request["status"] == CallbackStatus.PENDING

    def test_the_offer_stands_during_the_music(self, line: TwilioRig) -> None:
        """Silence at the offer: music, in which 1 still takes the callback."""
        call = to_callback_offer(line)
        call.say_nothing()
        assert call.waiting
        call.press("1")
        assert "Soitamme numeroon 040 123 4567." in call.text


class TestTheQueue:
    def test_announcements_come_round_while_waiting(self, line: TwilioRig) -> None:
        call = to_callback_offer(line)
        call.press("2")  # no, thank you
        assert call.waiting and not call.text
        call.wait_a_turn()
        assert call.waiting and not call.text  # the minute is not up
        line.clock.advance(timedelta(seconds=61))
        call.wait_a_turn()
        assert "Olet jonossa sijalla 1." in call.text
        assert "soitamme" not in call.text  # declined once, not offered again

    def test_position_counts_those_ahead(self, line: TwilioRig) -> None:
        first = to_callback_offer(line, "+358401000001")
        first.press("2")
        line.clock.advance(timedelta(seconds=5))
        second = line.call("+358401000002").dial()
        second.press("1")
        second.press("1")
        assert "Olet jonossa sijalla 2." in second.text

    def test_hanging_up_in_the_queue_is_an_abandoned_call(self, line: TwilioRig) -> None:
        call = to_callback_offer(line)
        call.press("2")
        line.clock.advance(timedelta(seconds=40))
        call.leave_queue("hangup")
        call.hang_up()
        (row,) = line.rows("calls")
        assert row["outcome"] == CallOutcome.ABANDONED_QUEUE
        assert line.rows("queue_places") == []  # out of the queue, for every reader
        assert line.rows("twilio_steps") == []  # nothing of the call outlives it

    def test_joined_with_an_advisor_then_the_advisor_hangs_up(self, line: TwilioRig) -> None:
        with line.database.transaction() as session:
            advisor_id = register_advisor(session, "Anna", ["nurse"], ["fi"], T0)
        call = to_callback_offer(line)
        call.press("2")
        handed_to_advisor(line, call, advisor_id)
        call.leave_queue("bridged")
        assert call.hung_up_on
        (row,) = line.rows("calls")
        assert row["outcome"] == CallOutcome.ANSWERED
        (answered,) = [e for e in line.rows("call_events") if e["kind"] == EventKind.ANSWERED]
        assert answered["data"]["wait_s"] == 90.0
        assert answered["data"]["advisor_id"] == str(advisor_id)

    def test_closing_time_turns_the_health_queue_into_callbacks(self, line: TwilioRig) -> None:
        """Health's closing policy: at 15.00 a queued caller leaves the queue with their
        place kept, and agrees the number for a callback."""
        call = to_callback_offer(line)
        call.press("2")
        line.clock.set(datetime(2026, 1, 12, 13, 0, 1, tzinfo=UTC))
        call.wait_a_turn()
        assert "Neuvonta sulkeutuu tältä päivältä." in call.text
        assert "Soitamme numeroon 040 123 4567." in call.text
        call.press("1")
        (request,) = line.rows("callback_requests")
        assert request["queue_entered_at"] == T0

    def test_an_estimate_from_the_advisors_signed_in(self, line: TwilioRig) -> None:
        with line.database.transaction() as session:
            for name in ("Anna", "Bert"):
                advisor_id = register_advisor(session, name, ["nurse"], ["fi"], T0)
                set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, T0)
        call = line.call().dial()
        call.press("1")
        call.press("1")
        assert call.waiting and not call.text  # an advisor is free: no announcement


class TestMenus:
    def test_silence_is_asked_again_then_the_default(self, line: TwilioRig) -> None:
        call = line.call().dial()
        call.say_nothing()
        assert "Emme saaneet valintaasi." in call.text
        call.say_nothing()
        call.say_nothing()
        assert "Valitse, mitä asiasi koskee." in call.text  # Finnish, by default
        assert EventKind.INPUT_TIMEOUT in kinds(line)

    def test_a_wrong_key_is_named_and_asked_again(self, line: TwilioRig) -> None:
        call = line.call().dial()
        call.press("9")
        assert "Valintaa ei tunnistettu." in call.text and call.asked

    def test_english(self, line: TwilioRig) -> None:
        call = line.call().dial()
        call.press("3")
        assert "Please choose what your call is about." in call.text
        voices = {say.attrib["voice"] for say in call.document.iter("Say")}  # type: ignore[union-attr]
        assert voices == {"Polly.Amy"}


class TestClosed:
    def test_after_hours_the_callback_is_for_the_next_opening(self, line: TwilioRig) -> None:
        line.clock.set(SATURDAY)
        call = line.call().dial()
        assert "Tervetuloa" in call.text
        call.press("1")
        assert "Neuvonta on nyt suljettu." in call.text
        call.press("2")  # social matters
        assert "Jos haluat, että soitamme sinulle" in call.text
        call.press("1")
        call.press("1")
        assert "Soittopyyntösi on vastaanotettu" in call.text
        (request,) = line.rows("callback_requests")
        assert request["topic"] == "social"

    def test_no_callbacks_when_closed_says_so_in_every_language(
        self, line: TwilioRig, config: HotlineConfig
    ) -> None:
        closed = {
            name: queue.model_copy(
                update={"callbacks": queue.callbacks.model_copy(update={"when_closed": False})}
            )
            for name, queue in config.queues.items()
        }
        twilio_config = line.provider.settings.config.model_copy(update={"queues": closed})
        provider = TwilioProvider(
            twilio_settings(twilio_config, TwilioAccount(ACCOUNT_SID, AUTH_TOKEN)),
            line.database,
            line.clock,
            http=HttpxTwilioClient(route=line.fake.route),
        )
        webhooks = provider.webhooks()
        app = create_app(twilio_config, line.database, clock=line.clock, webhooks=webhooks)
        line.webhooks = Webhooks(public_url=PUBLIC_URL, app=app)
        line.clock.set(SATURDAY)
        call = line.call().dial()
        assert "Neuvonta on nyt suljettu." in call.text
        assert "Rådgivningen är stängd nu." in call.text
        assert "The advice line is closed now." in call.text
        assert call.hung_up_on
        (row,) = line.rows("calls")
        assert row["outcome"] == CallOutcome.CLOSED


class TestPendingCallback:
    def test_a_second_call_is_told_of_the_first_and_may_keep_it(self, line: TwilioRig) -> None:
        first = to_callback_offer(line)
        first.press("1")
        first.press("1")
        line.clock.advance(timedelta(minutes=5))
        second = line.call().dial()
        assert "Sinulla on jo soittopyyntö" in second.text
        second.press("1")
        assert "Soittopyyntösi on voimassa." in second.text
        assert len(line.rows("callback_requests")) == 1
        outcomes = sorted(row["outcome"] for row in line.rows("calls"))
        assert outcomes == [CallOutcome.CALLBACK_KEPT, CallOutcome.CALLBACK_REQUESTED]

    def test_or_cancel_it_and_go_on(self, line: TwilioRig) -> None:
        first = to_callback_offer(line)
        first.press("1")
        first.press("1")
        second = line.call().dial()
        second.press("2")
        assert "Soittopyyntösi on peruttu." in second.text
        assert "Valitse, mitä asiasi koskee." in second.text
        (request,) = line.rows("callback_requests")
        assert request["status"] == CallbackStatus.CANCELLED


class TestRepeatedWebhooks:
    @BOTH_DATABASES
    def test_a_repeated_confirmation_stores_one_callback(self, line: TwilioRig) -> None:
        """Twilio retries the webhook that stores the request: the same answer comes back,
        and nothing is stored or logged twice."""
        call = to_callback_offer(line)
        call.press("1")
        gather = call.gather()
        params = {**call.params(), "Digits": "1"}
        first = line.webhooks.post_now(gather.attrib["action"], params)
        events = len(line.rows("call_events"))
        again = line.webhooks.post_now(gather.attrib["action"], params)
        assert again.status_code == 200 and again.text == first.text
        assert len(line.rows("callback_requests")) == 1
        assert len(line.rows("call_events")) == events

    def test_a_repeated_arrival_is_one_call(self, line: TwilioRig) -> None:
        call = line.call().dial()
        again = line.webhooks.post_now(f"{PUBLIC_URL}/twilio/voice", call.params())
        assert again.text == call.answers[0].text
        assert len(line.rows("calls")) == 1
        assert kinds(line).count(EventKind.CALL_ARRIVED) == 1

    def test_a_repeated_status_callback_changes_nothing(self, line: TwilioRig) -> None:
        call = to_callback_offer(line)
        call.press("2")
        call.hang_up()
        before = line.snapshot()
        assert call.hang_up().status_code == 204
        assert line.snapshot() == before

    def test_a_double_press_answers_the_next_question(self, line: TwilioRig) -> None:
        """Two presses of 1 at the offer: the second confirms the number, as on any phone;
        one request."""
        call = to_callback_offer(line)
        call.press("1")
        call.press("1")
        assert len(line.rows("callback_requests")) == 1


class TestStepsKnownByWhatTheyAre:
    """A step is its call, its endpoint and the parameters of ours in its URL: nothing a
    request carries besides them makes it another step."""

    def test_a_signed_replay_with_a_parameter_more_does_not_move_the_call_on(
        self, line: TwilioRig
    ) -> None:
        call = line.call().dial()
        gather = call.gather()
        call.press("1")  # Finnish: the topic is asked next
        before = line.snapshot()
        replay = line.webhooks.post_now(
            gather.attrib["action"] + "&Retry=1", {**call.params(), "Digits": "1"}
        )
        assert replay.status_code == 200 and replay.text == call.answers[-1].text
        assert line.snapshot() == before  # not taken for "1 = health" at the topic menu

    def test_a_step_never_handed_out_is_refused_and_changes_nothing(self, line: TwilioRig) -> None:
        call = line.call().dial()
        before = line.snapshot()
        ahead = f"{PUBLIC_URL}/twilio/voice/gather?s=7&pb=p1&k=ask"
        answer = line.webhooks.post_now(ahead, {**call.params(), "Digits": "1"})
        assert answer.status_code == 400
        assert "s=7: not the current step" in answer.json()["detail"]
        assert line.snapshot() == before

    @BOTH_DATABASES
    def test_replays_after_the_call_ended_store_nothing(self, line: TwilioRig) -> None:
        """Once the call is over (its answers forgotten), a replay of any of its steps is
        told to hang up, and no row is added or changed."""
        call = to_callback_offer(line)
        call.press("1")
        confirm = call.gather().attrib["action"]
        call.press("1")
        assert call.hung_up_on
        assert call.hang_up().status_code == 204
        before = line.snapshot()
        assert before["twilio_steps"] == []
        for url, params in [
            (confirm, {**call.params(), "Digits": "1"}),
            (f"{PUBLIC_URL}/twilio/voice", call.params()),
        ]:
            replay = line.webhooks.post_now(url, params)
            assert replay.status_code == 200 and "<Hangup" in replay.text
        assert line.snapshot() == before
        assert len(line.rows("callback_requests")) == 1


class TestCallsArrivingTogether:
    """Webhooks that arrive at once (answered in batches sharing a commit)."""

    VOICE = f"{PUBLIC_URL}/twilio/voice"

    def callers(self, line: TwilioRig) -> list[Caller]:
        return [line.call(f"+35840123{n:04d}") for n in range(12)]

    @BOTH_DATABASES
    def test_each_is_greeted_and_stored_once_and_a_retry_gets_the_same(
        self, line: TwilioRig
    ) -> None:
        callers = self.callers(line)

        async def all_at_once() -> list[httpx.Response]:
            posts = [line.webhooks.post(self.VOICE, caller.params()) for caller in callers]
            posts.append(line.webhooks.post(self.VOICE, callers[0].params()))  # Twilio retries
            return await asyncio.gather(*posts)

        *greetings, retried = asyncio.run(all_at_once())
        assert [answer.status_code for answer in greetings] == [200] * 12
        assert {answer.text for answer in greetings} == {retried.text}
        assert len(line.rows("calls")) == len(line.rows("twilio_calls")) == 12
        assert kinds(line).count(EventKind.CALL_ARRIVED) == 12

    def test_a_step_of_an_unknown_call_among_them_fails_alone(self, line: TwilioRig) -> None:
        callers = self.callers(line)
        stranger = {**line.call().params(), "CallSid": new_call_sid(), "Digits": "1"}

        async def all_at_once() -> list[httpx.Response]:
            posts = [line.webhooks.post(self.VOICE, caller.params()) for caller in callers]
            posts.insert(6, line.webhooks.post(f"{self.VOICE}/gather?s=0&pb=p1&k=ask", stranger))
            return await asyncio.gather(*posts)

        answers = asyncio.run(all_at_once())
        refused = answers.pop(6)
        assert refused.status_code == 400
        assert [answer.status_code for answer in answers] == [200] * 12
        assert len(line.rows("calls")) == 12


class TestRefusedWebhooks:
    def test_unsigned_is_refused_and_stores_nothing(self, line: TwilioRig) -> None:
        before = line.snapshot()
        params = line.call().params()
        answer = line.webhooks.post_now(f"{PUBLIC_URL}/twilio/voice", params, unsigned=True)
        assert answer.status_code == 403
        assert answer.json()["error"] == "webhook-signature-invalid"
        assert line.snapshot() == before

    def test_tampered_digits_are_refused(self, line: TwilioRig) -> None:
        call = to_callback_offer(line)
        before = line.snapshot()
        gather = call.gather()
        params = {**call.params(), "Digits": "2"}
        signed_for_two = sign(AUTH_TOKEN, gather.attrib["action"], list(params.items()))
        tampered = {**params, "Digits": "1"}
        answer = line.webhooks.post_now(gather.attrib["action"], tampered, signature=signed_for_two)
        assert answer.status_code == 403
        assert line.snapshot() == before

    def test_signed_with_another_token_is_refused(self, line: TwilioRig) -> None:
        other = Webhooks(public_url=PUBLIC_URL, app=line.app, auth_token="not-our-token")
        answer = other.post_now(f"{PUBLIC_URL}/twilio/voice", line.call().params())
        assert answer.status_code == 403
        assert line.rows("calls") == []

    def test_the_url_the_app_sees_is_not_the_signed_one(self, line: TwilioRig) -> None:
        """Behind the proxy the app is reached at another address; a signature over that
        address, not the public one, is refused."""
        internal = Webhooks(public_url="http://app.internal", app=line.app)
        answer = internal.post_now("http://app.internal/twilio/voice", line.call().params())
        assert answer.status_code == 403
        assert line.rows("calls") == []

    def test_a_json_body_is_covered_by_its_hash(self, line: TwilioRig) -> None:
        params = line.call().params()
        body = json.dumps(params)
        url, signature = sign_json(AUTH_TOKEN, f"{PUBLIC_URL}/twilio/voice", body)
        headers = {"Content-Type": "application/json"}
        answer = line.webhooks.post_now(url, {}, signature=signature, headers=headers, body=body)
        assert answer.status_code == 200 and "Tervetuloa" in answer.text
        altered = body.replace(MOBILE, "+358409999999")
        refused = line.webhooks.post_now(
            url, {}, signature=signature, headers=headers, body=altered
        )
        assert refused.status_code == 403

    @pytest.mark.parametrize(
        ("change", "named"),
        [
            ({"CallSid": "CA-not-a-sid"}, "CallSid"),
            ({"AccountSid": "AC" + "0" * 32}, "AccountSid"),
            ({"From": "x" * 80}, "From"),
        ],
    )
    def test_malformed_arrival_is_400_and_stores_nothing(
        self, line: TwilioRig, change: dict[str, str], named: str
    ) -> None:
        params = {**line.call().params(), **change}
        answer = line.webhooks.post_now(f"{PUBLIC_URL}/twilio/voice", params)
        assert answer.status_code == 400
        assert answer.json()["error"] == "webhook-malformed"
        assert named in answer.json()["detail"]
        assert line.rows("calls") == []

    def test_malformed_digits_are_400_and_change_nothing(self, line: TwilioRig) -> None:
        call = to_callback_offer(line)
        before = line.snapshot()
        gather = call.gather()
        answer = line.webhooks.post_now(gather.attrib["action"], {**call.params(), "Digits": "1a"})
        assert answer.status_code == 400
        assert "Digits" in answer.json()["detail"]
        assert line.snapshot() == before

    def test_a_step_of_an_unknown_call_is_400(self, line: TwilioRig) -> None:
        params = {**line.call().params(), "CallSid": new_call_sid(), "Digits": "1"}
        url = f"{PUBLIC_URL}/twilio/voice/gather?s=0&pb=p1&k=ask"
        answer = line.webhooks.post_now(url, params)
        assert answer.status_code == 400
        assert line.rows("calls") == []
