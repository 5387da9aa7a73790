"""What people do on the line, once for the API and the pages.

An advisor's bearer-token call and the same person's click on their desk
end in the same function here: one transaction, the same checks, the same
log line. The routes only translate (JSON or a form in, JSON or a page out),
so a rule cannot drift between the two faces. Refusals are the store's
errors or :class:`~callflow.http.errors.ApiError`; the API answers them as
JSON, the pages say them on the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import AttemptResult
from callflow.errors import UnknownAdvisor
from callflow.http.bounds import NUL
from callflow.http.errors import ApiError
from callflow.store.advisors import (
    AdvisorView,
    BreakReason,
    advisor_view,
    disable_advisor,
    issue_token,
    register_advisor,
    set_advisor_state,
)
from callflow.store.attempts import AttemptClosed, retry_policy
from callflow.store.callback_views import CallbackView, callback_history
from callflow.store.callbacks import cancel_by_admin
from callflow.store.models import (
    Advisor,
    AdvisorLanguage,
    AdvisorState,
    Call,
    CallbackAttempt,
    CallbackRequest,
)
from callflow.store.outcomes import Coding, record_call_coding, record_outcome
from callflow.store.sign_ins import issue_password_link
from callflow.values.numbers import mask_numbers_in
from callflow.web import WebContext
from callflow.web.errors import not_allowed_value

log = structlog.get_logger("callflow.web")

LONGEST_NOTE = 500


@dataclass(frozen=True, slots=True)
class NewAdvisor:
    name: str
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    dial_string: str | None = None
    admin: bool = False
    supervisor: bool = False


@dataclass(frozen=True, slots=True)
class Added:
    """A new advisor, their API token and their link to set a password: shown only now."""

    advisor: AdvisorView
    token: str
    password_token: str


@dataclass(frozen=True, slots=True)
class Recorded:
    closed: AttemptClosed
    advisor: AdvisorView


def set_state(
    context: WebContext,
    advisor_id: int,
    state: AdvisorState,
    *,
    by: int,
    reason: BreakReason | None = None,
) -> AdvisorView:
    """Available, on a break (for *reason*) or offline: by themselves, or by an admin."""
    with context.database.transaction() as session:
        set_advisor_state(session, advisor_id, state, context.clock.now(), reason=reason)
        view = advisor_view(session, advisor_id)
    log.info("advisor.state_set", advisor_id=advisor_id, state=state.value, reason=reason, by=by)
    return view


def record_callback_outcome(
    context: WebContext,
    advisor_id: int,
    callback_id: int,
    result: AttemptResult,
    coding: Coding | None,
    note: str | None = None,
) -> Recorded:
    """The assigned advisor's outcome of their callback, with a short note (numbers in it
    masked before it is stored: the note outlives the retention of the number)."""
    rules = context.rules.current  # one configuration with its own calendar
    config = rules.config
    kept_note = masked_note(note)
    with context.database.transaction() as session:
        closed = record_outcome(
            session,
            advisor_id,
            callback_id,
            result,
            coding,
            context.clock.now(),
            policy=retry_policy(config),
            calendar=rules.calendar,
            wrap_up=config.dispatch.wrap_up,
        )
        if kept_note is not None:
            attempt_no = session.scalar(
                select(CallbackRequest.attempts).where(CallbackRequest.id == callback_id)
            )
            session.execute(
                update(CallbackAttempt)
                .where(
                    CallbackAttempt.callback_id == callback_id,
                    CallbackAttempt.attempt_no == attempt_no,
                )
                .values(note=kept_note)
            )
        view = advisor_view(session, advisor_id)
    log.info(
        "advisor.outcome_recorded",
        advisor_id=advisor_id,
        callback_id=callback_id,
        result=result.value,
        status=closed.status.value,
    )
    return Recorded(closed, view)


def code_call(
    context: WebContext, advisor_id: int, call_id: str, coding: Coding, note: str | None
) -> None:
    """The advisor's coding of the queued caller they were connected with (the call they
    were last rung for: nobody codes another's call), with its note."""
    kept_note = masked_note(note)
    with context.database.transaction() as session:
        advisor = session.get(Advisor, advisor_id, with_for_update=True)
        if advisor is None:
            raise UnknownAdvisor(str(advisor_id))
        if advisor.serving_call_id != call_id:
            raise ApiError(409, "call-not-yours", "that call is not the one you last took")
        call = session.get(Call, call_id)
        topic, language = (call.topic, call.language) if call is not None else (None, None)
        record_call_coding(
            session, call_id, topic, language, coding, advisor_id, context.clock.now()
        )
        advisor.serving_call_id = None
    log.info("advisor.call_coded", advisor_id=advisor_id, noted=kept_note is not None)


