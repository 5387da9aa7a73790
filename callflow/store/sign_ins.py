"""People signing in to the pages: passwords, one-time links, sessions and lockouts.

A password is set only through a one-time link (:func:`issue_password_link`,
valid :data:`PASSWORD_LINK_VALID`), so nobody ever sends one by mail or reads
one off a terminal. Passwords are stored as argon2id hashes
(``argon2-cffi``'s defaults, RFC 9106's second recommended setting); links
and session cookies as SHA-256 hashes of random tokens, like the API's
tokens, so a copy of the database signs nobody in.

A session lasts :data:`SESSION_LONGEST` at most and :data:`SESSION_IDLE`
without a request; every lookup checks both against the injected clock, and
that the person is still enabled, so disabling someone ends their sessions
at once. :data:`LOCK_AFTER` wrong passwords in a row lock the name for
:data:`LOCKED_FOR`; a right one resets the count.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import ForeignKey, Integer, String, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from callflow.errors import AdvisorDisabled, InputError, UnknownAdvisor
from callflow.store.base import Base
from callflow.store.models import Advisor
from callflow.store.session import Database

PASSWORD_LINK_VALID = timedelta(hours=24)
SESSION_LONGEST = timedelta(hours=12)
SESSION_IDLE = timedelta(hours=2)
LOCK_AFTER = 5
LOCKED_FOR = timedelta(minutes=15)
SHORTEST_PASSWORD = 10
"""NIST SP 800-63B asks for at least 8; a shared advisor workstation deserves a little more."""
LONGEST_PASSWORD = 200
TOUCH_EVERY = timedelta(minutes=1)
"""A session's last use is written at most this often: a live page polls, a write per
request would cost more than it tells."""

PASSWORD_PARAMETERS = RFC_9106_LOW_MEMORY
"""argon2id at RFC 9106's second recommended setting (64 MiB, three passes): about a tenth
of a second a password here."""
_hasher = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)


class WebSession(Base):
    """One signed-in browser: the hash of its cookie, and its CSRF token."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    advisor_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("advisors.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class PasswordLink(Base):
    """A one-time link to set a password: the hash of its token, and when it stops working."""

    __tablename__ = "password_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    advisor_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("advisors.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]


class PasswordLinkInvalid(InputError):
    """The link was used already, replaced by a newer one, has expired, or never was."""

    slug = "password-link-invalid"

    def __init__(self) -> None:
        super().__init__(
            "this link to set a password is not valid: it was used, replaced by a newer "
            "one, or is older than 24 hours; ask an admin for a new one"
        )


class PasswordRefused(InputError):
    """A new password that does not meet the rules; says which."""

    slug = "password-refused"


class SignIn(StrEnum):
    """How a sign-in went; the page says the same for a wrong name and a wrong password."""

    SIGNED_IN = "signed_in"
    REFUSED = "refused"
    """Unknown name, wrong password, disabled, or no password set yet."""
    LOCKED = "locked"
    """Too many wrong passwords in a row: the name waits until ``locked_until``."""


@dataclass(frozen=True, slots=True)
class SignInResult:
    outcome: SignIn
    advisor_id: int | None = None
    locked_until: datetime | None = None
    just_locked: bool = False
    """This very attempt locked the name (logged as such)."""


@dataclass(frozen=True, slots=True)
class Person:
    """Who a signed-in browser belongs to, as the pages need them."""

    advisor_id: int
    name: str
    admin: bool
    supervisor: bool
    locale: str | None
    csrf_token: str
    last_seen_at: datetime

    @property
    def sees_the_board(self) -> bool:
        return self.admin or self.supervisor


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_password_link(session: Session, advisor_id: int, now: datetime) -> str:
    """A new one-time token to set *advisor_id*'s password (an earlier one stops working);
    shown only now. :class:`AdvisorDisabled` for one who is disabled."""
    advisor = session.get(Advisor, advisor_id)
    if advisor is None:
        raise UnknownAdvisor(str(advisor_id))
    if not advisor.enabled:
        raise AdvisorDisabled(advisor.name, advisor.id, "a password link")
    session.execute(delete(PasswordLink).where(PasswordLink.advisor_id == advisor_id))
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordLink(
            token_hash=_hash(token), advisor_id=advisor_id, expires_at=now + PASSWORD_LINK_VALID
        )
    )
    session.flush()
    return token


def link_holder(session: Session, token: str, now: datetime) -> Advisor:
    """The enabled advisor a valid link is for; :class:`PasswordLinkInvalid` otherwise."""
    link = session.get(PasswordLink, _hash(token))
    if link is None or link.expires_at <= now:
        raise PasswordLinkInvalid
    advisor = session.get(Advisor, link.advisor_id)
    if advisor is None or not advisor.enabled:
        raise PasswordLinkInvalid
    return advisor


