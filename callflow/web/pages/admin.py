"""The admin pages: advisors (add, skills and roles, state, a password link, an API
token, disable) and callback requests (a filtered list, one request's history, cancel).

Every change goes through :mod:`callflow.web.actions`, the functions behind the
admin API, so a rule cannot differ between the two faces; a refusal is said on
the page in the API's words, with the form as it was typed. A change answers
with a redirect to the page showing it (POST/redirect/GET: a reload does not
repeat it), except a new secret, which the store keeps only hashed and the
answer itself shows, once. Residents' numbers are masked everywhere here, as in
the admin API; only the advisor a callback is assigned to sees the whole number.

The pages' addresses stay clear of the admin API's (``/admin/people`` beside
``/admin/advisors``, ``/admin/callback-requests`` beside ``/admin/callbacks``):
the API's routes come first and would answer a browser with a token refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, QueryParams

from callflow.config.addresses import password_link_url
from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import OPEN_CALLBACK_STATUSES, CallbackStatus
from callflow.errors import CallflowError, UnknownAdvisor, UnknownCallback
from callflow.http.bounds import NUL
from callflow.http.errors import ApiError
from callflow.store.advisors import (
    SETTABLE_STATES,
    AdvisorView,
    BreakReason,
    advisor_view,
    list_advisors,
)
from callflow.store.callback_views import CallbackView, callback_history, list_callbacks
from callflow.store.models import LONGEST_DIAL_STRING, LONGEST_NAME, AdvisorState
from callflow.store.sign_ins import Person
from callflow.values.numbers import mask_digits, mask_numbers_in, mask_numbers_within
from callflow.web import Context, WebContext, actions
from callflow.web.errors import not_allowed_value
from callflow.web.inputs import AdvisorId, CallbackId
from callflow.web.pages.people import CheckedForm, PageAdmin, path_of
from callflow.web.pages.refusals import Refusal
from callflow.web.pages.rendering import page

router = APIRouter(prefix="/admin", include_in_schema=False)

ADVISORS = "/admin"
PEOPLE = "/admin/people"
REQUESTS = "/admin/callback-requests"
SHOWN_REQUESTS = 100
"""Rows on one callback list: an admin narrows the filter rather than scrolls."""
LONGEST_REASON = 64
DONE = ("saved", "state_set", "disabled", "cancelled")
"""What a redirect after a change may say it did (``?done=``): ``admin_done_<it>``."""

Member = TypeVar("Member", bound=StrEnum)
Problem = tuple[str, dict[str, object]]
"""A form's mistake the page words itself: a text key and its values."""


@dataclass(frozen=True, slots=True)
class AdvisorForm:
    """An advisor's form as it was typed: to act on, or to show again with what was wrong."""

    name: str = ""
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    admin: bool = False
    supervisor: bool = False
    dial_string: str = ""

    @classmethod
    def of(cls, form: FormData) -> AdvisorForm:
        return cls(
            name=_text(form, "name").strip(),
            skills=frozenset(_texts(form, "skills")),
            languages=frozenset(_texts(form, "languages")),
            admin="admin" in form,
            supervisor="supervisor" in form,
            dial_string=_text(form, "dial_string").strip(),
        )

    @classmethod
    def of_advisor(cls, view: AdvisorView) -> AdvisorForm:
        return cls(
            name=view.name,
            skills=frozenset(view.skills),
            languages=frozenset(view.languages),
            admin=view.admin,
            supervisor=view.supervisor,
            dial_string=view.dial_string or "",
        )

    def problems(self, *, adding: bool) -> list[Problem]:
        """What the form lacks; what only the configuration can judge (an unknown skill)
        is the action's to refuse."""
        problems: list[Problem] = []
        if adding and not (0 < len(self.name) <= LONGEST_NAME and NUL not in self.name):
            problems.append(("admin_name_needed", {"n": LONGEST_NAME}))
        if not self.skills:
            problems.append(("admin_skill_needed", {}))
        if not self.languages:
            problems.append(("admin_language_needed", {}))
        if adding and (len(self.dial_string) > LONGEST_DIAL_STRING or NUL in self.dial_string):
            problems.append(("admin_dial_string_wrong", {"n": LONGEST_DIAL_STRING}))
        return problems

    def new_advisor(self) -> actions.NewAdvisor:
        return actions.NewAdvisor(
            name=self.name,
            skills=tuple(sorted(self.skills)),
            languages=tuple(sorted(self.languages)),
            dial_string=self.dial_string or None,
            admin=self.admin,
            supervisor=self.supervisor,
        )


