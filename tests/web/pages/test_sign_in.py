"""Signing in and out of the pages: passwords, sessions, lockouts, CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.store.advisors import disable_advisor
from callflow.store.session import Database
from callflow.store.sign_ins import issue_password_link
from callflow.web.app import create_app
from callflow.web.pages.sign_in import SOURCE_FREE_FAILURES
from callflow.web.pages.text import LOCALES, TEXT
from tests.web.pages.browsing import PASSWORD, Visitor, csrf_of, person


@pytest.fixture
def app(config: HotlineConfig, database: Database, clock: FakeClock) -> FastAPI:
    return create_app(config, database, clock=clock)


def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(app: FastAPI, database: Database) -> None:
    person(database, "aino")
    visitor = Visitor(app)
    answer = visitor.get("/desk")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=/desk"
    signed_in = visitor.sign_in("aino", next="/desk")
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/desk")
    desk = visitor.get("/desk")
    assert desk.status_code == 200 and "aino" in desk.text


def test_the_session_cookie_is_httponly_and_samesite(app: FastAPI, database: Database) -> None:
    person(database, "aino")
    answer = Visitor(app).sign_in("aino")
    cookie = answer.headers["set-cookie"].lower()
    assert "callflow_session=" in cookie
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http here; https turns it on


def test_a_wrong_password_says_the_same_as_an_unknown_name(
    app: FastAPI, database: Database
) -> None:
    person(database, "aino")
    wrong = Visitor(app).sign_in("aino", "not the password")
    nobody = Visitor(app).sign_in("nobody", "not the password")
    assert wrong.status_code == nobody.status_code == 401
    assert "wrong" in wrong.text.lower()
    assert wrong.text.replace("aino", "") == nobody.text.replace("nobody", "").replace(
        csrf_of(nobody), csrf_of(wrong)
    )


def test_five_wrong_passwords_lock_the_name_for_a_quarter_hour(
    app: FastAPI, database: Database, clock: FakeClock
) -> None:
    person(database, "aino")
    visitor = Visitor(app)
    for _ in range(5):
        assert visitor.sign_in("aino", "guess").status_code == 401
    locked = visitor.sign_in("aino")  # even the right password waits, told nothing more
    assert locked.status_code == 401 and "15 minutes" in locked.text
    clock.advance(timedelta(minutes=15))
    assert visitor.sign_in("aino").status_code == 303


def test_a_source_failing_on_many_names_is_slowed(app: FastAPI, database: Database) -> None:
    visitor = Visitor(app)
    for number in range(SOURCE_FREE_FAILURES):
        assert visitor.sign_in(f"name{number}", "guess").status_code == 401
    slowed = visitor.sign_in("another", "guess")
    assert slowed.status_code == 429
    assert int(slowed.headers["retry-after"]) >= 1


def test_one_persons_typos_do_not_slow_the_address(app: FastAPI, database: Database) -> None:
    person(database, "aino")
    visitor = Visitor(app)
    for _ in range(SOURCE_FREE_FAILURES + 2):
        visitor.sign_in("aino", "guess")  # locks aino, but slows nobody else here
    person(database, "bert")
    assert visitor.sign_in("bert").status_code == 303


def test_an_overlong_or_nul_name_is_refused_like_any_other(
    app: FastAPI, database: Database
) -> None:
    visitor = Visitor(app)
    assert visitor.sign_in("a" * 5000, "guess").status_code == 401
    assert visitor.sign_in("ai\x00no", "guess").status_code == 401


def test_sign_out_ends_the_session(app: FastAPI, database: Database) -> None:
    person(database, "aino")
    visitor = Visitor(app)
    visitor.sign_in("aino")
    old_cookies = visitor.cookies
    answer = visitor.submit("/desk", "/sign-out", {})
    assert answer.status_code == 303
    visitor.cookies = old_cookies  # the cookie kept by someone else is no use either
    assert visitor.get("/desk").status_code == 303


def test_a_session_ends_after_two_idle_hours_or_twelve_in_all(
    app: FastAPI, database: Database, clock: FakeClock
) -> None:
    person(database, "aino")
    idle = Visitor(app)
    idle.sign_in("aino")
    busy = Visitor(app)
    busy.sign_in("aino")
    clock.advance(timedelta(hours=1, minutes=59))
    assert idle.get("/desk").status_code == 200
    for _ in range(6):
        assert busy.get("/desk").status_code == 200
        clock.advance(timedelta(hours=1, minutes=59))
    clock.advance(timedelta(minutes=7))  # 12 h since busy signed in
    expired = busy.get("/desk")
    assert expired.status_code == 303 and "expired=1" in expired.headers["location"]
    clock.advance(timedelta(hours=2))
    assert idle.get("/desk").status_code == 303


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    app: FastAPI, database: Database
) -> None:
    person(database, "aino")
    visitor = Visitor(app)
    visitor.sign_in("aino")
    refused = visitor.post("/desk/state", data={"state": "available"})
    assert refused.status_code == 403
    assert "Available" not in visitor.get("/desk").text.split("desk-state-now")[1][:200]


def test_disabling_an_advisor_ends_their_session_at_once(
    app: FastAPI, database: Database, clock: FakeClock
) -> None:
    aino = person(database, "aino")
    visitor = Visitor(app)
    visitor.sign_in("aino")
    with database.transaction() as session:
        disable_advisor(session, aino, clock.now())
    assert visitor.get("/desk").status_code == 303


def test_a_password_link_works_once(app: FastAPI, database: Database, clock: FakeClock) -> None:
    aino = person(database, "aino")
    with database.transaction() as session:
        token = issue_password_link(session, aino, clock.now())
    visitor = Visitor(app)
    form = visitor.get(f"/password/{token}")
    assert form.status_code == 200
    short = visitor.post(f"/password/{token}", data={"csrf": csrf_of(form), "password": "short"})
    assert short.status_code == 422
    new = "a brand new passphrase"
    done = visitor.post(f"/password/{token}", data={"csrf": csrf_of(short), "password": new})
    assert done.status_code == 303
    assert visitor.get(f"/password/{token}").status_code == 404
    assert visitor.sign_in("aino", PASSWORD).status_code == 401
    assert visitor.sign_in("aino", new).status_code == 303


def test_a_password_link_expires_after_a_day(
    app: FastAPI, database: Database, clock: FakeClock
) -> None:
    aino = person(database, "aino")
    with database.transaction() as session:
        token = issue_password_link(session, aino, clock.now())
    clock.advance(timedelta(hours=24))
    assert Visitor(app).get(f"/password/{token}").status_code == 404


def test_an_advisor_opening_the_admin_pages_is_refused(app: FastAPI, database: Database) -> None:
    person(database, "aino")
    visitor = Visitor(app)
    visitor.sign_in("aino")
    assert visitor.get("/admin").status_code == 403


def test_the_language_is_the_persons_choice(app: FastAPI, database: Database) -> None:
    person(database, "aino")
    visitor = Visitor(app)
    visitor.sign_in("aino")
    visitor.submit("/desk", "/language", {"locale": "sv", "next": "/desk"})
    page = visitor.get("/desk")
    assert 'lang="sv"' in page.text and "Ta paus" in page.text


def test_every_word_of_the_interface_is_in_every_language() -> None:
    keys = {locale: set(words) for locale, words in TEXT.items()}
    assert set(keys) == set(LOCALES)
    assert keys["fi"] == keys["sv"] == keys["en"]
