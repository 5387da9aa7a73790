"""The admin pages as an admin uses them: advisors added (with a password link that
works), changed, given new links and tokens, disabled; callback requests filtered, read
(numbers masked) and cancelled. Only admins get in, and no form works without its CSRF
token."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.engine.vocabulary import CallbackStatus
from callflow.store.advisors import advisor_view, list_advisors
from callflow.store.base import Base
from callflow.store.models import AdvisorState, CallbackRequest
from callflow.store.session import Database
from callflow.values.numbers import mask_digits
from callflow.web.app import create_app
from callflow.web.pages.text import TEXT
from tests.store.helpers import T0, add_callback, number
from tests.web.conftest import Api, assign, enrol, snapshot
from tests.web.pages.browsing import PASSWORD, Visitor, csrf_of, person

pytestmark = pytest.mark.slow_on_postgresql

EN = TEXT["en"]
Fields = Mapping[str, str | list[str]]
NEW_NURSE: Fields = {"name": "Eeva", "skills": ["nurse"], "languages": ["fi", "sv"]}


@pytest.fixture
def app(config: HotlineConfig, database: Database, clock: FakeClock) -> FastAPI:
    return create_app(config, database, clock=clock)


@pytest.fixture
def aino(app: FastAPI, database: Database) -> Visitor:
    """Admin Aino, signed in, reading English."""
    person(database, "Aino", admin=True)
    return signed_in(app, "Aino")


@pytest.fixture
def bea(database: Database) -> int:
    """Nurse Bea, who may sign in; her id."""
    return person(database, "Bea")


def signed_in(app: FastAPI, name: str, password: str = PASSWORD) -> Visitor:
    visitor = Visitor(app)
    assert visitor.sign_in(name, password).status_code == 303
    chosen = send(visitor, "/", "/language", {"locale": "en", "next": "/"})
    assert chosen.status_code == 303
    return visitor


def send(visitor: Visitor, page_url: str, action: str, fields: Fields) -> httpx.Response:
    """Post *fields* to *action* with the CSRF token the page at *page_url* carries."""
    page = visitor.get(page_url, follow_redirects=True)
    return visitor.post(action, data={"csrf": csrf_of(page), **fields})


def shown(answer: httpx.Response, element_id: str) -> str:
    """The text of the element with *element_id*, as a person reads it."""
    found = re.search(rf'id="{element_id}">([^<]*)<', answer.text)
    assert found is not None, f"no #{element_id} on the page"
    return unescape(found.group(1))


def text_of(answer: httpx.Response) -> str:
    return unescape(answer.text)


def everything(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a form could change, password links included."""
    with database.reading() as session:
        links = sorted(
            tuple(row) for row in session.execute(select(Base.metadata.tables["password_links"]))
        )
    return {**snapshot(database), "password_links": links}


# -- advisors -----------------------------------------------------------------------------


