"""The console phone: the real engine and store, a simulated line, a virtual clock."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import CallbackStatus
from callflow.providers.sim.console import ConsolePhone, Keys, PhoneResult, scripted_keys
from callflow.store.models import CallbackRequest, CallEvent
from callflow.store.session import Database
from tests.engine.conftest import with_settings

HELSINKI = ZoneInfo("Europe/Helsinki")
MONDAY_10 = datetime(2026, 1, 12, 10, tzinfo=HELSINKI)
MOBILE = "+358401234567"


def ring(
    config: HotlineConfig,
    database: Database,
    keys: list[str] | Keys,
    *,
    at: datetime = MONDAY_10,
    caller: str | None = MOBILE,
    busy: int = 0,
    patience: timedelta = timedelta(minutes=20),
) -> tuple[PhoneResult, str]:
    out = io.StringIO()
    result = ConsolePhone(
        config,
        database,
        start_at=at.astimezone(UTC),
        caller_e164=caller,
        withheld=caller is None,
        busy=busy,
        keys=scripted_keys(keys) if isinstance(keys, list) else keys,
        out=out,
        patience=patience,
    ).run()
    return result, out.getvalue()


def requests(database: Database) -> list[CallbackRequest]:
    with database.transaction() as session:
        return list(session.scalars(select(CallbackRequest).order_by(CallbackRequest.id)))


def test_busy_line_health_callback_on_the_callers_number(
    config: HotlineConfig, database: Database
) -> None:
    """The issue's example: Finnish, health, yes to the offer, yes to the read-back."""
    result, transcript = ring(config, database, ["1", "1", "1", "1"], busy=5)
    assert result.outcome == "callback_requested"
    (request,) = requests(database)
    assert (request.number_e164, request.topic, request.language) == (MOBILE, "health", "fi")
    assert request.status is CallbackStatus.PENDING
    assert result.callback is not None
    assert result.callback["id"] == request.id and result.callback["number"] == "+*********567"
    assert "[10:00:20] line: Olet jonossa sijalla 1." in transcript
    assert "soitamme sinulle tänään kello 10.30 mennessä, paina 1." in transcript
    assert "Soitamme numeroon *** *** *567." in transcript  # the transcript masks numbers too
    assert "0401234567" not in transcript and "040 123 4567" not in transcript
    assert result.as_json()["call_id"] == result.call_id


def test_free_advisor_answers_at_once(config: HotlineConfig, database: Database) -> None:
    result, transcript = ring(config, database, ["1", "1"])
    assert result.outcome == "answered" and result.callback is None
    assert "(nurse-1 answers)" in transcript
    assert "Olet jonossa" not in transcript
    assert requests(database) == []


def test_declining_means_waiting_until_a_nurse_is_free(
    config: HotlineConfig, database: Database
) -> None:
    result, transcript = ring(config, database, ["1", "1", "2"], busy=5)
    assert result.outcome == "answered"
    assert "[10:01:24] line: (nurse-1 answers)" in transcript


def test_withheld_caller_enters_a_number(config: HotlineConfig, database: Database) -> None:
    result, transcript = ring(
        config, database, ["3", "3", "1", "0912345678#", "1"], caller=None, busy=5
    )
    assert result.outcome == "callback_requested"
    assert "Please key in the phone number" in transcript
    assert "We will call ** *** **6 78." in transcript
    (request,) = requests(database)
    assert (request.number_e164, request.topic, request.language) == (
        "+358912345678",
        "other",
        "en",
    )


def test_evening_call_books_a_callback_for_the_morning(
    config: HotlineConfig, database: Database
) -> None:
    evening = datetime(2026, 1, 12, 18, tzinfo=HELSINKI)
    result, transcript = ring(config, database, ["2", "2", "1", "1"], at=evening)
    assert result.outcome == "callback_requested"
    assert "Vi öppnar nästa gång i morgon klockan 9.00." in transcript
    (request,) = requests(database)
    assert request.not_before == datetime(2026, 1, 13, 9, tzinfo=HELSINKI)
    assert request.due_at == datetime(2026, 1, 13, 15, tzinfo=HELSINKI)


