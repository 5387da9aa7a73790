"""The advisor's desk: their state, the work in hand, its outcome, today's work.

Every button is a form (it works without JavaScript) posting to an action of
:mod:`callflow.web.actions`, the very functions the advisor API calls, then
back to the desk (POST/redirect/GET). A refusal (a break asked for while a
callback is held) is said on the desk, not as an error page. The number of a
resident is shown only here, only to the advisor the callback is assigned to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse
from starlette.datastructures import FormData

from callflow.engine.prompts import render_text
from callflow.engine.vocabulary import AttemptResult, ReasonCategory, Referral, Resolution
from callflow.engine.whisper import whisper
from callflow.errors import CallflowError
from callflow.http.bounds import MAX_BIGINT
from callflow.http.errors import ApiError
from callflow.store.advisors import BreakReason
from callflow.store.desk_views import Desk, read_desk
from callflow.store.models import AdvisorState
from callflow.store.outcomes import Coding
from callflow.store.sign_ins import Person
from callflow.web import Context, WebContext, actions
from callflow.web.pages.live import Sections, live_stream
from callflow.web.pages.people import CheckedForm, SignedIn, person_in
from callflow.web.pages.refusals import Refusal
from callflow.web.pages.rendering import locale_of, page, page_values, render_fragment

router = APIRouter(include_in_schema=False)

SECTIONS = ("desk-state", "desk-work", "desk-outcome", "desk-today")
STATES = {
    "available": AdvisorState.AVAILABLE,
    "break": AdvisorState.BREAK,
    "offline": AdvisorState.OFFLINE,
}
NOTICES = ("recorded",)
RESULTS = (AttemptResult.REACHED, AttemptResult.NO_ANSWER, AttemptResult.WRONG_NUMBER)


@router.get("/desk")
def desk_page(request: Request, context: Context, person: SignedIn) -> Response:
    notice = request.query_params.get("notice")
    return _desk(request, context, person, notice=notice if notice in NOTICES else None)


@router.get("/desk/live")
def desk_live(request: Request, context: Context, person: SignedIn) -> EventSourceResponse:
    def render() -> Sections | None:
        with context.database.reading() as session:  # one read: who, and their desk
            now_person = person_in(session, request, context.clock.now())
            if now_person is None:
                return None
            values = {
                **page_values(request, context, now_person),
                **_desk_values(request, context, now_person, session),
            }
        return {section: render_fragment(f"{section}.html", values) for section in SECTIONS}

    return live_stream(request, render)


@router.post("/desk/state")
def set_state(request: Request, context: Context, person: SignedIn, form: CheckedForm) -> Response:
    wanted = STATES.get(str(form.get("state")))
    if wanted is None:
        return _refused(request, context, person, key="bad_state")
    reason = None
    if wanted is AdvisorState.BREAK:
        try:
            reason = BreakReason(str(form.get("reason") or BreakReason.PAUSE))
        except ValueError:
            return _refused(request, context, person, key="bad_state")
    try:
        actions.set_state(context, person.advisor_id, wanted, by=person.advisor_id, reason=reason)
    except CallflowError as exc:
        return _refused_by(request, context, person, exc)
    return _back()


@router.post("/desk/outcome")
def record_outcome(
    request: Request, context: Context, person: SignedIn, form: CheckedForm
) -> Response:
    try:
        callback_id = int(str(form.get("callback_id")))
        result = AttemptResult(str(form.get("result")))
        if result not in RESULTS or not 1 <= callback_id <= MAX_BIGINT:
            raise ValueError(result)
    except ValueError:
        return _refused(request, context, person, key="bad_result")
    coding = None
    if result is AttemptResult.REACHED:
        coding = _coding(form)
        if coding is None:
            return _refused(request, context, person, key="coding_needed")
    try:
        actions.record_callback_outcome(
            context, person.advisor_id, callback_id, result, coding, _note(form)
        )
    except (CallflowError, ApiError) as exc:
        return _refused_by(request, context, person, exc)
    return _back(notice="recorded")


@router.post("/desk/call-coding")
def code_call(request: Request, context: Context, person: SignedIn, form: CheckedForm) -> Response:
    coding = _coding(form)
    if coding is None:
        return _refused(request, context, person, key="coding_needed")
    try:
        actions.code_call(context, person.advisor_id, str(form.get("call_id")), coding, _note(form))
    except (CallflowError, ApiError) as exc:
        return _refused_by(request, context, person, exc)
    return _back(notice="recorded")


def _desk_values(
    request: Request, context: WebContext, person: Person, session: Session | None = None
) -> dict[str, Any]:
    """What the desk's templates show, read in *session* (else a read of its own)."""
    locale = locale_of(request, context, person)
    calendar = context.rules.calendar
    now = context.clock.now()
    day_start = calendar.at_minute(calendar.local_date(now), 0)
    if session is None:
        with context.database.reading() as own:
            desk = read_desk(own, person.advisor_id, day_start, now)
    else:
        desk = read_desk(session, person.advisor_id, day_start, now)
    return {
        "desk": desk,
        "now": now,
        "whisper": _whisper(context, desk, now),
        "results": RESULTS,
        "reasons": list(ReasonCategory),
        "referrals": list(Referral),
        "resolutions": list(Resolution),
        "break_reasons": list(BreakReason),
        "topic_name": lambda topic: _topic_name(context, topic, locale),
        "language_name": lambda code: _language_name(context, code),
        "wrap_up_left": (desk.ready_at - now) if desk.ready_at and desk.ready_at > now else None,
    }


