"""The recommendation question after a Twilio callback: the advisor hangs up first, the
conference ends, Twilio asks the resident's ``<Dial>`` action what comes next, and the
resident hears the question on their own call — answered with keys through ``<Gather>``,
stored with the callback and counted by the report — while the attempt is already over."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import CallbackStatus, Channel, EventKind
from callflow.reports.kpis import compute_report
from callflow.service.rules import LineRules
from callflow.store.advisors import register_advisor, set_advisor_state
from callflow.store.models import AdvisorState, CallbackAttempt, CallbackRequest
from tests.fakes.twilio_server import FakeCall, gather_post
from tests.providers.twilio.conftest import BOTH_DATABASES, TwilioRig, with_twilio
from tests.providers.twilio.test_dialler import ADVISOR_PHONE, RESIDENT, Phones, run
from tests.store.helpers import T0, add_callback
from workers.dispatcher import Dispatcher

QUESTION = "Kuinka todennäköisesti suosittelisit palvelua ystävällesi?"
THANKS = "Kiitos vastauksestasi."
TALK = timedelta(minutes=4)


@pytest.fixture
def twilio_config(config: HotlineConfig) -> HotlineConfig:
    """The example line with the question on for every contact, and an NPS from one answer."""
    survey = config.survey.model_copy(update={"enabled": True, "share": 1.0})
    reports = config.reports.model_copy(update={"nps_min_responses": 1})
    return with_twilio(config.model_copy(update={"survey": survey, "reports": reports}))


class ResidentLeg:
    """The resident's call after the talk, as Twilio runs its TwiML."""

    def __init__(self, line: TwilioRig, call: FakeCall, document: str | None) -> None:
        self.line, self.call = line, call
        self.heard: list[str] = []
        self.document = ET.fromstring(document) if document is not None else None
        self._follow()

    @property
    def text(self) -> str:
        return " ".join(self.heard)

    @property
    def asked(self) -> bool:
        return self.document is not None and self.document.find("Gather") is not None

    @property
    def hung_up_on(self) -> bool:
        """Twilio ends the call: a ``<Hangup>``, or no document to run at all."""
        return self.document is None or self.document.find("Hangup") is not None

    def gather(self) -> ET.Element:
        assert self.document is not None
        gather = self.document.find("Gather")
        assert gather is not None, "nothing listens for keys"
        return gather

    def press(self, key: str) -> ResidentLeg:
        gather = self.gather()
        self.heard = []
        self._post(gather.attrib["action"], gather_post(gather, key))
        return self

    def say_nothing(self) -> ResidentLeg:
        gather = self.gather()
        assert gather.attrib.get("actionOnEmptyResult") == "true"
        self.heard = []
        self._post(gather.attrib["action"], {"Digits": ""})
        return self

    def hang_up(self) -> None:
        asyncio.run(self._hang_up())

    async def _hang_up(self) -> None:
        self.line.fake.attach(asyncio.get_running_loop())
        await self.line.fake.progress(self.call.sid, "completed", duration=300)

    def _post(self, url: str, params: dict[str, str]) -> None:
        sent = {**self.line.fake._standard(self.call), "CallStatus": "in-progress", **params}
        answer = self.line.webhooks.post_now(url, sent)
        assert answer.status_code == 200, answer.text
        self.document = ET.fromstring(answer.text)
        self._follow()

    def _follow(self) -> None:
        """Words then a ``<Redirect>``: Twilio says them and asks the redirect."""
        if self.document is None:
            return
        self.heard += [say.text or "" for say in self.document.iter("Say") if say.text]
        redirect = self.document.find("Redirect")
        if redirect is not None and not self.asked:
            self._post(redirect.text or "", {})