def test_an_added_advisor_sets_a_password_through_the_link_and_signs_in(
    app: FastAPI, database: Database, aino: Visitor
) -> None:
    added = send(aino, "/admin", "/admin/people", {**NEW_NURSE, "supervisor": "yes"})

    assert added.status_code == 201
    assert EN["admin_added"].format(name="Eeva") in text_of(added)
    assert "Shown only now" in text_of(added)
    link, token = shown(added, "password-link"), shown(added, "api-token")
    assert link.startswith("http://web.test/password/")  # where the admin's browser came
    with database.reading() as session:
        (eeva,) = [a for a in list_advisors(session) if a.name == "Eeva"]
    assert (eeva.skills, eeva.languages, eeva.supervisor, eeva.admin) == (
        ("nurse",),
        ("fi", "sv"),
        True,
        False,
    )
    assert (
        Api(app).get("/advisor/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )

    again = aino.get("/admin")
    assert token not in again.text and urlsplit(link).path not in again.text  # shown once

    newcomer = Visitor(app)
    path = urlsplit(link).path
    assert send(newcomer, path, path, {"password": "a fresh long secret"}).status_code == 303
    assert newcomer.sign_in("Eeva", "a fresh long secret").status_code == 303
    assert newcomer.get("/board").status_code == 200  # a supervisor sees the board


def test_a_taken_name_or_an_unknown_skill_is_said_in_the_apis_words_with_the_form_kept(
    database: Database, aino: Visitor
) -> None:
    before = everything(database)

    taken = send(aino, "/admin", "/admin/people", {**NEW_NURSE, "name": "Aino"})
    unknown = send(aino, "/admin", "/admin/people", {**NEW_NURSE, "skills": ["doctor"]})
    lacking = send(aino, "/admin", "/admin/people", {"name": " ", "dial_string": "PJSIP/9"})

    assert taken.status_code == 409
    assert "there is already an advisor named 'Aino'" in text_of(taken)
    assert 'value="Aino"' in taken.text
    assert re.search(r'value="sv" checked', taken.text)
    assert unknown.status_code == 422
    assert "skills: 'doctor' is not a skill on this line; use one of:" in text_of(unknown)
    assert 'value="Eeva"' in unknown.text
    assert lacking.status_code == 422
    for key in ("admin_name_needed", "admin_skill_needed", "admin_language_needed"):
        assert EN[key].format(n=100) in text_of(lacking)
    assert 'value="PJSIP/9"' in lacking.text
    assert everything(database) == before


def test_skills_roles_and_state_change_and_the_page_shows_them(
    database: Database, aino: Visitor, bea: int
) -> None:
    page = f"/admin/people/{bea}"
    changed = send(
        aino, page, f"{page}/skills",
        {"skills": ["nurse", "social_counsellor"], "languages": ["sv"], "supervisor": "yes"},
    )  # fmt: skip
    assert (changed.status_code, changed.headers["location"]) == (303, f"{page}?done=saved")
    assert EN["admin_done_saved"] in aino.get(changed.headers["location"]).text

    on_break = send(aino, page, f"{page}/state", {"state": "break", "reason": "lunch"})
    assert on_break.status_code == 303

    with database.reading() as session:
        view = advisor_view(session, bea)
    assert (view.skills, view.languages, view.supervisor, view.admin) == (
        ("nurse", "social_counsellor"),
        ("sv",),
        True,
        False,
    )
    assert (view.state, view.break_reason) == (AdvisorState.BREAK, "lunch")
    listed = aino.get("/admin").text
    assert f"{EN['admin_state_break']} ({EN['reason_lunch']})" in listed


def test_a_bad_state_or_an_empty_skill_list_is_refused_on_the_page(
    database: Database, aino: Visitor, bea: int
) -> None:
    page = f"/admin/people/{bea}"
    before = everything(database)

    bad_state = send(aino, page, f"{page}/state", {"state": "busy"})
    no_skills = send(aino, page, f"{page}/skills", {"languages": ["fi"]})

    assert bad_state.status_code == 422
    assert "state: 'busy' is not a state to set" in text_of(bad_state)
    assert no_skills.status_code == 422 and EN["admin_skill_needed"] in text_of(no_skills)
    assert everything(database) == before


def test_a_new_password_link_and_a_new_token_replace_the_earlier_ones(
    app: FastAPI, database: Database, aino: Visitor
) -> None:
    added = send(aino, "/admin", "/admin/people", dict(NEW_NURSE))
    first_link, first_token = shown(added, "password-link"), shown(added, "api-token")
    with database.reading() as session:
        (eeva,) = [a.id for a in list_advisors(session) if a.name == "Eeva"]
    page = f"/admin/people/{eeva}"

    new_link = send(aino, page, f"{page}/password-link", {})
    new_token = send(aino, page, f"{page}/token", {})

    assert new_link.status_code == new_token.status_code == 200
    link, token = shown(new_link, "password-link"), shown(new_token, "api-token")
    assert Visitor(app).get(urlsplit(first_link).path).status_code == 404
    assert Visitor(app).get(urlsplit(link).path).status_code == 200
    api = Api(app)
    assert (
        api.get("/advisor/me", headers={"Authorization": f"Bearer {first_token}"}).status_code
        == 401
    )
    assert api.get("/advisor/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_disabling_asks_for_the_tick_then_ends_the_advisors_session_at_once(
    app: FastAPI, database: Database, aino: Visitor, bea: int
) -> None:
    her = signed_in(app, "Bea")
    assert her.get("/desk").status_code == 200
    page = f"/admin/people/{bea}"

    unticked = send(aino, page, f"{page}/disable", {})
    assert unticked.status_code == 422
    assert EN["admin_disable_unconfirmed"] in text_of(unticked)
    assert her.get("/desk").status_code == 200

    ticked = send(aino, page, f"{page}/disable", {"confirm": "yes"})
    assert (ticked.status_code, ticked.headers["location"]) == (303, f"{page}?done=disabled")
    after = aino.get(ticked.headers["location"])
    assert EN["admin_done_disabled"] in text_of(after)
    assert EN["admin_is_disabled"].format(name="Bea") in text_of(after)

    refused = her.get("/desk")
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/sign-in?next=/desk")
    no_link = send(aino, page, f"{page}/password-link", {})
    assert no_link.status_code == 409 and "is disabled" in text_of(no_link)


def test_an_unknown_advisor_or_request_is_a_page_saying_so(aino: Visitor) -> None:
    advisor = aino.get("/admin/people/999")
    request = aino.get("/admin/callback-requests/999")
    assert advisor.status_code == request.status_code == 404
    assert "no advisor '999'" in text_of(advisor)
    assert "no callback request 999" in text_of(request)
    assert "text/html" in advisor.headers["content-type"]


# -- who may ------------------------------------------------------------------------------

PAGES = [
    "/admin",
    "/admin/people/{bea}",
    "/admin/callback-requests",
    "/admin/callback-requests/{cb}",
]
FORMS: list[tuple[str, Fields]] = [
    ("/admin/people", NEW_NURSE),
    ("/admin/people/{bea}/skills", {"skills": ["social_counsellor"], "languages": ["sv"]}),
    ("/admin/people/{bea}/state", {"state": "break"}),
    ("/admin/people/{bea}/password-link", {}),
    ("/admin/people/{bea}/token", {}),
    ("/admin/people/{bea}/disable", {"confirm": "yes"}),
    ("/admin/callback-requests/{cb}/cancel", {"reason": "duplicate"}),
]


@pytest.fixture
def cb(database: Database) -> int:
    with database.transaction() as session:
        return add_callback(session, number(1))


@pytest.mark.parametrize("path", PAGES)
def test_an_advisor_is_refused_and_a_visitor_sent_to_sign_in(
    app: FastAPI, bea: int, cb: int, path: str
) -> None:
    url = path.format(bea=bea, cb=cb)
    refused = signed_in(app, "Bea").get(url)
    anonymous = Visitor(app).get(url)
    assert refused.status_code == 403 and EN["forbidden"] in text_of(refused)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/sign-in?next={url}"


@pytest.mark.parametrize(("path", "fields"), FORMS)
def test_a_form_without_its_csrf_token_or_from_an_advisor_changes_nothing(
    app: FastAPI, database: Database, aino: Visitor, bea: int, cb: int, path: str, fields: Fields
) -> None:
    url = path.format(bea=bea, cb=cb)
    her = signed_in(app, "Bea")
    before = everything(database)

    without = aino.post(url, data=dict(fields))
    forged = aino.post(url, data={**fields, "csrf": "not-the-token"})
    from_advisor = send(her, "/desk", url, fields)

    assert without.status_code == forged.status_code == 403
    assert EN["csrf"] in text_of(without)
    assert from_advisor.status_code == 403
    assert everything(database) == before


# -- callback requests ------------------------------------------------------------------


def test_the_list_filters_by_status_queue_and_risk(
    database: Database, clock: FakeClock, aino: Visitor
) -> None:
    with database.transaction() as session:
        waiting = add_callback(session, number(1))
        at_risk = add_callback(session, number(2), entered=T0 + timedelta(minutes=1))
        social = add_callback(session, number(3), topic="social", language="sv")
        cancelled = add_callback(session, number(4), entered=T0 + timedelta(minutes=2))
        session.execute(
            update(CallbackRequest).where(CallbackRequest.id == at_risk).values(at_risk_at=T0)
        )
        session.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == cancelled)
            .values(status=CallbackStatus.CANCELLED, closed_at=T0, closed_reason="duplicate")
        )

    def listed(query: str) -> set[int]:
        answer = aino.get(f"/admin/callback-requests{query}")
        assert answer.status_code == 200
        return {int(i) for i in re.findall(r'href="/admin/callback-requests/(\d+)"', answer.text)}

    assert listed("") == {waiting, at_risk, social, cancelled}
    assert listed("?status=pending") == {waiting, at_risk, social}
    assert listed("?status=cancelled&status=completed") == {cancelled}
    assert listed("?topic=social") == {social}
    assert listed("?topic=&at_risk=1") == {at_risk}
    assert listed("?status=pending&topic=health&at_risk=1") == {at_risk}

    bad = aino.get("/admin/callback-requests?status=lost&topic=dental")
    assert bad.status_code == 422
    assert "status: 'lost' is not a status on this line" in text_of(bad)