@dataclass(frozen=True, slots=True)
class Secrets:
    """What is shown once and never again: the store keeps only hashes of them."""

    password_link: str | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class CallbackFilter:
    """The callback list's filter, from the page's query (a GET form: it works without a
    script, and a filtered list can be bookmarked). No status ticked: every status."""

    statuses: frozenset[CallbackStatus] = frozenset()
    topic: str | None = None
    at_risk: bool = False

    @classmethod
    def of(cls, query: QueryParams, config: HotlineConfig) -> CallbackFilter:
        """The filter asked for; :class:`ApiError` in the API's words for a status or a
        queue the line does not have."""
        statuses = {
            _member(CallbackStatus, value, "status", "a status")
            for value in query.getlist("status")
        }
        topic = query.get("topic") or None
        if topic is not None and topic not in config.queues:
            raise not_allowed_value("queue", topic, config.topic_order, "a queue")
        return cls(frozenset(statuses), topic, bool(query.get("at_risk")))


@dataclass(frozen=True, slots=True)
class ShownRequest:
    """A callback request as the admin pages show it."""

    view: CallbackView
    """Its ``number_e164`` left out (None), its closing reason masked."""
    number: str | None
    """All but the last three digits hidden; None once the retention purge erased it."""

    @classmethod
    def of(cls, view: CallbackView) -> ShownRequest:
        number = mask_digits(view.number_e164) if view.number_e164 else None
        masked = replace(
            view, number_e164=None, closed_reason=mask_numbers_within(view.closed_reason)
        )
        return cls(masked, number)


@dataclass(frozen=True, slots=True)
class FormState:
    """A page's answer to a form: what went wrong, or what was done."""

    status_code: int = 200
    problems: Sequence[Problem] = ()
    refused: Refusal | None = None
    notice: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    """What the form showed as typed, by the template's names."""

    @classmethod
    def refusing(cls, refusal: Refusal, **typed: Any) -> FormState:
        return cls(refusal.status_code, refused=refusal, values=typed)

    @classmethod
    def lacking(cls, problems: Sequence[Problem], **typed: Any) -> FormState:
        return cls(422, problems=problems, values=typed)

    @classmethod
    def after(cls, done: str | None) -> FormState:
        return cls(notice=f"admin_done_{done}" if done in DONE else None)


# -- advisors ---------------------------------------------------------------------------


@router.get("")
def advisors_page(request: Request, context: Context, person: PageAdmin) -> Response:
    return _advisors(request, context, person)


@router.post("/people")
def add_advisor(
    request: Request, context: Context, person: PageAdmin, form: CheckedForm
) -> Response:
    """Add an advisor, and show their password link and API token: only now."""
    typed = AdvisorForm.of(form)
    problems = typed.problems(adding=True)
    if problems:
        return _advisors(request, context, person, FormState.lacking(problems, typed=typed))
    try:
        added = actions.add_advisor(context, typed.new_advisor(), by=person.advisor_id)
    except (ApiError, CallflowError) as exc:
        return _advisors(request, context, person, FormState.refusing(Refusal.of(exc), typed=typed))
    secrets = Secrets(
        password_link_url(context.config, added.password_token, str(request.base_url)), added.token
    )
    return _advisors(request, context, person, FormState(201), added=added.advisor, secrets=secrets)


@router.get("/people/{advisor_id}")
def advisor_page(
    advisor_id: AdvisorId,
    request: Request,
    context: Context,
    person: PageAdmin,
    done: str | None = None,
) -> Response:
    return _advisor(request, context, person, advisor_id, FormState.after(done))


@router.post("/people/{advisor_id}/skills")
def change_skills(
    advisor_id: AdvisorId, request: Request, context: Context, person: PageAdmin, form: CheckedForm
) -> Response:
    """Replace the advisor's skills, languages and roles."""
    typed = AdvisorForm.of(form)
    problems = typed.problems(adding=False)
    if problems:
        return _advisor(
            request, context, person, advisor_id, FormState.lacking(problems, typed=typed)
        )
    try:
        actions.set_skills(
            context,
            advisor_id,
            sorted(typed.skills),
            sorted(typed.languages),
            by=person.advisor_id,
            admin=typed.admin,
            supervisor=typed.supervisor,
        )
    except (ApiError, CallflowError) as exc:
        state = FormState.refusing(Refusal.of(exc), typed=typed)
        return _advisor(request, context, person, advisor_id, state)
    return _done(f"{PEOPLE}/{advisor_id}", "saved")


@router.post("/people/{advisor_id}/state")
def change_state(
    advisor_id: AdvisorId, request: Request, context: Context, person: PageAdmin, form: CheckedForm
) -> Response:
    """Available, on a break (for a reason) or offline, as the advisor's own desk sets it."""
    try:
        state, reason = _state_asked(form)
        actions.set_state(context, advisor_id, state, by=person.advisor_id, reason=reason)
    except (ApiError, CallflowError) as exc:
        return _advisor(request, context, person, advisor_id, FormState.refusing(Refusal.of(exc)))
    return _done(f"{PEOPLE}/{advisor_id}", "state_set")


