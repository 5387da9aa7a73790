"""A call's steps happen once and in their order, whatever Twilio or anyone with the
line's token sends again, late, or written another way.

The advisor's side is the connector's own: it places the call through the fake
Twilio, whose TwiML dials the queue, and the dequeue request is the one Twilio
makes for that ``<Queue url>``, ``DequeingCallSid`` and all.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import String

from callflow.engine.vocabulary import CallOutcome
from callflow.providers.twilio.params import Gathered, Played
from callflow.providers.twilio.twiml import left_key, step_key
from callflow.store.advisors import set_advisor_state
from callflow.store.models import AdvisorState
from callflow.store.twilio_tables import TwilioStep
from tests.fakes.twilio_server import ACCOUNT_SID, new_call_sid
from tests.providers.twilio.conftest import BOTH_DATABASES, PUBLIC_URL, Caller, TwilioRig
from tests.providers.twilio.test_calls import to_callback_offer
from tests.providers.twilio.test_connector import ANNA, advisor, connect, queued, run, state_of


@dataclass
class Dequeue:
    """The request Twilio made to join a queued caller with the advisor who dialled them."""

    url: str
    params: dict[str, str]
    leg: str
    """The advisor's call (``DequeingCallSid``)."""

    def again(self, line: TwilioRig, url: str | None = None) -> httpx.Response:
        return line.webhooks.post_now(url or self.url, self.params)


def dequeue(line: TwilioRig, call: Caller) -> Dequeue:
    """The connector calls the free advisor, who answers; their TwiML dials the queue and
    Twilio hands them *call*, the caller at its front."""
    assert connect(line) == 1
    placed = line.fake.placed()[-1]

    async def answered() -> Dequeue:
        await line.fake.progress(placed.sid, "initiated", "ringing", "in-progress")
        queue = ET.fromstring(await line.fake.fetch_twiml(placed.sid)).find("Dial/Queue")
        assert queue is not None
        params = {
            **call.params(),
            "QueueSid": "QU" + "2" * 32,
            "QueueTime": "20",
            "DequeingCallSid": placed.sid,
        }
        return Dequeue(queue.attrib["url"], params, placed.sid)

    joined = run(line, answered)
    first = joined.again(line)
    assert first.status_code == 200 and says_nothing(first)
    return joined


def says_nothing(answer: httpx.Response) -> bool:
    """An empty document: Twilio does nothing more with the request."""
    return len(ET.fromstring(answer.text)) == 0


def advisor_hangs_up(line: TwilioRig, leg: str) -> None:
    async def hangs_up() -> None:
        await line.fake.progress(leg, "completed", duration=300)

    run(line, hangs_up)


def written_otherwise(url: str, name: str, number: int) -> list[str]:
    """*url* with the number in parameter *name* written as others would write it."""
    return [
        re.sub(rf"([?&]{name}=)\d+", rf"\g<1>{written}", url)
        for written in (f"0{number}", f"000{number}", f"%2B{number}")
    ]