class Callback:
    """A callback made by the worker's dispatcher over Twilio, up to the advisor's hang-up."""

    def __init__(self, line: TwilioRig, *, channel: Channel = Channel.PHONE) -> None:
        self.line = line
        with line.database.transaction() as session:
            self.callback_id = add_callback(session, RESIDENT, entered=T0 - timedelta(minutes=12))
            advisor_id = register_advisor(
                session, "Anna", ["nurse"], ["fi"], T0, dial_string=ADVISOR_PHONE
            )
            set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, T0)
        if channel is Channel.WEB:
            with line.database.transaction() as session:
                session.execute(
                    update(CallbackRequest)
                    .where(CallbackRequest.id == self.callback_id)
                    .values(channel=Channel.WEB)
                )
        self.dispatcher = Dispatcher(
            LineRules.fixed(line.provider.settings.config),
            line.database,
            line.provider.dialler(),
            clock=line.clock,
            owner="worker-twilio",
        )
        self.phones = Phones(line)
        self.twiml = ""
        self.resident: FakeCall | None = None

    def talk(self, *, advisor_status: str = "completed") -> None:
        """The advisor picks up, the resident joins; after four minutes the advisor's call
        ends (*advisor_status*), and the attempt is over, while the resident is still on
        the line (Twilio has not asked their ``<Dial>`` action yet)."""

        async def scenario() -> None:
            assert await self.dispatcher.dispatch_due() == 1
            advisor = await self.phones.advisor_picks_up()
            self.resident, self.twiml = await self.phones.resident_answers()
            assert "<Conference" in self.twiml
            self.line.clock.advance(TALK)
            await self.line.fake.progress(advisor.sid, advisor_status, duration=300)
            await asyncio.wait_for(asyncio.gather(*self.dispatcher.attempts.values()), 5)

        run(self.line, scenario)

    def conference_over(self, *, resident_stayed: bool = True) -> ResidentLeg:
        """Twilio asks the resident's ``<Dial>`` action what their call does now."""
        assert self.resident is not None
        resident = self.resident
        status = "in-progress" if resident_stayed else "completed"

        async def over() -> str | None:
            return await self.line.fake.dial_over(resident.sid, self.twiml, call_status=status)

        return ResidentLeg(self.line, resident, asyncio.run(over()))


def surveys(line: TwilioRig) -> list[dict[str, Any]]:
    return line.rows("surveys")


def report(line: TwilioRig, config: HotlineConfig) -> dict[str, Any]:
    day = line.clock.now().date()
    return compute_report(line.database, config, day, day, now=line.clock.now())


class TestAnswers:
    @BOTH_DATABASES
    def test_one_then_zero_is_ten_stored_with_the_callback_and_counted(
        self, line: TwilioRig, twilio_config: HotlineConfig
    ) -> None:
        callback = Callback(line)
        callback.talk()
        # The attempt is over before the question: reached, timed from joining to the
        # advisor's hang-up, and waiting for the advisor's word (their wrap-up is theirs).
        with line.database.reading() as session:
            (attempt,) = session.scalars(select(CallbackAttempt)).all()
            request = session.get(CallbackRequest, callback.callback_id)
            assert request is not None and request.status is CallbackStatus.IN_PROGRESS
        assert attempt.duration_s == TALK.total_seconds()
        assert surveys(line) == []

        leg = callback.conference_over()
        assert QUESTION in leg.text and leg.asked
        assert leg.gather().attrib["timeout"] == "8"  # [survey] answer_timeout
        leg.press("1")
        assert leg.asked and not leg.text  # nothing said: waiting for the 0 of ten
        assert leg.gather().attrib["timeout"] == "3"  # [survey] ten_timeout
        leg.press("0")
        assert THANKS in leg.text and leg.hung_up_on
        leg.hang_up()

        (row,) = surveys(line)
        assert (row["score"], row["callback_id"], row["call_id"]) == (
            10,
            callback.callback_id,
            None,
        )
        assert (row["channel"], row["topic"], row["language"]) == ("callback", "health", "fi")
        assert row["number_e164"] == RESIDENT and row["answered_at"] is not None
        kinds = [e["kind"] for e in line.rows("call_events") if e["kind"].startswith("survey.")]
        assert kinds == [EventKind.SURVEY_ASKED, EventKind.SURVEY_ANSWERED]
        figures = report(line, twilio_config)
        assert (figures["survey_responses"], figures["nps"]) == (1, 100.0)
        assert figures["by_channel"][Channel.CALLBACK]["survey_responses"] == 1
        # Nothing of the question outlives the call: its state and answers held the number.
        (resident_leg,) = [r for r in line.rows("twilio_calls") if r["kind"] == "resident"]
        assert resident_leg["survey_state"] is None
        assert [
            s for s in line.rows("twilio_steps") if s["call_sid"] == resident_leg["call_sid"]
        ] == []

    def test_seven_from_a_web_request_is_counted_as_web(
        self, line: TwilioRig, twilio_config: HotlineConfig
    ) -> None:
        callback = Callback(line, channel=Channel.WEB)
        callback.talk()
        leg = callback.conference_over().press("7")
        assert THANKS in leg.text and leg.hung_up_on
        (row,) = surveys(line)
        assert (row["score"], row["channel"]) == (7, "web")
        figures = report(line, twilio_config)
        assert figures["by_channel"][Channel.WEB]["survey_responses"] == 1

    def test_a_lone_one_is_one_when_no_zero_comes(self, line: TwilioRig) -> None:
        callback = Callback(line)
        callback.talk()
        leg = callback.conference_over().press("1").say_nothing()
        assert THANKS in leg.text and leg.hung_up_on
        assert [row["score"] for row in surveys(line)] == [1]