def test_a_request_and_its_history_show_numbers_masked_only(
    app: FastAPI, database: Database, aino: Visitor
) -> None:
    anna = enrol(database, "Anna")
    resident = number(7)
    callback_id = assign(database, anna, resident)
    outcome = {
        "result": "no_answer",
        "note": f"she asked us to try {resident} after lunch",
    }
    recorded = Api(app).post(
        f"/advisor/assignment/{callback_id}/outcome", headers=anna.auth, json=outcome
    )
    assert recorded.status_code == 200, recorded.text
    cancelled = send(
        aino, f"/admin/callback-requests/{callback_id}",
        f"/admin/callback-requests/{callback_id}/cancel", {"reason": f"moved to {resident}"},
    )  # fmt: skip
    assert cancelled.status_code == 303

    history = aino.get(cancelled.headers["location"])
    listed = aino.get("/admin/callback-requests")

    assert EN["admin_done_cancelled"] in text_of(history)
    assert EN["result_no_answer"] in text_of(history)
    assert "callback.cancelled" in history.text and "Anna" in history.text
    assert "she asked us to try" in text_of(history)
    for page in (history, listed):
        assert mask_digits(resident) in text_of(page)
        assert resident not in page.text and resident[1:] not in page.text
        assert resident[-7:] not in page.text


