"""The advisor's desk: state buttons, the work in hand, the outcome, today's work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.engine.vocabulary import EventKind
from callflow.store.advisors import set_advisor_state, take_advisor
from callflow.store.attempts import mark_dialled
from callflow.store.claims import claim_next_callback
from callflow.store.models import (
    Advisor,
    AdvisorState,
    Call,
    CallbackAttempt,
    CallbackRequest,
    CallEvent,
)
from callflow.store.session import Database
from callflow.web.app import create_app
from tests.store.helpers import T0, add_callback
from tests.web.pages.browsing import Visitor, person

pytestmark = pytest.mark.slow_on_postgresql

NUMBER = "+358401234567"


@pytest.fixture
def app(config: HotlineConfig, database: Database, clock: FakeClock) -> FastAPI:
    return create_app(config, database, clock=clock)


def signed_in(app: FastAPI, database: Database, name: str) -> tuple[int, Visitor]:
    advisor_id = person(database, name, skills=("nurse",), languages=("fi",))
    visitor = Visitor(app)
    assert visitor.sign_in(name).status_code == 303
    return advisor_id, visitor


def assigned(database: Database, advisor_id: int, *, dialled: bool = True) -> int:
    with database.transaction() as session:
        callback_id = add_callback(session, NUMBER)
        claimed = claim_next_callback(
            session, advisor_id, T0, owner="worker", lease=timedelta(minutes=2)
        )
        assert claimed is not None
        if dialled:
            mark_dialled(session, callback_id, claimed.attempt_no, T0, owner="worker")
    return callback_id


def state_shown(visitor: Visitor) -> str:
    page = visitor.get("/desk").text
    return page.split('id="desk-state-now"')[1].split("</p>")[0]


def test_available_break_with_a_reason_and_off_the_line_are_one_click_each(
    app: FastAPI, database: Database
) -> None:
    _, visitor = signed_in(app, database, "aino")
    assert "Signed out of the line" in state_shown(visitor)
    assert visitor.submit("/desk", "/desk/state", {"state": "available"}).status_code == 303
    assert "Free" in state_shown(visitor)
    visitor.submit("/desk", "/desk/state", {"state": "break", "reason": "lunch"})
    assert "On a break" in state_shown(visitor) and "Lunch" in state_shown(visitor)
    visitor.submit("/desk", "/desk/state", {"state": "offline"})
    assert "Signed out of the line" in state_shown(visitor)


def test_the_assigned_advisor_sees_the_callback_with_its_number_and_nobody_else_does(
    app: FastAPI, database: Database, clock: FakeClock
) -> None:
    aino, aino_browser = signed_in(app, database, "aino")
    _, bert_browser = signed_in(app, database, "bert")
    for browser in (aino_browser, bert_browser):
        browser.submit("/desk", "/desk/state", {"state": "available"})
    assigned(database, aino, dialled=False)
    clock.advance(timedelta(minutes=3))
    aino_desk = aino_browser.get("/desk").text
    assert NUMBER in aino_desk and "Ringing" in aino_desk
    assert "Health" in aino_desk or "health" in aino_desk.lower()
    bert_desk = bert_browser.get("/desk").text
    assert NUMBER not in bert_desk and "567" not in bert_desk.split("resident-number")[0][-50:]
    assert "Nothing assigned" in bert_desk


def test_recording_a_reached_outcome_codes_it_masks_the_note_and_wraps_up(
    app: FastAPI, database: Database
) -> None:
    aino, visitor = signed_in(app, database, "aino")
    visitor.submit("/desk", "/desk/state", {"state": "available"})
    callback_id = assigned(database, aino)
    answer = visitor.submit(
        "/desk",
        "/desk/outcome",
        {
            "callback_id": str(callback_id),
            "result": "reached",
            "reason": "health",
            "referral": "own_services",
            "resolution": "no_service_need",
            "note": "asked to call +358 40 765 4321 later",
        },
    )
    assert answer.status_code == 303
    with database.reading() as session:
        request = session.get(CallbackRequest, callback_id)
        attempt = session.scalars(select(CallbackAttempt)).one()
    assert request is not None and request.status.value == "completed"
    assert attempt.resolution is not None and attempt.resolution.value == "no_service_need"
    assert attempt.note is not None and "765 4321" not in attempt.note and "321" in attempt.note
    desk = visitor.get("/desk").text
    assert "Wrap-up" in desk and "Ready for the next" in desk
    assert "Reached" in desk.split('id="desk-today"')[1]


def test_a_reached_outcome_without_its_coding_is_refused_on_the_desk(
    app: FastAPI, database: Database
) -> None:
    aino, visitor = signed_in(app, database, "aino")
    visitor.submit("/desk", "/desk/state", {"state": "available"})
    callback_id = assigned(database, aino)
    answer = visitor.submit(
        "/desk", "/desk/outcome", {"callback_id": str(callback_id), "result": "reached"}
    )
    assert answer.status_code == 409
    assert "reason for contact" in answer.text
    with database.reading() as session:
        request = session.get(CallbackRequest, callback_id)
    assert request is not None and request.status.value == "in_progress"


def test_a_break_while_holding_a_callback_is_refused_with_the_reason(
    app: FastAPI, database: Database
) -> None:
    aino, visitor = signed_in(app, database, "aino")
    visitor.submit("/desk", "/desk/state", {"state": "available"})
    assigned(database, aino)
    answer = visitor.submit("/desk", "/desk/state", {"state": "break", "reason": "pause"})
    assert answer.status_code == 409
    assert "record its outcome" in answer.text


def test_a_queued_caller_put_through_shows_topic_language_wait_and_whisper(
    app: FastAPI, database: Database, clock: FakeClock
) -> None:
    aino, visitor = signed_in(app, database, "aino")
    call_id = "call-waiting-4-min"
    with database.transaction() as session:
        set_advisor_state(session, aino, AdvisorState.AVAILABLE, T0)
        advisor = session.get(Advisor, aino)
        assert advisor is not None
        advisor.dial_string = "PJSIP/aino"
        session.add(
            Call(
                id=call_id,
                provider="sim",
                started_at=T0,
                language="fi",
                topic="health",
                queue_entered_at=T0,
                updated_at=T0,
            )
        )
    clock.advance(timedelta(minutes=4))
    with database.transaction() as session:
        assert take_advisor(session, aino, call_id, clock.now()) is not None
    desk = visitor.get("/desk").text
    assert "Caller from the queue" in desk
    assert "4 min" in desk or "240 s" in desk
    assert "call-coding-form" in desk
    with database.transaction() as session:
        session.add(
            CallEvent(
                at=clock.now(),
                kind=EventKind.ANSWERED,
                call_id=call_id,
                topic="health",
                language="fi",
                data={"advisor_id": str(aino), "wait_s": 240.0},
            )
        )
    today = visitor.get("/desk").text.split('id="desk-today"')[1]
    assert "Not coded yet" in today
    coded = visitor.submit(
        "/desk",
        "/desk/call-coding",
        {
            "call_id": call_id,
            "reason": "health",
            "referral": "none",
            "resolution": "simple_need",
            "note": "",
        },
    )
    assert coded.status_code == 303
    desk = visitor.get("/desk").text
    assert "Simple need" in desk.split('id="desk-today"')[1]
    assert "call-coding-form" not in desk


def test_past_the_wrap_up_the_desk_says_free_as_the_line_treats_them(
    app: FastAPI, database: Database, clock: FakeClock, config: HotlineConfig
) -> None:
    aino, visitor = signed_in(app, database, "aino")
    visitor.submit("/desk", "/desk/state", {"state": "available"})
    callback_id = assigned(database, aino)
    visitor.submit(
        "/desk", "/desk/outcome", {"callback_id": str(callback_id), "result": "no_answer"}
    )
    assert "Wrap-up" in state_shown(visitor)
    clock.advance(config.dispatch.wrap_up)
    assert "Free" in state_shown(visitor)


def test_a_malformed_callback_id_is_refused_on_the_desk(app: FastAPI, database: Database) -> None:
    _, visitor = signed_in(app, database, "aino")
    for callback_id in ("abc", "9" * 30, "-1"):
        answer = visitor.submit(
            "/desk", "/desk/outcome", {"callback_id": callback_id, "result": "no_answer"}
        )
        assert answer.status_code == 409, callback_id


def test_a_note_with_a_nul_is_refused_and_nothing_is_recorded(
    app: FastAPI, database: Database
) -> None:
    aino, visitor = signed_in(app, database, "aino")
    visitor.submit("/desk", "/desk/state", {"state": "available"})
    callback_id = assigned(database, aino)
    answer = visitor.submit(
        "/desk",
        "/desk/outcome",
        {"callback_id": str(callback_id), "result": "no_answer", "note": "a\x00b"},
    )
    assert answer.status_code == 422
    with database.reading() as session:
        request = session.get(CallbackRequest, callback_id)
    assert request is not None and request.status.value == "in_progress"


def test_a_page_address_that_cannot_be_is_a_page_saying_so(
    app: FastAPI, database: Database
) -> None:
    person(database, "pirjo", admin=True, supervisor=True)
    visitor = Visitor(app)
    visitor.sign_in("pirjo")
    for address in ("/admin/people/abc", "/admin/people/99999999999", "/board?view=weird"):
        answer = visitor.get(address)
        assert answer.status_code == 404, address
        assert answer.headers["content-type"].startswith("text/html")
        assert "No page has this address" in answer.text
    api = visitor.get("/admin/advisors/abc")
    assert api.headers["content-type"].startswith("application/json")


def test_signing_in_again_after_a_form_returns_to_a_page(app: FastAPI, database: Database) -> None:
    person(database, "aino")
    visitor = Visitor(app)
    refused = visitor.post("/desk/state", data={"state": "available"})
    assert refused.status_code == 303
    assert refused.headers["location"] == "/sign-in?next=/"