def test_an_impatient_caller_abandons(config: HotlineConfig, database: Database) -> None:
    result, transcript = ring(
        config, database, ["1", "1", "2"], busy=5, patience=timedelta(seconds=30)
    )
    assert result.outcome == "abandoned_queue"
    assert "(hang up: waited long enough)" in transcript
    with database.transaction() as session:
        kinds = [e.value for e in session.scalars(select(CallEvent.kind).order_by(CallEvent.id))]
    assert kinds[-2:] == ["call.abandoned", "call.ended"]


def test_calling_again_about_an_open_request(config: HotlineConfig, database: Database) -> None:
    ring(config, database, ["1", "1", "1", "1"], busy=5)
    later = MONDAY_10 + timedelta(minutes=10)
    result, transcript = ring(config, database, ["1"], at=later)
    assert "Sinulla on jo soittopyyntö" in transcript
    assert result.outcome == "callback_kept"
    assert result.callback is not None and result.callback["status"] == "pending"
    assert len(requests(database)) == 1


def test_hanging_up_from_the_keyboard(config: HotlineConfig, database: Database) -> None:
    result, transcript = ring(config, database, lambda: None)
    assert result.outcome == "abandoned_ivr"
    assert "(hang up)" in transcript


def call_events(database: Database) -> list[str]:
    with database.transaction() as session:
        return [e.value for e in session.scalars(select(CallEvent.kind).order_by(CallEvent.id))]


def test_several_keys_in_one_answer_are_pressed_one_after_another(
    config: HotlineConfig, database: Database
) -> None:
    """ "1111" (``--digits 1111``) is four key presses, 0.4 s apart, typed ahead of the
    prompts: the same callback as four answers of one key, and the call ends."""
    result, transcript = ring(config, database, ["1111"], busy=5)
    assert result.outcome == "callback_requested"
    (request,) = requests(database)
    assert (request.number_e164, request.topic, request.language) == (MOBILE, "health", "fi")
    assert "[10:00:07]  you: press 1111" in transcript
    assert "(hangs up: callback_requested)" in transcript
    assert call_events(database)[-1] == "call.ended"


def test_a_call_stopped_midway_is_ended_not_left_open(
    config: HotlineConfig, database: Database
) -> None:
    """If the phone stops under the call (here the key source fails), the caller hangs up
    before the error goes on: the call's log ends as every call's does."""
    answers = iter(["1"])

    def keys() -> str | None:
        answer = next(answers, None)
        if answer is None:
            raise RuntimeError("the terminal went away")
        return answer

    with pytest.raises(RuntimeError, match="the terminal went away"):
        ring(config, database, keys)
    assert call_events(database)[-2:] == ["call.abandoned", "call.ended"]


SURVEY_ON = with_settings({"survey.enabled": True, "survey.share": 1.0})


def hangs_up_after(items: list[str]) -> Keys:
    """Keys from *items*, then a hang-up."""
    pending = iter(items)
    return lambda: next(pending, None)


@pytest.mark.parametrize(("keys", "score"), [(["1", "1", "10"], 10), (["1", "1", "7"], 7)])
def test_the_recommendation_question_is_answered_with_keys(
    database: Database, keys: list[str], score: int
) -> None:
    result, transcript = ring(SURVEY_ON, database, keys)
    assert result.outcome == "answered"
    assert result.survey == {"score": score}
    assert result.as_json()["survey"] == {"score": score}
    assert "Kuinka todennäköisesti suosittelisit palvelua ystävällesi?" in transcript
    assert f"press {keys[-1]}" in transcript
    assert "Kiitos vastauksestasi." in transcript


def test_hanging_up_at_the_question_leaves_it_unanswered(database: Database) -> None:
    result, transcript = ring(SURVEY_ON, database, hangs_up_after(["1", "1"]))
    assert result.outcome == "answered" and result.survey == {"score": None}
    assert "Kiitos vastauksestasi." not in transcript


def test_without_the_survey_nothing_is_asked(config: HotlineConfig, database: Database) -> None:
    result, transcript = ring(config, database, ["1", "1"])
    assert result.survey is None and "suosittelisit" not in transcript