class TestNoAnswer:
    def test_hanging_up_at_the_question_leaves_it_asked_and_unanswered(
        self, line: TwilioRig
    ) -> None:
        callback = Callback(line)
        callback.talk()
        leg = callback.conference_over()
        assert leg.asked
        leg.hang_up()
        (row,) = surveys(line)
        assert (row["score"], row["answered_at"]) == (None, None)
        (resident_leg,) = [r for r in line.rows("twilio_calls") if r["kind"] == "resident"]
        assert resident_leg["survey_state"] is None  # the number it held is gone with the call

    def test_a_dropped_advisor_leg_is_not_asked(self, line: TwilioRig) -> None:
        """Twilio reported the advisor's call failed (the carrier lost it): a dropped talk."""
        callback = Callback(line)
        callback.talk(advisor_status="failed")
        leg = callback.conference_over()
        assert leg.hung_up_on and QUESTION not in leg.text
        assert surveys(line) == []

    def test_a_resident_who_hung_up_first_is_not_asked(self, line: TwilioRig) -> None:
        callback = Callback(line)
        callback.talk()
        leg = callback.conference_over(resident_stayed=False)
        assert leg.hung_up_on and surveys(line) == []


class TestRetries:
    def test_a_retried_answer_is_stored_once_and_the_first_stands(self, line: TwilioRig) -> None:
        callback = Callback(line)
        callback.talk()
        leg = callback.conference_over()
        action = leg.gather().attrib["action"]
        standard = {**line.fake._standard(leg.call), "CallStatus": "in-progress"}
        first = line.webhooks.post_now(action, {**standard, "Digits": "7"})
        again = line.webhooks.post_now(action, {**standard, "Digits": "7"})
        other = line.webhooks.post_now(action, {**standard, "Digits": "3"})
        assert first.status_code == again.status_code == other.status_code == 200
        assert first.text == again.text == other.text
        assert [row["score"] for row in surveys(line)] == [7]

    def test_a_retried_dial_action_asks_once(self, line: TwilioRig) -> None:
        callback = Callback(line)
        callback.talk()
        first = callback.conference_over()
        again = callback.conference_over()
        assert first.asked and again.asked and QUESTION in again.text
        assert len(surveys(line)) == 1


class TestSurveyOff:
    @pytest.fixture
    def twilio_config(self, config: HotlineConfig) -> HotlineConfig:
        return with_twilio(config)  # the example line: the question off

    def test_the_call_ends_with_the_talk(self, line: TwilioRig) -> None:
        callback = Callback(line)
        callback.talk()
        assert callback.conference_over().hung_up_on
        assert surveys(line) == []
