"""Signing in and out, setting a password by its link, and choosing a language.

Wrong passwords are counted per name in the store (:mod:`callflow.store.sign_ins`
locks a name after five in a row); a source address that fails on many names
is slowed here (:class:`SourceThrottle`), since guessing one password on
every name never trips a name's own lock. Both are logged, never with the
password; the page says the same for an unknown name and a wrong password.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import update
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from callflow.store.models import LONGEST_NAME, Advisor
from callflow.store.sign_ins import (
    SHORTEST_PASSWORD,
    PasswordLinkInvalid,
    PasswordRefused,
    SignIn,
    check_password,
    end_session,
    link_holder,
    open_session,
    set_password,
)
from callflow.web import Context, WebContext
from callflow.web.pages.people import (
    COOKIE,
    SIGN_IN_COOKIE,
    CheckedForm,
    SignedIn,
    SigningInForm,
    current_person,
    safe_next,
    secure_cookies,
    set_session_cookie,
    signing_in_token_matches,
)
from callflow.web.pages.rendering import page
from callflow.web.pages.text import LOCALES

log = structlog.get_logger("callflow.web.sign_in")

router = APIRouter(include_in_schema=False)

SOURCE_WINDOW = timedelta(minutes=15)
SOURCE_FREE_FAILURES = 10
"""Failures from one address within the window before it is slowed..."""
SOURCE_NAMES = 4
"""...if they were on at least this many names: one person's typos, or a colleague's
behind the same office address, are not what this is for; guessing on many names is."""
SOURCE_LONGEST_WAIT = timedelta(minutes=1)


@dataclass
class SourceThrottle:
    """Failed sign-ins per source address: past :data:`SOURCE_FREE_FAILURES` on
    :data:`SOURCE_NAMES` names or more within :data:`SOURCE_WINDOW`, each further try
    waits twice as long as the last (at most :data:`SOURCE_LONGEST_WAIT`). In this
    process's memory: the lock that matters, per name, is in the store for every
    process."""

    failures: dict[str, deque[tuple[datetime, str]]] = field(default_factory=dict)

    def wait(self, source: str, now: datetime) -> timedelta:
        """How long *source* must wait before its next try (zero: go on)."""
        recent = self._recent(source, now)
        over = len(recent) - SOURCE_FREE_FAILURES
        if over < 0 or len({name for _, name in recent}) < SOURCE_NAMES:
            return timedelta(0)
        wait = min(timedelta(seconds=2**over), SOURCE_LONGEST_WAIT)
        return max(timedelta(0), recent[-1][0] + wait - now)

    def failed(self, source: str, name: str, now: datetime) -> None:
        self._recent(source, now).append((now, name))

    def _recent(self, source: str, now: datetime) -> deque[tuple[datetime, str]]:
        recent = self.failures.setdefault(source, deque())
        while recent and now - recent[0][0] > SOURCE_WINDOW:
            recent.popleft()
        return recent


def _throttle(request: Request) -> SourceThrottle:
    throttle: SourceThrottle | None = getattr(request.app.state, "sign_in_throttle", None)
    if throttle is None:
        throttle = request.app.state.sign_in_throttle = SourceThrottle()
    return throttle


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/")
def home(request: Request, context: Context) -> Response:
    """Where a person starts: the board for those who watch the line, else the desk."""
    person = current_person(request, context)
    if person is None:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse("/board" if person.sees_the_board else "/desk", status_code=303)


@router.get("/sign-in")
def sign_in_page(request: Request, context: Context, next: str = "/", expired: int = 0) -> Response:
    return _sign_in_form(request, context, next, notice="expired" if expired else None)


@router.post("/sign-in")
async def sign_in(request: Request, context: Context) -> Response:
    form = await request.form()
    target = safe_next(str(form.get("next") or "/"))
    if not signing_in_token_matches(request, form):
        return _sign_in_form(request, context, target, error="csrf", status_code=403)
    # argon2's tenth of a second, and the store, in a worker thread: not in the event
    # loop, where every other request and live page would wait for it.
    return await run_in_threadpool(_sign_in, request, context, form, target)


def _sign_in(request: Request, context: WebContext, form: FormData, target: str) -> Response:
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    if len(name) > LONGEST_NAME or "\x00" in name:
        name = ""  # nobody's: refused as any unknown name is (and logged short)
    now = context.clock.now()
    source = _source(request)
    throttle = _throttle(request)
    wait = throttle.wait(source, now)
    if wait > timedelta(0):
        log.warning("sign_in.source_slowed", source=source, wait_s=wait.total_seconds())
        seconds = int(wait.total_seconds()) + 1
        return _sign_in_form(
            request, context, target, error="slowed", seconds=seconds, status_code=429,
            headers={"Retry-After": str(seconds)},
        )  # fmt: skip
    result = check_password(context.database, name, password, now)
    if result.outcome is not SignIn.SIGNED_IN or result.advisor_id is None:
        throttle.failed(source, name, now)
        if result.just_locked:
            log.warning("sign_in.name_locked", name=name, until=result.locked_until, source=source)
        else:
            log.info("sign_in.refused", name=name, outcome=result.outcome.value, source=source)
        # The same words and status whether the name exists, the password was wrong or
        # the name is locked: the answer tells a guesser nothing.
        return _sign_in_form(request, context, target, error="wrong_password", status_code=401)
    with context.database.transaction() as session:
        cookie = open_session(session, result.advisor_id, now)
    log.info("sign_in.signed_in", advisor_id=result.advisor_id, source=source)
    answer = RedirectResponse(target, status_code=303)
    set_session_cookie(answer, request, context, cookie)
    answer.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return answer


@router.post("/sign-out")
def sign_out(request: Request, context: Context, person: SignedIn, form: CheckedForm) -> Response:
    with context.database.transaction() as session:
        end_session(session, request.cookies.get(COOKIE, ""))
    log.info("sign_in.signed_out", advisor_id=person.advisor_id)
    answer = RedirectResponse("/sign-in?signed_out=1", status_code=303)
    answer.delete_cookie(COOKIE, path="/")
    return answer


@router.post("/language")
def choose_language(
    request: Request, context: Context, person: SignedIn, form: CheckedForm
) -> Response:
    locale = str(form.get("locale") or "")
    if locale in LOCALES:
        with context.database.transaction() as session:
            session.execute(
                update(Advisor).where(Advisor.id == person.advisor_id).values(locale=locale)
            )
    return RedirectResponse(safe_next(str(form.get("next") or "/")), status_code=303)


@router.get("/password/{token}")
def password_page(token: str, request: Request, context: Context) -> Response:
    with context.database.reading() as session:
        try:
            name = link_holder(session, token, context.clock.now()).name
        except PasswordLinkInvalid as exc:
            return page(request, context, None, "password.html", status_code=404,
                        error=str(exc), name=None)  # fmt: skip
    return _password_form(request, context, name)


@router.post("/password/{token}")
def password_set(token: str, request: Request, context: Context, form: SigningInForm) -> Response:
    password = str(form.get("password") or "")
    try:
        with context.database.transaction() as session:
            advisor_id = set_password(session, token, password, context.clock.now())
    except PasswordLinkInvalid as exc:
        return page(request, context, None, "password.html", status_code=404,
                    error=str(exc), name=None)  # fmt: skip
    except PasswordRefused as exc:
        with context.database.reading() as session:
            name = link_holder(session, token, context.clock.now()).name
        return _password_form(request, context, name, error=str(exc), status_code=422)
    log.info("sign_in.password_set", advisor_id=advisor_id)
    return RedirectResponse("/sign-in?password_set=1", status_code=303)


def _sign_in_form(
    request: Request,
    context: WebContext,
    target: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    notice: str | None = None,
    error: str | None = None,
    **values: object,
) -> Response:
    token = secrets.token_urlsafe(32)
    if notice is None and request.query_params.get("signed_out"):
        notice = "signed_out"
    if notice is None and request.query_params.get("password_set"):
        notice = "password_set"
    answer = page(
        request, context, None, "sign_in.html", status_code=status_code, headers=headers,
        sign_in_token=token, next=safe_next(target), notice=notice, error=error,
        error_values=values,
    )  # fmt: skip
    _set_sign_in_cookie(answer, request, context, token, "/sign-in")
    return answer


def _password_form(
    request: Request,
    context: WebContext,
    name: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    token = secrets.token_urlsafe(32)
    answer = page(
        request, context, None, "password.html", status_code=status_code,
        name=name, error=error, sign_in_token=token, shortest=SHORTEST_PASSWORD,
    )  # fmt: skip
    _set_sign_in_cookie(answer, request, context, token, "/password")
    return answer


def _set_sign_in_cookie(
    answer: Response, request: Request, context: WebContext, token: str, path: str
) -> None:
    answer.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
        secure=secure_cookies(request, context), path=path,
    )  # fmt: skip