@router.post("/people/{advisor_id}/password-link")
def new_password_link(
    advisor_id: AdvisorId, request: Request, context: Context, person: PageAdmin, form: CheckedForm
) -> Response:
    """A new link to set a password, shown only now; an earlier one stops working."""
    try:
        token = actions.new_password_link(context, advisor_id, by=person.advisor_id)
    except (ApiError, CallflowError) as exc:
        return _advisor(request, context, person, advisor_id, FormState.refusing(Refusal.of(exc)))
    secrets = Secrets(password_link=password_link_url(context.config, token, str(request.base_url)))
    return _advisor(request, context, person, advisor_id, secrets=secrets)


@router.post("/people/{advisor_id}/token")
def new_token(
    advisor_id: AdvisorId, request: Request, context: Context, person: PageAdmin, form: CheckedForm
) -> Response:
    """A new API token, shown only now; the earlier one stops working."""
    try:
        token = actions.new_token(context, advisor_id, by=person.advisor_id)
    except (ApiError, CallflowError) as exc:
        return _advisor(request, context, person, advisor_id, FormState.refusing(Refusal.of(exc)))
    return _advisor(request, context, person, advisor_id, secrets=Secrets(token=token))


@router.post("/people/{advisor_id}/disable")
def disable(
    advisor_id: AdvisorId, request: Request, context: Context, person: PageAdmin, form: CheckedForm
) -> Response:
    """Disable the advisor once the admin ticked that they mean it: no script's confirm()
    needed, and no stray click disables anyone."""
    if form.get("confirm") != "yes":
        state = FormState.lacking([("admin_disable_unconfirmed", {})])
        return _advisor(request, context, person, advisor_id, state)
    try:
        actions.disable(context, advisor_id, by=person.advisor_id)
    except (ApiError, CallflowError) as exc:
        return _advisor(request, context, person, advisor_id, FormState.refusing(Refusal.of(exc)))
    return _done(f"{PEOPLE}/{advisor_id}", "disabled")


def _advisors(
    request: Request,
    context: WebContext,
    person: Person,
    state: FormState = FormState(),
    *,
    added: AdvisorView | None = None,
    secrets: Secrets | None = None,
) -> Response:
    with context.database.reading() as session:
        advisors = list_advisors(session)
    return page(
        request, context, person, "admin_advisors.html", status_code=state.status_code,
        **_common(context, ADVISORS, state), advisors=advisors,
        typed=state.values.get("typed", AdvisorForm()), answer_at_form="typed" in state.values,
        added=added, secrets=secrets,
    )  # fmt: skip


def _advisor(
    request: Request,
    context: WebContext,
    person: Person,
    advisor_id: int,
    state: FormState = FormState(),
    *,
    secrets: Secrets | None = None,
) -> Response:
    try:
        with context.database.reading() as session:
            advisor = advisor_view(session, advisor_id)
    except UnknownAdvisor as exc:
        return _advisors(request, context, person, FormState.refusing(Refusal.of(exc)))
    return page(
        request, context, person, "admin_advisor.html", status_code=state.status_code,
        **_common(context, f"{PEOPLE}/{advisor_id}", state), advisor=advisor,
        typed=state.values.get("typed", AdvisorForm.of_advisor(advisor)), secrets=secrets,
        settable_states=SETTABLE_STATES, break_reasons=list(BreakReason),
    )  # fmt: skip


def _state_asked(form: FormData) -> tuple[AdvisorState, BreakReason | None]:
    """The state and break reason the form asks for; :class:`ApiError` for others."""
    settable = [state.value for state in SETTABLE_STATES]
    asked = _text(form, "state")
    if asked not in settable:
        raise not_allowed_value("state", asked, settable, "a state to set")
    state = AdvisorState(asked)
    reason = _text(form, "reason")
    if state is not AdvisorState.BREAK or not reason:
        return state, None
    return state, _member(BreakReason, reason, "reason", "a break reason")


# -- callback requests ------------------------------------------------------------------


@router.get("/callback-requests")
def callbacks_page(request: Request, context: Context, person: PageAdmin) -> Response:
    """Requests by status, queue and risk: open ones in claim order, then the latest
    closed."""
    try:
        wanted = CallbackFilter.of(request.query_params, context.config)
    except ApiError as exc:
        return _callbacks(request, context, person, FormState.refusing(Refusal.of(exc)))
    return _callbacks(request, context, person, wanted=wanted)


