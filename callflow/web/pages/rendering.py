"""Pages rendered on the server: one Jinja2 environment, one way to answer with a page.

Every page gets the same frame (:file:`templates/base.html`): who is signed in,
their words (:mod:`.text`), times in the line's time zone, and the CSRF token
its forms carry. Autoescaping is on for every template, so a name or a note
can never become markup. Pages allow their own scripts and styles and
nothing else (no inline script, no other origin), which the strict default
of :mod:`callflow.web.security` would not.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from callflow.config.models import EMERGENCY_SCOPE_LINE, HotlineConfig
from callflow.store.sign_ins import Person
from callflow.web import WebContext
from callflow.web.pages.text import LOCALE_NAMES, LOCALES, Translate, best_locale, translator

HERE = Path(__file__).parent
STATIC = HERE / "static"
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def locale_of(request: Request, context: WebContext, person: Person | None) -> str:
    """The person's chosen language, else their browser's, else the line's default."""
    if person is not None and person.locale in LOCALES:
        return person.locale
    return best_locale(request.headers.get("accept-language"), context.config.line.default_language)


def page_values(
    request: Request, context: WebContext, person: Person | None, locale: str | None = None
) -> dict[str, Any]:
    """What every template may use."""
    locale = locale or locale_of(request, context, person)
    rules = context.rules.current
    calendar = rules.calendar
    now = context.clock.now()

    def clock_time(at: datetime | None) -> str:
        return "" if at is None else calendar.local(at).strftime("%H:%M")

    def clock_time_s(at: datetime | None) -> str:
        return "" if at is None else calendar.local(at).strftime("%H:%M:%S")

    t = translator(locale)

    def span(length: timedelta | float | None) -> str:
        if length is None:
            return "–"
        seconds = length.total_seconds() if isinstance(length, timedelta) else length
        seconds = max(0, round(seconds))
        if seconds < 120:
            return t("seconds", n=seconds)
        return t("minutes", n=seconds // 60)

    return {
        "t": t,
        "locale": locale,
        "locales": LOCALE_NAMES,
        "person": person,
        "csrf": person.csrf_token if person is not None else None,
        "line_name": context.config.line.name,
        "clock_time": clock_time,
        "clock_time_s": clock_time_s,
        "span": span,
        "now": now,
        "emergency_now": _emergency_now(rules.config, calendar.local(now), locale, t),
        "iso": lambda at: "" if at is None else at.isoformat(),
    }


def _emergency_now(
    config: HotlineConfig, local_now: datetime, locale: str, t: Translate
) -> list[str]:
    """The scopes whose emergency message is said now, by name: the whole line, a queue."""
    naive = local_now.replace(tzinfo=None)
    return [
        t("line_scope_line")
        if scope == EMERGENCY_SCOPE_LINE
        else t("line_scope_queue", name=config.queues[scope].names.get(locale, scope))
        for scope, message in config.emergency.items()
        if message.in_force(naive)
    ]


def render_fragment(template: str, values: dict[str, Any]) -> str:
    return environment.get_template(template).render(values)


def page(
    request: Request,
    context: WebContext,
    person: Person | None,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """The rendered page, with the pages' content policy."""
    body = render_fragment(template, {**page_values(request, context, person), **values})
    answer = HTMLResponse(body, status_code=status_code, headers=headers)
    answer.headers["Content-Security-Policy"] = PAGE_POLICY
    return answer