def _whisper(context: WebContext, desk: Desk, now: datetime) -> str | None:
    """The whisper the advisor heard, as words on screen."""
    work = desk.callback or desk.call
    if work is None or work.topic is None or work.language is None:
        return None
    entered = work.queue_entered_at
    answered = desk.call.answered_at if desk.callback is None and desk.call else None
    waited = ((answered or now) - entered) if entered is not None else timedelta(0)
    return render_text(whisper(context.config, work.topic, work.language, waited), context.config)


def _topic_name(context: WebContext, topic: str | None, locale: str) -> str:
    if topic is None:
        return "–"
    queue = context.config.queues.get(topic)
    if queue is None:
        return topic
    return queue.names.get(locale) or queue.names.get(context.config.line.default_language) or topic


def _language_name(context: WebContext, code: str | None) -> str:
    if code is None:
        return "–"
    language = context.config.languages.get(code)
    return language.name if language is not None else code


def _coding(form: FormData) -> Coding | None:
    try:
        return Coding(
            reason=ReasonCategory(str(form.get("reason"))),
            referral=Referral(str(form.get("referral"))),
            resolution=Resolution(str(form.get("resolution"))),
        )
    except ValueError:
        return None


def _note(form: FormData) -> str | None:
    note = form.get("note")
    return note if isinstance(note, str) and note.strip() else None


def _refused_by(
    request: Request, context: WebContext, person: Person, exc: CallflowError | ApiError
) -> Response:
    """The desk saying the refusal *exc* in the API's words, with the API's status."""
    refusal = Refusal.of(exc)
    return _refused(request, context, person, refusal.words, status_code=refusal.status_code)


def _desk(
    request: Request,
    context: WebContext,
    person: Person,
    *,
    notice: str | None = None,
    error: str | None = None,
    error_key: str | None = None,
    status_code: int = 200,
) -> Response:
    values = _desk_values(request, context, person)
    return page(
        request, context, person, "desk.html", status_code=status_code, self_path="/desk",
        notice=notice, error=error, error_key=error_key, **values,
    )  # fmt: skip


def _refused(
    request: Request,
    context: WebContext,
    person: Person,
    error: str | None = None,
    *,
    key: str | None = None,
    status_code: int = 409,
) -> Response:
    """The desk again, saying why nothing was done: the store's refusal (*error*: a break
    while a callback is held), or an incomplete form (*key* of its words)."""
    return _desk(request, context, person, error=error, error_key=key, status_code=status_code)


def _back(*, notice: str | None = None) -> Response:
    return RedirectResponse(f"/desk?notice={notice}" if notice else "/desk", status_code=303)