def test_cancelling_needs_a_reason_and_an_open_request(
    database: Database, aino: Visitor, cb: int
) -> None:
    page = f"/admin/callback-requests/{cb}"

    no_reason = send(aino, page, f"{page}/cancel", {"reason": "  "})
    assert no_reason.status_code == 422
    assert EN["admin_reason_needed"].format(n=64) in text_of(no_reason)
    done = send(aino, page, f"{page}/cancel", {"reason": "asked by phone"})
    assert (done.status_code, done.headers["location"]) == (303, f"{page}?done=cancelled")
    with database.reading() as session:
        request = session.get(CallbackRequest, cb)
        assert request is not None
        assert (request.status, request.closed_reason) == (
            CallbackStatus.CANCELLED,
            "asked by phone",
        )

    shown_after = aino.get(page)
    assert 'action="' + page + '/cancel"' not in shown_after.text  # no form for a closed one
    again = aino.post(f"{page}/cancel", data={"csrf": csrf_of(shown_after), "reason": "twice"})
    assert again.status_code == 409
    assert f"callback {cb} is already cancelled" in text_of(again)


def test_an_admin_cannot_lock_themselves_out(app: FastAPI, database: Database) -> None:
    admin_id = person(database, "pirjo", admin=True)
    visitor = Visitor(app)
    visitor.sign_in("pirjo")
    page_url = f"/admin/people/{admin_id}"
    refused = visitor.submit(page_url, f"{page_url}/disable", {"confirm": "yes"})
    assert refused.status_code == 409 and "cannot disable yourself" in refused.text
    assert visitor.get("/admin").status_code == 200