def set_password(session: Session, token: str, password: str, now: datetime) -> int:
    """Set the password of the link's holder and use the link up; every session they had
    ends (someone who had their old password is out). Returns their id."""
    advisor = link_holder(session, token, now)
    if len(password) < SHORTEST_PASSWORD:
        raise PasswordRefused(f"a password has at least {SHORTEST_PASSWORD} characters")
    if len(password) > LONGEST_PASSWORD:
        raise PasswordRefused(f"a password has at most {LONGEST_PASSWORD} characters")
    if password.strip().casefold() == advisor.name.casefold():
        raise PasswordRefused("a password is not your user name")
    advisor.password_hash = _hasher.hash(password)
    advisor.failed_sign_ins = 0
    advisor.locked_until = None
    session.execute(delete(PasswordLink).where(PasswordLink.advisor_id == advisor.id))
    session.execute(delete(WebSession).where(WebSession.advisor_id == advisor.id))
    return advisor.id


def check_password(database: Database, name: str, password: str, now: datetime) -> SignInResult:
    """Whether *name* may sign in with *password* now, counting a wrong one.

    The same work is done whatever the name: a name nobody has, and a locked one,
    are hashed against all the same, so the time taken tells nothing (and the page
    says the same words for every refusal). The hashing runs outside any transaction
    (a tenth of a second: SQLite's write lock, or the advisor's row, would be held
    for it); the count is then written under the row's lock, looked at afresh.
    """
    with database.reading() as session:
        found = session.execute(
            select(Advisor.id, Advisor.password_hash, Advisor.enabled).where(Advisor.name == name)
        ).first()
    if found is None or found.password_hash is None or not found.enabled:
        _hasher.hash(password)  # the same work as a real check
        return SignInResult(SignIn.REFUSED)
    right = _verifies(found.password_hash, password)
    with database.transaction() as session:
        advisor = session.get(Advisor, found.id, with_for_update=True, populate_existing=True)
        if advisor is None or not advisor.enabled or advisor.password_hash is None:
            return SignInResult(SignIn.REFUSED)
        if advisor.locked_until is not None and advisor.locked_until > now:
            return SignInResult(SignIn.LOCKED, advisor.id, advisor.locked_until)
        if not right or advisor.password_hash != found.password_hash:
            advisor.failed_sign_ins += 1
            if advisor.failed_sign_ins < LOCK_AFTER:
                return SignInResult(SignIn.REFUSED, advisor.id)
            advisor.failed_sign_ins = 0
            advisor.locked_until = now + LOCKED_FOR
            return SignInResult(SignIn.LOCKED, advisor.id, advisor.locked_until, just_locked=True)
        advisor.failed_sign_ins = 0
        advisor.locked_until = None
        if _hasher.check_needs_rehash(advisor.password_hash):
            advisor.password_hash = _hasher.hash(password)
    return SignInResult(SignIn.SIGNED_IN, found.id)


def _verifies(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def open_session(session: Session, advisor_id: int, now: datetime) -> str:
    """A new session for *advisor_id*; returns the cookie's value (shown only now). Their
    sessions that have run out go now (nothing else reads them again)."""
    session.execute(
        delete(WebSession).where(
            WebSession.advisor_id == advisor_id,
            or_(
                WebSession.created_at <= now - SESSION_LONGEST,
                WebSession.last_seen_at <= now - SESSION_IDLE,
            ),
        )
    )
    cookie = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_hash(cookie),
            advisor_id=advisor_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    return cookie


def session_person(session: Session, cookie: str, now: datetime) -> Person | None:
    """The enabled person whose live session *cookie* is, or None. Reads only: a page's
    live updates ask on every render and must not count as the person's activity (an
    abandoned desk left open still ends after :data:`SESSION_IDLE`); :func:`touch_session`
    is what a request the person made does."""
    row = session.get(WebSession, _hash(cookie))
    if row is None:
        return None
    advisor = session.get(Advisor, row.advisor_id)
    expired = now - row.created_at >= SESSION_LONGEST or now - row.last_seen_at >= SESSION_IDLE
    if advisor is None or not advisor.enabled or expired:
        return None
    return Person(
        advisor_id=advisor.id,
        name=advisor.name,
        admin=advisor.admin,
        supervisor=advisor.supervisor,
        locale=advisor.locale,
        csrf_token=row.csrf_token,
        last_seen_at=row.last_seen_at,
    )


def touch_session(session: Session, cookie: str, now: datetime) -> None:
    """The person used their session now (a page, a form): its idle time starts again."""
    session.execute(
        update(WebSession).where(WebSession.id_hash == _hash(cookie)).values(last_seen_at=now)
    )


def end_session(session: Session, cookie: str) -> None:
    """Sign out: the session is gone (nothing happens for one that already is)."""
    session.execute(delete(WebSession).where(WebSession.id_hash == _hash(cookie)))


def end_sessions_of(session: Session, advisor_id: int) -> None:
    """Every session of *advisor_id* ends now."""
    session.execute(delete(WebSession).where(WebSession.advisor_id == advisor_id))
