"""Passwords, links and sessions in the store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from callflow.store.advisors import register_advisor
from callflow.store.models import Advisor
from callflow.store.session import Database
from callflow.store.sign_ins import (
    LOCK_AFTER,
    PASSWORD_PARAMETERS,
    SESSION_IDLE,
    PasswordLinkInvalid,
    PasswordRefused,
    SignIn,
    WebSession,
    check_password,
    issue_password_link,
    open_session,
    session_person,
    set_password,
    touch_session,
)
from tests.store.helpers import T0

PASSWORD = "correct horse battery"


def aino_with_password(database: Database) -> int:
    with database.transaction() as session:
        aino = register_advisor(session, "aino", {"nurse"}, {"fi"}, T0)
        set_password(session, issue_password_link(session, aino, T0), PASSWORD, T0)
    return aino


def test_the_password_is_stored_as_an_argon2id_hash(database: Database) -> None:
    aino_with_password(database)
    with database.reading() as session:
        stored = session.scalars(select(Advisor.password_hash)).one()
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


def test_the_line_hashes_at_rfc_9106s_second_setting() -> None:
    """The tests hash cheaply (tests/conftest.py); the line itself does not."""
    line_hasher = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)
    assert line_hasher.hash(PASSWORD).startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_a_newer_link_ends_the_older_one(database: Database) -> None:
    aino = aino_with_password(database)
    with database.transaction() as session:
        older = issue_password_link(session, aino, T0)
        issue_password_link(session, aino, T0)
    with pytest.raises(PasswordLinkInvalid), database.transaction() as session:
        set_password(session, older, "another good passphrase", T0)


def test_a_password_that_is_the_name_is_refused(database: Database) -> None:
    with database.transaction() as session:
        aino = register_advisor(session, "aino.virtanen", {"nurse"}, {"fi"}, T0)
        link = issue_password_link(session, aino, T0)
    with pytest.raises(PasswordRefused), database.transaction() as session:
        set_password(session, link, "Aino.Virtanen", T0)


def test_the_fifth_wrong_password_locks_and_a_right_one_resets_the_count(
    database: Database,
) -> None:
    aino_with_password(database)
    for _ in range(LOCK_AFTER - 1):
        assert check_password(database, "aino", "wrong", T0).outcome is SignIn.REFUSED
    assert check_password(database, "aino", PASSWORD, T0).outcome is SignIn.SIGNED_IN
    for _ in range(LOCK_AFTER - 1):
        check_password(database, "aino", "wrong", T0)
    locked = check_password(database, "aino", "wrong", T0)
    assert locked.outcome is SignIn.LOCKED and locked.just_locked
    assert locked.locked_until == T0 + timedelta(minutes=15)


def test_reading_a_session_does_not_keep_it_alive_and_a_touch_does(database: Database) -> None:
    aino = aino_with_password(database)
    with database.transaction() as session:
        cookie = open_session(session, aino, T0)
    almost = T0 + SESSION_IDLE - timedelta(seconds=1)
    with database.reading() as session:
        assert session_person(session, cookie, almost) is not None
    with database.reading() as session:
        assert session_person(session, cookie, T0 + SESSION_IDLE) is None
    with database.transaction() as session:
        touch_session(session, cookie, almost)
    with database.reading() as session:
        assert session_person(session, cookie, T0 + SESSION_IDLE) is not None


def test_signing_in_clears_the_sessions_that_ran_out(database: Database) -> None:
    aino = aino_with_password(database)
    with database.transaction() as session:
        open_session(session, aino, T0)
        open_session(session, aino, T0 + SESSION_IDLE + timedelta(minutes=1))
    with database.reading() as session:
        assert len(session.scalars(select(WebSession)).all()) == 1


def test_a_locked_name_refuses_even_the_right_password_until_the_lock_ends(
    database: Database,
) -> None:
    aino_with_password(database)
    for _ in range(LOCK_AFTER):
        check_password(database, "aino", "wrong", T0)
    during = T0 + timedelta(minutes=14)
    assert check_password(database, "aino", PASSWORD, during).outcome is SignIn.LOCKED
    after = T0 + timedelta(minutes=15)
    assert check_password(database, "aino", PASSWORD, after).outcome is SignIn.SIGNED_IN