def masked_note(note: str | None) -> str | None:
    """A note as it is kept: numbers masked (the note outlives the number's retention),
    None for a blank one; 422 for one too long or holding a NUL (nothing is cut)."""
    if note is None or not note.strip():
        return None
    if len(note) > LONGEST_NOTE or NUL in note:
        raise ApiError(
            422,
            "invalid-request",
            f"note: at most {LONGEST_NOTE} characters of text (no NUL characters)",
        )
    return mask_numbers_in(note.strip())


def check_offer(config: HotlineConfig, skills: Iterable[str], languages: Iterable[str]) -> None:
    """Skills and languages the line has: one nobody asks for would never bring work, and
    nobody would see why."""
    for skill in skills:
        if skill not in config.skills:
            raise not_allowed_value("skills", skill, config.skills, "a skill")
    for language in languages:
        if language not in config.languages:
            raise not_allowed_value("languages", language, config.language_order, "a language")


def add_advisor(context: WebContext, new: NewAdvisor, *, by: int | None) -> Added:
    """A new advisor (409 when the name is taken), with their token and password link."""
    check_offer(context.config, new.skills, new.languages)
    taken = ApiError(
        409,
        "advisor-exists",
        f"there is already an advisor named {new.name!r}; change their skills instead",
    )
    now = context.clock.now()
    try:
        with context.database.transaction() as session:
            if session.scalar(select(Advisor.id).where(Advisor.name == new.name)) is not None:
                raise taken
            advisor_id = register_advisor(
                session,
                new.name,
                new.skills,
                new.languages,
                now,
                dial_string=new.dial_string,
                admin=new.admin,
                supervisor=new.supervisor,
            )
            token = issue_token(session, advisor_id)
            password_token = issue_password_link(session, advisor_id, now)
            view = advisor_view(session, advisor_id)
    except IntegrityError:  # added by someone else at the same moment
        raise taken from None
    log.info(
        "advisor.added",
        advisor_id=advisor_id,
        by=by,
        admin=new.admin,
        supervisor=new.supervisor,
    )
    return Added(view, token, password_token)


def set_skills(
    context: WebContext,
    advisor_id: int,
    skills: Iterable[str],
    languages: Iterable[str] | None,
    *,
    by: int,
    admin: bool | None = None,
    supervisor: bool | None = None,
) -> AdvisorView:
    """Replace an advisor's skills (and languages, and roles, when given). An admin does
    not take away their own admin role: nobody might be left to give it back."""
    if advisor_id == by and admin is False:
        raise ApiError(409, "own-admin-role", "you cannot take away your own admin role")
    skills = list(skills)
    with context.database.transaction() as session:
        advisor = session.get(Advisor, advisor_id)
        if advisor is None:
            raise UnknownAdvisor(str(advisor_id))
        kept = languages is None
        languages = list(languages) if languages is not None else _languages(session, advisor_id)
        check_offer(context.config, skills, [] if kept else languages)
        register_advisor(
            session,
            advisor.name,
            skills,
            languages,
            context.clock.now(),
            admin=admin,
            supervisor=supervisor,
        )
        view = advisor_view(session, advisor_id)
    log.info("advisor.skills_set", advisor_id=advisor_id, by=by)
    return view


def disable(context: WebContext, advisor_id: int, *, by: int) -> AdvisorView:
    """No more work, no token, no sessions: at once. Not oneself (see :func:`set_skills`)."""
    if advisor_id == by:
        raise ApiError(409, "own-account", "you cannot disable yourself; ask another admin")
    with context.database.transaction() as session:
        disable_advisor(session, advisor_id, context.clock.now())
        view = advisor_view(session, advisor_id)
    log.info("advisor.disabled", advisor_id=advisor_id, by=by)
    return view


def new_token(context: WebContext, advisor_id: int, *, by: int) -> str:
    """A new API token; the earlier one stops working."""
    with context.database.transaction() as session:
        token = issue_token(session, advisor_id)
    log.info("advisor.token_issued", advisor_id=advisor_id, by=by)
    return token


def new_password_link(context: WebContext, advisor_id: int, *, by: int | None) -> str:
    """A new one-time token to set a password; an earlier link stops working."""
    with context.database.transaction() as session:
        token = issue_password_link(session, advisor_id, context.clock.now())
    log.info("advisor.password_link_issued", advisor_id=advisor_id, by=by)
    return token


def cancel_callback(
    context: WebContext, callback_id: int, reason: str, *, by: int, by_name: str
) -> CallbackView:
    """Cancel an open request (its log names the admin); one being called ends its attempt."""
    with context.database.transaction() as session:
        cancel_by_admin(session, callback_id, context.clock.now(), reason=reason, admin=by_name)
        view = callback_history(session, callback_id).request
    log.info("callback.cancelled", callback_id=callback_id, by=by)
    return view


def _languages(session: Session, advisor_id: int) -> list[str]:
    return list(
        session.scalars(
            select(AdvisorLanguage.language).where(AdvisorLanguage.advisor_id == advisor_id)
        )
    )
