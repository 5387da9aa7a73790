"""The public contact page (``/contact``): a resident asks to be called back.

No one signs in. The page asks the language of the call, the topic (the queues
that take web requests, by their names in the page's language), the number to
call back, a short description and consent, and says plainly that the answer
comes as a phone call. The rule is :func:`~callflow.service.web_requests.take_request`;
this module only reads the form, guards it, and says what happened.

The guards, each refusing with a page of its own (4xx, the form kept filled
where that helps) before the rule stores anything:

- the body limit, ``[web_requests] max_body``, counted before the form is parsed;
- a CSRF token: double submit, a random token in a cookie of this page's path and
  in the form (there is no session to tie it to);
- a honeypot: a field people never see (the page's style moves it off screen,
  and it is out of the tab order) that form-filling scripts fill;
- the rule's own limits per address and per number.

``?lang=`` picks the page's language (else the browser's); a request is
confirmed in the language of its call, with its time said as the phone's
offer says it ("today by 14.00", "tomorrow morning").
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from callflow.engine.prompts import render_when
from callflow.engine.queueing import promised_when
from callflow.service.rules import RulesInForce
from callflow.service.web_requests import (
    LONGEST_DESCRIPTION,
    ContactForm,
    Outcome,
    Problem,
    Refusal,
    take_request,
    web_topics,
)
from callflow.web import Context, WebContext
from callflow.web.pages.people import CSRF_FIELD, secure_cookies, tokens_match
from callflow.web.pages.rendering import page
from callflow.web.pages.text import LOCALE_NAMES, LOCALES, best_locale, translator

log = structlog.get_logger("callflow.web.contact")

router = APIRouter(include_in_schema=False)

PATH = "/contact"
COOKIE = "callflow_contact"
TRAP_FIELD = "website"
"""The honeypot: a name a form-filling script cannot resist."""
FIELDS = ("language", "topic", "number", "description", "consent")
STATUS = {
    Refusal.CLOSED: 404,
    Refusal.INVALID: 422,
    Refusal.TOO_MANY_FROM_ADDRESS: 429,
    Refusal.TOO_MANY_FOR_NUMBER: 429,
    Refusal.DUPLICATE: 409,
    Refusal.PROMISE: 409,
    Refusal.NOT_NOW: 409,
}


@router.get(PATH)
def contact_page(request: Request, context: Context, lang: str = "") -> HTMLResponse:
    locale = _page_locale(request, context, lang)
    return _form(request, context, locale, {"language": locale})


@router.post(PATH)
async def send_request(request: Request, context: Context, lang: str = "") -> HTMLResponse:
    locale = _page_locale(request, context, lang)
    limit = context.config.web_requests.max_body
    body = await _body_within(request, limit)
    if body is None:
        log.warning("web_request.refused", reason="too_large", limit=limit)
        return _form(request, context, locale, {}, refusal="contact_too_large", status=413)
    sent = dict(parse_qsl(body.decode("utf-8", "replace")))
    typed = {name: sent.get(name, "") for name in FIELDS}
    if typed["language"] in LOCALES:
        locale = typed["language"]  # the resident's language from here on
    token = request.cookies.get(COOKIE)
    if not token or not tokens_match(sent.get(CSRF_FIELD, ""), token):
        log.info("web_request.refused", reason="csrf")
        return _form(request, context, locale, typed, refusal="contact_csrf", status=403)
    if sent.get(TRAP_FIELD):
        log.warning("web_request.refused", reason="honeypot")
        return _form(request, context, locale, typed, refusal="contact_bot", status=400)
    form = ContactForm(
        language=typed["language"],
        topic=typed["topic"],
        number=typed["number"],
        # A browser counts a line break as one character and sends two.
        description=typed["description"].replace("\r\n", "\n"),
        consent=typed["consent"] == "yes",
    )
    rules, now = context.rules.current, context.clock.now()
    address = request.client.host if request.client else "unknown"
    outcome = await run_in_threadpool(
        take_request, context.database, rules, form, address=address, now=now
    )
    if outcome.refused is None:
        return _sent(request, context, rules, locale, form, outcome, now)
    return _refused(request, context, rules, locale, typed, outcome, now)


def _page_locale(request: Request, context: WebContext, lang: str) -> str:
    if lang in LOCALES:
        return lang
    return best_locale(request.headers.get("accept-language"), context.config.line.default_language)


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The request's body, or None past *limit* bytes (declared or counted as it comes)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared[:20]) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _sent(
    request: Request,
    context: WebContext,
    rules: RulesInForce,
    locale: str,
    form: ContactForm,
    outcome: Outcome,
    now: datetime,
) -> HTMLResponse:
    assert outcome.promised is not None
    return page(
        request, context, None, "contact_sent.html",
        locale=locale, t=translator(locale), number=form.number.strip(),
        when=_said(rules, form.language, outcome.promised, now),
    )  # fmt: skip


def _refused(
    request: Request,
    context: WebContext,
    rules: RulesInForce,
    locale: str,
    typed: Mapping[str, str],
    outcome: Outcome,
    now: datetime,
) -> HTMLResponse:
    assert outcome.refused is not None
    status = STATUS[outcome.refused]
    if outcome.refused is Refusal.INVALID:
        return _form(request, context, locale, typed, problems=outcome.problems, status=status)
    when = None
    if outcome.promised is not None:
        language = typed["language"] if typed["language"] in rules.config.languages else locale
        when = _said(rules, language, outcome.promised, now)
    return _form(
        request, context, locale, typed, refusal=f"contact_{outcome.refused.value}",
        when=when, status=status,
    )  # fmt: skip


def _said(rules: RulesInForce, language: str, at: datetime, now: datetime) -> str:
    """*at* as the phone's offer says it to a caller of *language* at *now*."""
    config, calendar = rules.config, rules.calendar
    when = promised_when(calendar, calendar.local_date(now), at)
    return render_when(when, config.languages[language], config)


def _form(
    request: Request,
    context: WebContext,
    locale: str,
    typed: Mapping[str, str],
    *,
    refusal: str | None = None,
    when: str | None = None,
    problems: Mapping[str, Problem] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The form (filled with *typed*), saying *refusal* or each field's problem; a page
    with no form when the line takes no requests."""
    config = context.config
    closed = not config.web_requests.enabled
    if closed and refusal is None:
        refusal, status = "contact_closed", STATUS[Refusal.CLOSED]
    token = secrets.token_urlsafe(32)
    topics = {name: config.queues[name].names.get(locale, name) for name in web_topics(config)}
    answer = page(
        request, context, None, "contact.html", status_code=status,
        locale=locale, t=translator(locale),
        closed=closed, refusal=refusal, when=when, problems=problems or {},
        typed=typed, csrf_token=token, topics=topics, trap=TRAP_FIELD,
        languages={code: LOCALE_NAMES.get(code, code) for code in config.languages},
        consent_text=config.web_requests.consent.get(locale, ""),
        longest=LONGEST_DESCRIPTION, line_number=config.line.number,
        action=f"{PATH}?lang={locale}",
    )  # fmt: skip
    answer.set_cookie(
        COOKIE, token, max_age=3600, httponly=True, samesite="strict",
        secure=secure_cookies(request, context), path=PATH,
    )  # fmt: skip
    return answer
