"""The recommendation question on Twilio's webhooks: when the advisor hangs up first, the
``<Enqueue>`` action comes with ``QueueResult=bridged`` and the caller hears the question,
answered with keys through ``<Gather>`` — 1 then 0 for ten — stored in ``surveys`` and
counted by the report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import CallOutcome, Channel, EventKind
from callflow.reports.kpis import compute_report
from callflow.store.advisors import register_advisor
from tests.providers.twilio.conftest import (
    BOTH_DATABASES,
    MOBILE,
    PUBLIC_URL,
    Caller,
    TwilioRig,
    handed_to_advisor,
    with_twilio,
)

QUESTION = "Kuinka todennäköisesti suosittelisit palvelua ystävällesi?"
THANKS = "Kiitos vastauksestasi."


@pytest.fixture
def twilio_config(config: HotlineConfig) -> HotlineConfig:
    """The example line with the question on for every contact, and an NPS from one answer."""
    survey = config.survey.model_copy(update={"enabled": True, "share": 1.0})
    reports = config.reports.model_copy(update={"nps_min_responses": 1})
    return with_twilio(config.model_copy(update={"survey": survey, "reports": reports}))


def talked(line: TwilioRig, number: str = MOBILE, *, leg_status: str = "in-progress") -> Caller:
    """A Finnish caller for health, handed to an advisor after 90 s in the queue; the talk
    lasts five minutes, and the advisor's call is then *leg_status* as Twilio last said."""
    with line.database.transaction() as session:
        advisor_id = register_advisor(
            session, f"Anna {number}", ["nurse"], ["fi"], line.clock.now()
        )
    call = line.call(number).dial()
    call.press("1")
    call.press("1")
    call.press("2")  # no callback, thank you
    assert call.waiting
    placed = handed_to_advisor(line, call, advisor_id)
    line.clock.advance(timedelta(minutes=5))
    if leg_status != "in-progress":
        status = {
            **call.params(),
            "CallSid": placed,
            "CallStatus": leg_status,
            "CallDuration": "300",
        }
        answer = line.webhooks.post_now(f"{PUBLIC_URL}/twilio/status?leg=connect", status)
        assert answer.status_code == 204, answer.text
    call.leave_queue("bridged")  # the advisor hung up: the caller's call goes on
    return call


def surveys(line: TwilioRig) -> list[dict[str, Any]]:
    return line.rows("surveys")


def survey_events(line: TwilioRig) -> list[dict[str, Any]]:
    events = sorted(line.rows("call_events"), key=lambda row: row["id"])
    return [e for e in events if e["kind"] in (EventKind.SURVEY_ASKED, EventKind.SURVEY_ANSWERED)]


def report(line: TwilioRig, config: HotlineConfig) -> dict[str, Any]:
    day = line.clock.now().date()
    return compute_report(line.database, config, day, day, now=line.clock.now())


def timeout_of(call: Caller) -> int:
    return int(call.gather().attrib["timeout"])


class TestAnswers:
    @BOTH_DATABASES
    def test_one_then_zero_is_ten_stored_with_the_call_and_counted(
        self, line: TwilioRig, twilio_config: HotlineConfig
    ) -> None:
        call = talked(line)
        assert QUESTION in call.text and call.asked
        assert timeout_of(call) == 8  # [survey] answer_timeout, after the question is said
        call.press("1")
        assert call.asked and not call.text  # nothing said: waiting for the 0 of ten
        assert timeout_of(call) == 3  # [survey] ten_timeout
        assert call.gather().attrib["numDigits"] == "1"
        call.press("0")
        assert THANKS in call.text and call.hung_up_on
        (row,) = surveys(line)
        (stored_call,) = line.rows("calls")
        assert (row["score"], row["call_id"], row["channel"]) == (10, stored_call["id"], "phone")
        assert (row["topic"], row["language"], row["number_e164"]) == ("health", "fi", MOBILE)
        assert row["answered_at"] is not None
        assert stored_call["outcome"] == CallOutcome.ANSWERED
        assert [e["kind"] for e in survey_events(line)] == [
            EventKind.SURVEY_ASKED,
            EventKind.SURVEY_ANSWERED,
        ]
        assert survey_events(line)[-1]["data"]["score"] == 10
        figures = report(line, twilio_config)
        assert (figures["survey_responses"], figures["nps"]) == (1, 100.0)
        assert figures["by_channel"][Channel.PHONE]["survey_responses"] == 1

    def test_seven_is_seven_at_once(self, line: TwilioRig, twilio_config: HotlineConfig) -> None:
        call = talked(line)
        call.press("7")
        assert THANKS in call.text and call.hung_up_on
        (row,) = surveys(line)
        assert row["score"] == 7
        figures = report(line, twilio_config)
        assert (figures["survey_responses"], figures["nps"]) == (1, 0.0)

    def test_a_lone_one_is_one_when_no_zero_comes(self, line: TwilioRig) -> None:
        call = talked(line)
        call.press("1")
        call.say_nothing()  # the ten_timeout passes
        assert THANKS in call.text and call.hung_up_on
        assert [row["score"] for row in surveys(line)] == [1]

    def test_hanging_up_after_a_one_keeps_the_one(self, line: TwilioRig) -> None:
        call = talked(line)
        call.press("1")
        assert call.hang_up().status_code == 204
        assert [row["score"] for row in surveys(line)] == [1]

    def test_a_star_is_no_answer_and_the_question_keeps_listening(self, line: TwilioRig) -> None:
        """Twilio says nothing of when the question ended, so its silence counts from the
        key that came instead: the whole answer_timeout again, listening for keys."""
        call = talked(line)
        call.press("*")
        assert call.asked and not call.text
        assert timeout_of(call) == 8
        call.press("9")
        assert THANKS in call.text
        assert [row["score"] for row in surveys(line)] == [9]