class TestTheDequeueHappensOnce:
    """Twilio asks the ``<Queue url>`` once per advisor's call; that call is what makes the
    dequeue happen once, so no repeat of the request puts the advisor in wrap-up."""

    @BOTH_DATABASES
    def test_replayed_after_the_call_ended_it_leaves_the_advisor_with_their_next_caller(
        self, line: TwilioRig
    ) -> None:
        anna = advisor(line, "Anna", ANNA)
        first = queued(line, "+358401000001")
        joined = dequeue(line, first)
        line.clock.advance(timedelta(minutes=5))
        advisor_hangs_up(line, joined.leg)
        first.leave_queue("bridged")
        assert first.hung_up_on
        assert first.hang_up().status_code == 204  # the call is over, its answers forgotten
        with line.database.transaction() as session:
            set_advisor_state(session, anna, AdvisorState.AVAILABLE, line.clock.now())
        second = queued(line, "+358401000002")
        dequeue(line, second)
        assert state_of(line, anna) is AdvisorState.BUSY  # talking to the second caller
        before = line.snapshot()
        for url in [joined.url, *written_otherwise(joined.url, "advisor", anna)]:
            replay = joined.again(line, url)
            assert replay.status_code == 200 and says_nothing(replay)
        assert state_of(line, anna) is AdvisorState.BUSY  # not put in wrap-up mid-call
        assert line.snapshot() == before  # no step row for the ended call, nothing changed

    def test_an_advisor_call_not_yet_written_down_still_dequeues(self, line: TwilioRig) -> None:
        """The connector could not write the advisor's call down (a database blip) and its
        status callbacks are still on their way when the advisor answers: the answer
        writes it, so the dequeue that follows joins the caller instead of Twilio's
        application error."""
        anna = advisor(line, "Anna", ANNA)
        call = queued(line, "+358401000001")
        connector = line.provider.connector
        connector._remember = lambda *args: None  # type: ignore[method-assign]
        assert connect(line) == 1
        placed = line.fake.placed()[-1]

        async def answered() -> Dequeue:
            queue = ET.fromstring(await line.fake.fetch_twiml(placed.sid)).find("Dial/Queue")
            assert queue is not None
            params = {**call.params(), "QueueSid": "QU" + "2" * 32, "DequeingCallSid": placed.sid}
            return Dequeue(queue.attrib["url"], params, placed.sid)

        joined = run(line, answered)
        answer = joined.again(line)
        assert answer.status_code == 200 and says_nothing(answer)
        assert state_of(line, anna) is AdvisorState.BUSY

    def test_a_repeat_during_the_conversation_changes_nothing(self, line: TwilioRig) -> None:
        """The advisor id written another way is the same dequeue, not a new one that the
        engine, its caller already connected, would answer by freeing the advisor."""
        anna = advisor(line, "Anna", ANNA)
        call = queued(line, "+358401000001")
        joined = dequeue(line, call)
        before = line.snapshot()
        for url in [joined.url, *written_otherwise(joined.url, "advisor", anna)]:
            assert joined.again(line, url).status_code == 200
        assert state_of(line, anna) is AdvisorState.BUSY
        assert line.snapshot() == before
        (row,) = line.rows("calls")
        assert row["outcome"] == CallOutcome.ANSWERED

    def test_a_dequeue_by_a_call_not_placed_to_that_advisor_is_refused(
        self, line: TwilioRig
    ) -> None:
        anna = advisor(line, "Anna", ANNA)
        call = queued(line, "+358401000001")
        before = line.snapshot()
        answer = line.webhooks.post_now(
            f"{PUBLIC_URL}/twilio/voice/connected?advisor={anna}",
            {**call.params(), "QueueSid": "QU" + "2" * 32, "DequeingCallSid": new_call_sid()},
        )
        assert answer.status_code == 400
        assert answer.json()["detail"] == (
            f"DequeingCallSid: not a call this line placed to advisor {anna}"
        )
        assert line.snapshot() == before
        assert state_of(line, anna) is AdvisorState.AVAILABLE


def at_the_topic_menu(line: TwilioRig) -> tuple[Caller, str]:
    """A Finnish caller asked the topic, and the action URL of that question."""
    call = line.call().dial()
    call.press("1")
    assert "Valitse, mitä asiasi koskee." in call.text
    return call, call.gather().attrib["action"]


def step_of(url: str) -> int:
    found = re.search(r"[?&]s=(\d+)", url)
    assert found is not None
    return int(found.group(1))