@router.get("/callback-requests/{callback_id}")
def callback_page(
    callback_id: CallbackId,
    request: Request,
    context: Context,
    person: PageAdmin,
    done: str | None = None,
) -> Response:
    return _callback(request, context, person, callback_id, FormState.after(done))


@router.post("/callback-requests/{callback_id}/cancel")
def cancel_callback(
    callback_id: CallbackId,
    request: Request,
    context: Context,
    person: PageAdmin,
    form: CheckedForm,
) -> Response:
    """Cancel an open request with the admin's reason (stored masked, and with their name
    in the log); one being called ends its attempt."""
    reason = _text(form, "reason").strip()
    shown_reason = mask_numbers_in(reason)
    if not 0 < len(reason) <= LONGEST_REASON or NUL in reason:
        state = FormState.lacking(
            [("admin_reason_needed", {"n": LONGEST_REASON})], reason=shown_reason
        )
        return _callback(request, context, person, callback_id, state)
    try:
        actions.cancel_callback(
            context, callback_id, reason, by=person.advisor_id, by_name=person.name
        )
    except (ApiError, CallflowError) as exc:
        state = FormState.refusing(Refusal.of(exc), reason=shown_reason)
        return _callback(request, context, person, callback_id, state)
    return _done(f"{REQUESTS}/{callback_id}", "cancelled")


def _callbacks(
    request: Request,
    context: WebContext,
    person: Person,
    state: FormState = FormState(),
    *,
    wanted: CallbackFilter | None = None,
) -> Response:
    views: list[CallbackView] = []
    if wanted is not None:
        with context.database.reading() as session:
            views = list_callbacks(
                session,
                statuses=wanted.statuses or None,
                at_risk=wanted.at_risk,
                topic=wanted.topic,
                limit=SHOWN_REQUESTS,
            )
    return page(
        request, context, person, "admin_callbacks.html", status_code=state.status_code,
        **_common(context, path_of(request), state), wanted=wanted or CallbackFilter(),
        rows=[ShownRequest.of(view) for view in views], names=_advisor_names(context),
        statuses=list(CallbackStatus), limit=SHOWN_REQUESTS,
    )  # fmt: skip


def _callback(
    request: Request,
    context: WebContext,
    person: Person,
    callback_id: int,
    state: FormState = FormState(),
) -> Response:
    try:
        with context.database.reading() as session:
            history = callback_history(session, callback_id)
    except UnknownCallback as exc:
        return _callbacks(request, context, person, FormState.refusing(Refusal.of(exc)))
    attempts = [replace(a, note=mask_numbers_within(a.note)) for a in history.attempts]
    events = [replace(e, data=mask_numbers_within(e.data)) for e in history.events]
    return page(
        request, context, person, "admin_callback.html", status_code=state.status_code,
        **_common(context, f"{REQUESTS}/{callback_id}", state),
        shown=ShownRequest.of(history.request), attempts=attempts, events=events,
        channel=history.channel, description=mask_numbers_in(history.description or ""),
        names=_advisor_names(context), cancellable=history.request.status in OPEN_CALLBACK_STATUSES,
        reason=state.values.get("reason", ""), longest_reason=LONGEST_REASON,
    )  # fmt: skip


# -- shared -----------------------------------------------------------------------------


def _common(context: WebContext, path: str, state: FormState) -> dict[str, Any]:
    """What every admin page shows: the line's offer, its times, the form's answer."""
    rules = context.rules.current
    config, calendar = rules.config, rules.calendar

    def stamp(at: datetime | None) -> str:
        return "" if at is None else calendar.local(at).strftime("%Y-%m-%d %H:%M")

    def stamp_s(at: datetime | None) -> str:
        return "" if at is None else calendar.local(at).strftime("%Y-%m-%d %H:%M:%S")

    return {
        "self_path": path,
        "skills": config.skills,
        "language_names": {code: config.languages[code].name for code in config.language_order},
        "queue_names": {topic: config.queues[topic].names for topic in config.topic_order},
        "stamp": stamp,
        "stamp_s": stamp_s,
        "problems": state.problems,
        "refused": state.refused,
        "notice": state.notice,
    }


def _advisor_names(context: WebContext) -> dict[int, str]:
    with context.database.reading() as session:
        return {advisor.id: advisor.name for advisor in list_advisors(session)}


def _done(path: str, what: str) -> Response:
    return RedirectResponse(f"{path}?done={what}", status_code=303)


def _member(kind: type[Member], value: str, name: str, what: str) -> Member:
    """*value* as a member of *kind*; :class:`ApiError` naming the allowed ones if it is
    none."""
    allowed = [member.value for member in kind]
    if value not in allowed:
        raise not_allowed_value(name, value, allowed, what)
    return kind(value)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str)]