class TestNoAnswer:
    def test_hanging_up_at_the_question_leaves_it_asked_and_unanswered(
        self, line: TwilioRig, twilio_config: HotlineConfig
    ) -> None:
        call = talked(line)
        assert call.asked
        assert call.hang_up().status_code == 204
        (row,) = surveys(line)
        assert (row["score"], row["answered_at"]) == (None, None)
        (stored_call,) = line.rows("calls")
        assert stored_call["outcome"] == CallOutcome.ANSWERED
        assert stored_call["ended_at"] is not None
        assert [e["kind"] for e in survey_events(line)] == [EventKind.SURVEY_ASKED]
        figures = report(line, twilio_config)
        assert (figures["surveys_asked"], figures["survey_responses"]) == (1, 0)
        assert figures["nps"] is None

    def test_silence_says_goodbye_and_stores_no_answer(self, line: TwilioRig) -> None:
        call = talked(line)
        call.say_nothing()
        assert "Näkemiin" in call.text and THANKS not in call.text and call.hung_up_on
        (row,) = surveys(line)
        assert row["score"] is None

    def test_a_dropped_advisor_leg_is_not_surveyed(self, line: TwilioRig) -> None:
        """Twilio said the advisor's call failed (the carrier lost it) before the caller's
        ``<Enqueue>`` action came: a dropped talk, not asked."""
        call = talked(line, leg_status="failed")
        assert call.hung_up_on and QUESTION not in call.text
        assert surveys(line) == []
        (stored_call,) = line.rows("calls")
        assert stored_call["outcome"] == CallOutcome.ANSWERED

    def test_a_number_asked_today_is_not_asked_again(self, line: TwilioRig) -> None:
        talked(line).press("7")
        line.clock.advance(timedelta(minutes=30))
        again = talked(line)
        assert again.hung_up_on and QUESTION not in again.text
        assert len(surveys(line)) == 1


class TestRetries:
    def test_a_retried_answer_is_stored_once_and_the_first_stands(self, line: TwilioRig) -> None:
        call = talked(line)
        action = call.gather().attrib["action"]
        first = line.webhooks.post_now(action, {**call.params(), "Digits": "7"})
        again = line.webhooks.post_now(action, {**call.params(), "Digits": "7"})
        other = line.webhooks.post_now(action, {**call.params(), "Digits": "3"})
        assert first.status_code == again.status_code == other.status_code == 200
        assert first.text == again.text == other.text
        assert THANKS in " ".join(s.text or "" for s in ET.fromstring(first.text).iter("Say"))
        assert [row["score"] for row in surveys(line)] == [7]
        assert len(survey_events(line)) == 2  # asked, answered: once each

    def test_a_retried_bridged_action_asks_once(self, line: TwilioRig) -> None:
        call = talked(line)
        repeated = call.leave_queue("bridged")
        assert repeated.asked and QUESTION in repeated.text
        assert len(surveys(line)) == 1


def test_the_fake_posts_only_the_keys_a_gather_takes(line: TwilioRig) -> None:
    """Twilio ends a one-key ``<Gather>`` at the first key: "1" and "0" come in two
    requests, never as ``Digits=10`` (the fake refuses to post what Twilio would not)."""
    call = talked(line)
    with pytest.raises(AssertionError, match="takes 1 key"):
        call.press("10")
    assert surveys(line)[0]["score"] is None