class TestStepsAreKnownByTheirValues:
    """A step's key is made of the values our parameters were read into, not of the text
    that carried them."""

    def test_a_step_number_written_otherwise_is_the_same_step(self, line: TwilioRig) -> None:
        call, topic_menu = at_the_topic_menu(line)
        padded = topic_menu.replace(f"s={step_of(topic_menu)}", f"s=000{step_of(topic_menu)}")
        first = line.webhooks.post_now(padded, {**call.params(), "Digits": "1"})
        assert first.status_code == 200
        before = line.snapshot()
        again = line.webhooks.post_now(topic_menu, {**call.params(), "Digits": "1"})
        assert (again.status_code, again.text) == (200, first.text)
        assert line.snapshot() == before

    @BOTH_DATABASES
    @pytest.mark.parametrize(
        "query",
        ["s={padded}&pb={pb}&k=ask", "s={s}&pb={pb}&k=ask&advisor={long}"],
        ids=["a-long-written-step", "a-long-parameter-of-another-step"],
    )
    def test_a_long_signed_query_is_answered_not_a_500(self, line: TwilioRig, query: str) -> None:
        """``twilio_steps.step`` holds 48 characters: PostgreSQL refused a key made of the
        query's text, and the caller got Twilio's error message instead of the next menu."""
        call, topic_menu = at_the_topic_menu(line)
        playback = re.search(r"[?&]pb=(p\d+)", topic_menu)
        assert playback is not None
        step = step_of(topic_menu)
        written = query.format(
            s=step, padded="0" * 60 + str(step), pb=playback.group(1), long="9" * 60
        )
        digits = {**call.params(), "Digits": "1"}
        answer = line.webhooks.post_now(f"{PUBLIC_URL}/twilio/voice/gather?{written}", digits)
        assert answer.status_code == 200, answer.text
        assert ET.fromstring(answer.text).find("Enqueue") is not None  # 1: health's queue

    def test_no_step_key_outgrows_its_column(self) -> None:
        """Every value of ours is bounded, so is every key made of them."""
        column = TwilioStep.__table__.c.step.type
        assert isinstance(column, String) and column.length is not None
        room = column.length
        widest: dict[str, Any] = {"CallSid": "CA" + "f" * 32, "AccountSid": ACCOUNT_SID}
        widest |= {"s": "1000000", "pb": "p999999", "k": "music", "q": "1"}
        keys = [step_key("gather", Gathered.model_validate(widest).step_query())]
        keys += [
            step_key(endpoint, Played.model_validate(widest).step_query())
            for endpoint in ("played", "tick", "wait")
        ]
        keys.append(left_key({"v": 1_000_000}, "bridging-in-process"))
        assert max(len(key) for key in keys) <= room

    def test_a_name_in_both_the_url_and_the_body_is_refused(self, line: TwilioRig) -> None:
        call, topic_menu = at_the_topic_menu(line)
        before = line.snapshot()
        body = {**call.params(), "Digits": "1", "s": str(step_of(topic_menu))}
        answer = line.webhooks.post_now(topic_menu, body)
        assert answer.status_code == 400
        assert answer.json() == {
            "error": "webhook-malformed",
            "detail": "s: given both in the URL and in the body; give each once",
        }
        assert line.snapshot() == before


def turn_of_waiting(call: Caller) -> str:
    """The ``waitUrl`` the caller's hold music ends in: Twilio asks it when the music ends."""
    assert call.waiting and call.document is not None
    redirect = call.document.find("Redirect")
    assert redirect is not None and redirect.text is not None
    return redirect.text


class TestRequestsThatArriveOutOfOrder:
    """Twilio plays its error message and ends the call when a voice webhook is answered
    with an error, so a request that merely crossed another on its way is answered."""

    def test_the_turn_of_waiting_that_crossed_the_dequeue_is_answered(
        self, line: TwilioRig
    ) -> None:
        anna = advisor(line, "Anna", ANNA)
        call = queued(line, "+358401000001")
        music_ended = turn_of_waiting(call)
        dequeue(line, call)
        crossed = line.webhooks.post_now(music_ended, call.params())
        assert crossed.status_code == 200, crossed.text
        assert state_of(line, anna) is AdvisorState.BUSY
        (row,) = line.rows("calls")
        assert row["outcome"] == CallOutcome.ANSWERED

    @BOTH_DATABASES
    def test_a_turn_of_a_queue_the_caller_left_is_passed_over(self, line: TwilioRig) -> None:
        """Twilio could not keep the caller in the queue (``QueueResult=error``) as their
        music ended: they join it again, and the turn of the queue they left, arriving
        after, gets an empty answer (Twilio runs a ``waitUrl``'s TwiML only while the
        caller is in that queue) and changes nothing."""
        call = to_callback_offer(line)
        call.press("2")  # no, thank you: hold music
        music_ended = turn_of_waiting(call)
        call.leave_queue("error")
        assert call.waiting  # in the queue again
        before = line.snapshot()
        late = line.webhooks.post_now(music_ended, call.params())
        assert late.status_code == 200 and says_nothing(late)
        assert line.snapshot() == before

    def test_an_earlier_step_of_the_call_itself_is_refused(self, line: TwilioRig) -> None:
        """Twilio asks a document's URL before the next document exists, so an earlier step
        of the call itself, not answered when it was current, never comes from Twilio: it
        is refused (and shown in Twilio's debugger) and changes nothing."""
        call = line.call().dial()
        language_menu = step_of(call.gather().attrib["action"])
        call.press("1")
        before = line.snapshot()
        earlier = f"{PUBLIC_URL}/twilio/voice/played?s={language_menu}&pb=p1"
        answer = line.webhooks.post_now(earlier, call.params())
        assert answer.status_code == 400
        assert "not the current step" in answer.json()["detail"]
        assert line.snapshot() == before
