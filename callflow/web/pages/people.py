"""Who is signed in to the pages, and what they may do.

A signed-in browser holds one cookie, :data:`COOKIE`: HttpOnly (no script
reads it), ``SameSite=Lax`` (another site's form does not carry it), and
``Secure`` when the line's public address or the request is HTTPS. Every
form carries the session's CSRF token, compared in constant time; a POST
without it is 403 and changes nothing. The sign-in form, before any
session, carries a token of its own cookie (double submit), so nobody can
sign a victim in to an account of theirs.

A page for another role is 403; a visitor not signed in is sent to the
sign-in page, and comes back where they were going after it.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from callflow.config.addresses import public_url
from callflow.store.sign_ins import (
    SESSION_LONGEST,
    TOUCH_EVERY,
    Person,
    session_person,
    touch_session,
)
from callflow.web import Context, WebContext
from callflow.web.errors import answer as api_answer
from callflow.web.pages.rendering import page

COOKIE = "callflow_session"
SIGN_IN_COOKIE = "callflow_sign_in"
CSRF_FIELD = "csrf"


class SignInNeeded(Exception):
    """No live session: to the sign-in page, and back to *path* after it."""

    def __init__(self, path: str, *, expired: bool = False) -> None:
        self.path = path
        self.expired = expired


class NotForYou(Exception):
    """Signed in, but the page is for another role."""

    def __init__(self, person: Person) -> None:
        self.person = person


class CsrfRefused(Exception):
    """A form without the session's CSRF token: nothing was done."""

    def __init__(self, person: Person | None) -> None:
        self.person = person


def person_in(session: Session, request: Request, now: datetime) -> Person | None:
    """The person whose live session the request's cookie is, read in *session* (a live
    render reads them and their page in one go); their activity untouched."""
    cookie = request.cookies.get(COOKIE)
    return session_person(session, cookie, now) if cookie else None


def current_person(request: Request, context: WebContext, *, active: bool = True) -> Person | None:
    """The person whose live session the request's cookie is, if any. A request of theirs
    (*active*) starts the session's idle time again; a live page's render does not."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    now = context.clock.now()
    with context.database.reading() as session:
        person = person_in(session, request, now)
    if person is not None and active and now - person.last_seen_at >= TOUCH_EVERY:
        with context.database.transaction() as session:
            touch_session(session, cookie, now)
    return person


def _signed_in(request: Request, context: Context) -> Person:
    person = current_person(request, context)
    if person is None:
        # Back to the page after signing in; a form's address is no page to come back to.
        back = path_of(request) if request.method == "GET" else "/"
        raise SignInNeeded(back, expired=COOKIE in request.cookies)
    return person


def _supervising(person: Annotated[Person, Depends(_signed_in)]) -> Person:
    if not person.sees_the_board:
        raise NotForYou(person)
    return person


def _administering(person: Annotated[Person, Depends(_signed_in)]) -> Person:
    if not person.admin:
        raise NotForYou(person)
    return person


SignedIn = Annotated[Person, Depends(_signed_in)]
Supervisor = Annotated[Person, Depends(_supervising)]
"""A supervisor or an admin: the board and every advisor's state."""
PageAdmin = Annotated[Person, Depends(_administering)]


async def _checked_form(request: Request, person: SignedIn) -> FormData:
    """The POSTed form, once its CSRF token is the session's. Read here, in the event
    loop, so the route itself can be a plain function (run in a worker thread: its
    store calls, and argon2's work, never stall the other requests and live pages)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not tokens_match(sent, person.csrf_token):
        raise CsrfRefused(person)
    return form


def tokens_match(sent: str, expected: str) -> bool:
    """Whether a CSRF token sent with a form is *expected*, compared in constant time.

    As bytes: :func:`secrets.compare_digest` raises on a string that is not ASCII, and
    anyone may post one."""
    return secrets.compare_digest(sent.encode(), expected.encode())


def signing_in_token_matches(request: Request, form: FormData) -> bool:
    """Whether a form posted before any session (signing in, setting a password) carries
    its own cookie's CSRF token (double submit)."""
    token = request.cookies.get(SIGN_IN_COOKIE)
    sent = form.get(CSRF_FIELD)
    if not token or not isinstance(sent, str):
        return False
    return tokens_match(sent, token)


async def _signing_in_form(request: Request) -> FormData:
    """A form posted before any session, once :func:`signing_in_token_matches`."""
    form = await request.form()
    if not signing_in_token_matches(request, form):
        raise CsrfRefused(None)
    return form


CheckedForm = Annotated[FormData, Depends(_checked_form)]
SigningInForm = Annotated[FormData, Depends(_signing_in_form)]


def secure_cookies(request: Request, context: WebContext) -> bool:
    return request.url.scheme == "https" or public_url(context.config).startswith("https:")


def set_session_cookie(
    response: Response, request: Request, context: WebContext, value: str
) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(SESSION_LONGEST.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, context),
        path="/",
    )


def path_of(request: Request) -> str:
    """The request's path with its query: where a page's own links and forms return to."""
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


def safe_next(path: str | None) -> str:
    """Only a path on this site: ``//evil.example`` or a full URL would send the person away."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


PAGE_PREFIXES = (
    "/desk",
    "/board",
    "/admin/people",
    "/admin/callback-requests",
    "/admin/line",
    "/password",
)
"""Where the pages are, beside the API (whose ``/admin/advisors`` and ``/admin/callbacks``
answer JSON)."""


def is_page(path: str) -> bool:
    return path in ("/", "/admin", "/sign-in", "/sign-out", "/language") or path.startswith(
        PAGE_PREFIXES
    )


def install_page_refusals(app: FastAPI) -> None:
    """How the pages say no: a redirect to sign in, or a page saying why (403)."""

    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)
        if request.headers.get("accept") == "text/event-stream":
            return Response(status_code=401)  # a live stream: the page's script signs in
        target = f"/sign-in?next={quote(exc.path)}" + ("&expired=1" if exc.expired else "")
        answer = RedirectResponse(target, status_code=303)
        if exc.expired:
            answer.delete_cookie(COOKIE, path="/")
        return answer

    async def not_for_you(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotForYou)
        context: WebContext = request.app.state.context
        return page(request, context, exc.person, "refused.html", status_code=403, why="forbidden")

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CsrfRefused)
        context: WebContext = request.app.state.context
        return page(request, context, exc.person, "refused.html", status_code=403, why="csrf")

    async def not_a_page(request: Request, exc: Exception) -> Response:
        """A page's address with a part that cannot be (``/admin/people/abc``): a page
        saying so, not the API's JSON."""
        if not is_page(request.url.path):
            return await api_answer(request, exc)
        context: WebContext = request.app.state.context
        person = current_person(request, context, active=False)
        return page(request, context, person, "refused.html", status_code=404, why="bad_address")

    app.add_exception_handler(RequestValidationError, not_a_page)
    app.add_exception_handler(SignInNeeded, sign_in_needed)
    app.add_exception_handler(NotForYou, not_for_you)
    app.add_exception_handler(CsrfRefused, csrf_refused)
