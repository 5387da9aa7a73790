"""The contact page without a browser: a request sent, and every refusal a clear page
that stores nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.store.advisors import set_advisor_state
from callflow.store.claims import claim_next_callback
from callflow.store.models import AdvisorState
from callflow.store.session import Database
from callflow.web.app import create_app
from callflow.web.pages.text import TEXT
from tests.engine.conftest import with_settings
from tests.web.conftest import LEASE, Api, snapshot
from tests.web.pages.browsing import Visitor, person

SV = TEXT["sv"]
EN = TEXT["en"]
FORM = {
    "language": "sv",
    "topic": "health",
    "number": "040 123 4567",
    "description": "Ont i halsen <b>sedan</b> i går.",
    "consent": "yes",
}


def opened(app: FastAPI, lang: str = "sv") -> tuple[Api, str]:
    """A visitor's browser with the form open: its cookies, and the form's token."""
    visitor = Api(app)
    answer = visitor.get(f"/contact?lang={lang}")
    assert answer.status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', answer.text)
    assert token is not None
    return visitor, token[1]


def send(app: FastAPI, **changes: Any) -> Any:
    visitor, token = opened(app)
    return visitor.post("/contact?lang=sv", data={"csrf": token, **FORM, **changes})


def stored(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    rows = snapshot(database)
    return {name: rows[name] for name in ("callback_requests", "call_events")}


NOTHING: dict[str, list[tuple[Any, ...]]] = {"callback_requests": [], "call_events": []}


@pytest.fixture
def app(config: HotlineConfig, database: Database, clock: FakeClock) -> FastAPI:
    return create_app(config, database, clock=clock)


def with_web_requests(config: HotlineConfig, **changes: Any) -> HotlineConfig:
    settings = config.web_requests.model_copy(update=changes)
    return config.model_copy(update={"web_requests": settings})


def test_the_page_asks_in_swedish_and_says_the_answer_is_a_call(
    app: FastAPI, config: HotlineConfig
) -> None:
    answer = Api(app).get("/contact?lang=sv")

    assert answer.status_code == 200
    assert '<html lang="sv">' in answer.text
    assert SV["contact_intro"] in answer.text
    assert config.web_requests.consent["sv"] in answer.text
    assert "Hälsofrågor" in answer.text and "Frågor om socialservice" in answer.text
    assert 'name="website"' in answer.text  # the trap, there for scripts to fill


def test_a_request_is_confirmed_with_the_time_the_phone_would_say(
    app: FastAPI, database: Database
) -> None:
    answer = send(app)

    assert answer.status_code == 200
    # Monday 10.00, nobody ahead: "i dag före klockan 10.00", as the phone's offer says.
    assert SV["contact_sent"].format(when="i dag före klockan 10.00") in answer.text
    [request] = stored(database)["callback_requests"]
    assert "Ont i halsen <b>sedan</b> i går." in request


def test_a_request_in_the_evening_is_promised_for_the_next_morning(
    app: FastAPI, clock: FakeClock
) -> None:
    clock.advance(timedelta(hours=13))  # Monday 23.00

    answer = send(app, language="en", topic="social")

    # Social's promise is the next working day; it is said as the phone says it.
    assert "We will call you back tomorrow" in answer.text


def test_a_second_request_for_the_number_is_refused_with_its_time(
    app: FastAPI, database: Database
) -> None:
    send(app)
    before = stored(database)

    answer = send(app, topic="social", description="Another matter")

    assert answer.status_code == 409
    assert "i dag före klockan 10.00" in answer.text and "+358291234500" in answer.text
    assert 'value="040 123 4567"' in answer.text  # the form kept filled
    assert stored(database) == before


def test_a_wrong_field_is_named_beside_it_and_in_the_summary(
    app: FastAPI, database: Database
) -> None:
    answer = send(app, number="040 12", consent="")

    assert answer.status_code == 422
    assert 'id="error-summary"' in answer.text
    assert SV["contact_number_invalid"] in answer.text
    assert 'aria-describedby="number-hint number-error"' in answer.text
    assert 'aria-describedby="consent-hint consent-error"' in answer.text
    assert 'value="040 12"' in answer.text
    assert stored(database) == NOTHING


def test_a_description_of_1000_characters_with_line_breaks_is_taken(
    app: FastAPI, database: Database
) -> None:
    text = ("a" * 99 + "\r\n") * 10  # 1000 characters as the browser counts them

    assert send(app, description=text).status_code == 200
    assert send(app, number="040 765 4321", description=text + "b").status_code == 422


def test_a_form_without_its_token_is_refused(app: FastAPI, database: Database) -> None:
    visitor, _token = opened(app)

    answer = visitor.post("/contact?lang=sv", data={"csrf": "forged", **FORM})

    assert answer.status_code == 403
    assert SV["contact_csrf"] in answer.text
    assert stored(database) == NOTHING


def test_a_form_a_script_filled_is_refused(app: FastAPI, database: Database) -> None:
    answer = send(app, website="http://spam.example")

    assert answer.status_code == 400
    assert SV["contact_bot"] in answer.text
    assert stored(database) == NOTHING


def test_a_body_past_the_limit_is_refused_unread(app: FastAPI, database: Database) -> None:
    answer = send(app, description="x" * 9000)

    assert answer.status_code == 413
    assert SV["contact_too_large"] in answer.text
    assert stored(database) == NOTHING


def test_the_eleventh_request_from_an_address_in_an_hour_is_refused(
    app: FastAPI, database: Database
) -> None:
    for n in range(10):
        assert send(app, number=f"040 123 45{n:02d}").status_code == 200
    before = stored(database)

    answer = send(app, number="040 123 4599")

    assert answer.status_code == 429
    assert SV["contact_too_many_from_address"].format(number="+358291234500") in answer.text
    assert stored(database) == before


def test_requests_switched_off_are_not_taken(
    config: HotlineConfig, database: Database, clock: FakeClock
) -> None:
    app = create_app(with_web_requests(config, enabled=False), database, clock=clock)

    page = Api(app).get("/contact?lang=en")
    visitor = Api(app)  # a form kept open from before they were switched off
    visitor.cookies.set("callflow_contact", "kept-token", domain="web.test", path="/contact")
    answer = visitor.post("/contact?lang=en", data={"csrf": "kept-token", **FORM})

    assert page.status_code == 404 and EN["contact_closed"].split(" at ")[0] in page.text
    assert "<form" not in page.text.split("</header>")[1]
    assert answer.status_code == 404  # answered in the form's language, Swedish
    assert SV["contact_closed"].split(" på ")[0] in answer.text
    assert stored(database) == NOTHING


def test_a_token_no_browser_would_send_is_refused_as_any_wrong_token(app: FastAPI) -> None:
    """Anyone may post anything: a token that is not ASCII is a wrong token, not a fault."""
    visitor, _ = opened(app)

    answer = visitor.post("/contact?lang=sv", data={"csrf": "äöå", **FORM})

    assert answer.status_code == 403
    assert SV["contact_csrf"] in answer.text


def test_a_queue_that_calls_back_only_when_open_takes_no_request_at_night(
    database: Database, clock: FakeClock
) -> None:
    """The phone offers no callback for such a queue while the line is closed, and the
    page takes none either: the resident is told to call when the line is open."""
    daytime_only = with_settings({"queues.health.callbacks.when_closed": False})
    app = create_app(daytime_only, database, clock=clock)
    clock.set(clock.now().replace(hour=21))  # 23:00 in Helsinki

    answer = send(app)

    assert answer.status_code == 409
    assert SV["contact_not_now"].format(number="+358291234500") in answer.text
    assert stored(database) == NOTHING


def test_a_promise_no_callback_can_keep_is_said_and_nothing_stored(
    config: HotlineConfig, database: Database, clock: FakeClock
) -> None:
    app = create_app(config.model_copy(update={"staffing": []}), database, clock=clock)

    answer = send(app)

    assert answer.status_code == 409
    assert SV["contact_promise"].format(number="+358291234500") in answer.text
    assert stored(database) == NOTHING


def test_the_advisor_who_holds_it_reads_the_description_and_that_it_came_from_the_web(
    app: FastAPI, database: Database, clock: FakeClock
) -> None:
    send(app, description="Ont i halsen <b>sedan</b> i går, ring 040 765 4321.")
    advisor = person(database, "bert", skills=("nurse",), languages=("sv",))
    person(database, "pirjo", admin=True)
    with database.transaction() as session:
        set_advisor_state(session, advisor, AdvisorState.AVAILABLE, clock.now())
        claimed = claim_next_callback(session, advisor, clock.now(), owner="w", lease=LEASE)
    assert claimed is not None
    bert, pirjo = Visitor(app), Visitor(app)
    bert.sign_in("bert")
    pirjo.sign_in("pirjo")

    desk = bert.get("/desk").text
    request = pirjo.get(f"/admin/callback-requests/{claimed.callback_id}").text

    assert EN["contact_from_web"] in desk
    # Escaped, never markup; whole for the advisor who calls, numbers masked for the admin.
    assert "Ont i halsen &lt;b&gt;sedan&lt;/b&gt; i går, ring 040 765 4321." in desk
    assert EN["admin_channel_web"] in request
    assert "&lt;b&gt;sedan&lt;/b&gt;" in request and "040 765 4321" not in request
