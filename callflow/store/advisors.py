"""Advisors in the store: who they are, what they serve, and whether they can take work.

The claim joins on these rows, so an advisor can only ever be given a
callback whose topic skill and language they have, and only while ready:
signed in and available, or past their wrap-up time. Tokens for the advisor
API are stored as SHA-256 hashes; the token itself is shown once, when made.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from callflow.engine import matching
from callflow.engine.matching import FreeAdvisor, Pair, Queue
from callflow.engine.vocabulary import AttemptResult, CallbackStatus
from callflow.errors import AdvisorBusy, AdvisorDisabled, UnknownAdvisor
from callflow.store.base import Base
from callflow.store.models import (
    Advisor,
    AdvisorLanguage,
    AdvisorSkill,
    AdvisorState,
    CallbackRequest,
)
from callflow.store.sign_ins import end_sessions_of
from callflow.store.wakeups import announce_dispatch_work

SIGNED_IN = (AdvisorState.AVAILABLE, AdvisorState.BUSY, AdvisorState.WRAP_UP)
SETTABLE_STATES = (AdvisorState.AVAILABLE, AdvisorState.BREAK, AdvisorState.OFFLINE)
"""States an advisor (or an admin) sets; busy and wrap-up follow from assignments."""


class BreakReason(StrEnum):
    """Why an advisor steps away, as they choose it; the supervisor's board shows it."""

    PAUSE = "pause"
    LUNCH = "lunch"
    MEETING = "meeting"
    TRAINING = "training"
    PAPERWORK = "paperwork"


MISSED_CALL = "missed_call"
"""The break the line puts an advisor on whose phone refused or did not answer."""


@dataclass(frozen=True, slots=True)
class AdvisorView:
    """An advisor as admins and the API see them."""

    id: int
    name: str
    enabled: bool
    admin: bool
    state: AdvisorState
    state_since: datetime
    ready_at: datetime | None
    dial_string: str | None
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    supervisor: bool = False
    break_reason: str | None = None


def register_advisor(
    session: Session,
    name: str,
    skills: Iterable[str],
    languages: Iterable[str],
    now: datetime,
    *,
    dial_string: str | None = None,
    admin: bool | None = None,
    supervisor: bool | None = None,
) -> int:
    """Add the advisor *name*, or bring an existing one's skills and languages (and dial
    string and roles, when given) up to date; returns the advisor's id."""
    advisor = session.scalars(select(Advisor).where(Advisor.name == name)).one_or_none()
    if advisor is None:
        advisor = Advisor(
            name=name,
            dial_string=dial_string,
            enabled=True,
            admin=bool(admin),
            supervisor=bool(supervisor),
            state=AdvisorState.OFFLINE,
            state_since=now,
            created_at=now,
        )
        session.add(advisor)
        session.flush()
    else:
        if dial_string is not None:
            advisor.dial_string = dial_string
        if admin is not None:
            advisor.admin = admin
        if supervisor is not None:
            advisor.supervisor = supervisor
        session.execute(delete(AdvisorSkill).where(AdvisorSkill.advisor_id == advisor.id))
        session.execute(delete(AdvisorLanguage).where(AdvisorLanguage.advisor_id == advisor.id))
    session.add_all(AdvisorSkill(advisor_id=advisor.id, skill=s) for s in sorted(set(skills)))
    session.add_all(
        AdvisorLanguage(advisor_id=advisor.id, language=code) for code in sorted(set(languages))
    )
    session.flush()
    return advisor.id


def issue_token(session: Session, advisor_id: int) -> str:
    """A new API token for the advisor (any earlier one stops working); shown only now.
    :class:`AdvisorDisabled` for one who is disabled."""
    advisor = _advisor(session, advisor_id)
    if not advisor.enabled:
        raise AdvisorDisabled(advisor.name, advisor.id, "a token")
    token = secrets.token_urlsafe(32)
    advisor.token_hash = token_hash(token)
    return token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def advisor_for_token(session: Session, token: str) -> Advisor | None:
    """The enabled advisor holding *token*, or None."""
    advisor = session.scalars(
        select(Advisor).where(Advisor.token_hash == token_hash(token))
    ).one_or_none()
    return advisor if advisor is not None and advisor.enabled else None


def find_advisor(session: Session, name_or_id: str) -> Advisor:
    """An advisor by name, or by id when *name_or_id* is a number."""
    query = select(Advisor).where(Advisor.name == name_or_id)
    if name_or_id.isdigit():
        query = select(Advisor).where(Advisor.id == int(name_or_id))
    advisor = session.scalars(query).one_or_none()
    if advisor is None:
        raise UnknownAdvisor(name_or_id)
    return advisor


def set_advisor_state(
    session: Session,
    advisor_id: int,
    state: AdvisorState,
    now: datetime,
    *,
    reason: BreakReason | None = None,
) -> Advisor:
    """Sign in (available), take a break (for *reason*, a pause when none is given), or
    sign out.

    Available from wrap-up ends the wrap-up early. Nobody can step away from a
    callback they hold: that assignment is finished first.
    """
    if state not in SETTABLE_STATES:
        raise ValueError(f"{state.value} is not set by hand; use one of {SETTABLE_STATES}")
    if reason is not None and state is not AdvisorState.BREAK:
        raise ValueError("a reason is for a break")
    advisor = _advisor(session, advisor_id)
    if holds_assignment(session, advisor_id):
        raise AdvisorBusy(advisor_id)
    if advisor.state is state and state is AdvisorState.AVAILABLE:
        return advisor  # keeps their place as the longest idle
    advisor.state = state
    advisor.state_since = now
    advisor.ready_at = now if state is AdvisorState.AVAILABLE else None
    advisor.break_reason = (reason or BreakReason.PAUSE) if state is AdvisorState.BREAK else None
    if state is AdvisorState.AVAILABLE:
        announce_dispatch_work(session)
    return advisor


def begin_wrap_up(session: Session, advisor_id: int, now: datetime, wrap_up: timedelta) -> None:
    """The advisor's callback is over: they are ready again after *wrap_up*.

    Only a busy advisor, or one already wrapping up (whose wrap-up then runs
    from *now* if that is later), is moved: one who went on a break stays there,
    and one who already holds their next callback stays busy with it. (A ready
    advisor never holds one; the claim relies on that.)
    """
    advisor = session.execute(_LOCK_ADVISOR, {"advisor": advisor_id}).first()
    if advisor is None or advisor.state not in (AdvisorState.BUSY, AdvisorState.WRAP_UP):
        return
    # Asked only now that the row is locked: a claim that held the lock may just have
    # given them a callback, and only a statement started after it can see that.
    if session.execute(_HOLDS_ASSIGNMENT, {"advisor": advisor_id}).first() is not None:
        # A late word about an earlier callback (the advisor recorded its outcome before
        # the worker let go): they are busy with a new one, which ends their wrap-up.
        return
    state, state_since = AdvisorState.WRAP_UP, advisor.state_since
    ready_at: datetime | None = now + wrap_up
    if not advisor.enabled:  # disabled during their last callback: that was the last
        state, state_since, ready_at = AdvisorState.OFFLINE, now, None
    elif advisor.state is not AdvisorState.WRAP_UP:
        state_since = now
    elif advisor.ready_at is not None:
        ready_at = max(now + wrap_up, advisor.ready_at)
    if ready_at is not None and ready_at <= now:
        announce_dispatch_work(session)
    session.execute(
        _SET_ADVISOR_STATE,
        {"advisor": advisor_id, "new_state": state, "since": state_since, "ready": ready_at},
    )


def hold_until_outcome(session: Session, advisor_id: int, now: datetime) -> None:
    """The advisor's call with a resident is over but its outcome is not recorded yet:
    they wrap up, and are given nothing new until they record it (their wrap-up time
    then runs from that moment, see :func:`begin_wrap_up`).

    Not ready means no ``ready_at``, so a claim never has to look for the
    assignment an advisor still holds."""
    session.execute(
        _SET_ADVISOR_STATE.where(_advisors.c.state == AdvisorState.BUSY),
        {"advisor": advisor_id, "new_state": AdvisorState.WRAP_UP, "since": now, "ready": None},
    )


@dataclass(frozen=True, slots=True)
class TakenAdvisor:
    """An advisor made busy to take a live caller: their phone is to be rung (empty for
    someone at the simulated line's desk, whom no phone rings)."""

    id: int
    dial_string: str


@dataclass(frozen=True, slots=True)
class Staffing:
    """Advisors signed in who could take a call of one skill and language."""

    staffed: int
    free: int
    """Of those, the ones ready now: available, or past their wrap-up."""


def staffing(session: Session, skill: str, language: str, now: datetime) -> Staffing:
    """Who is signed in with *skill* and *language*, and how many of them are ready: one
    counting query, as every waiting caller's announcement asks."""
    row = session.execute(
        select(func.count(), func.count().filter(ready_now(now))).where(
            Advisor.enabled.is_(True),
            Advisor.state.in_(SIGNED_IN),
            _can_serve(skill, language),
        )
    ).one()
    return Staffing(staffed=int(row[0]), free=int(row[1]))


def ready_now(now: datetime) -> ColumnElement[bool]:
    """Available, or past their wrap-up (one still to record an outcome has no
    ``ready_at`` and is not ready)."""
    return or_(
        Advisor.state == AdvisorState.AVAILABLE,
        and_(Advisor.state == AdvisorState.WRAP_UP, Advisor.ready_at <= now),
    )


def _can_serve(skill: str, language: str) -> ColumnElement[bool]:
    return and_(
        exists().where(AdvisorSkill.advisor_id == Advisor.id, AdvisorSkill.skill == skill),
        exists().where(
            AdvisorLanguage.advisor_id == Advisor.id, AdvisorLanguage.language == language
        ),
    )


def free_advisors(
    session: Session, now: datetime, *, by_phone: bool = True
) -> list[FreeAdvisor[int]]:
    """The ready advisors, as the matcher weighs them: who could be rung for a queued caller
    now (*by_phone*: only those with a phone; the simulated line puts callers through to
    people at their desk without one). Idle since their ``ready_at`` (the end of their
    wrap-up, or when they became available)."""
    ready = session.execute(
        select(Advisor.id, func.coalesce(Advisor.ready_at, Advisor.state_since)).where(
            Advisor.enabled.is_(True), _reachable(by_phone), ready_now(now)
        )
    ).all()
    if not ready:
        return []
    ids = [advisor_id for advisor_id, _ in ready]
    skills: dict[int, set[str]] = {}
    for advisor_id, skill in session.execute(
        select(AdvisorSkill.advisor_id, AdvisorSkill.skill).where(AdvisorSkill.advisor_id.in_(ids))
    ):
        skills.setdefault(advisor_id, set()).add(skill)
    languages: dict[int, set[str]] = {}
    for advisor_id, language in session.execute(
        select(AdvisorLanguage.advisor_id, AdvisorLanguage.language).where(
            AdvisorLanguage.advisor_id.in_(ids)
        )
    ):
        languages.setdefault(advisor_id, set()).add(language)
    return [
        FreeAdvisor(
            advisor_id,
            frozenset(skills.get(advisor_id, ())),
            frozenset(languages.get(advisor_id, ())),
            idle_since,
        )
        for advisor_id, idle_since in ready
    ]


def take_advisor(
    session: Session, advisor_id: int, call_id: str, now: datetime, *, by_phone: bool = True
) -> TakenAdvisor | None:
    """The advisor made busy to take the queued caller *call_id* the matcher gave them
    (their desk shows that call, see :func:`advisor_leg_ended`); None if they are no
    longer ready (with a phone, *by_phone*): another process took them since
    :func:`free_advisors` read them, or they went on a break.

    Their row is locked, and passed over if another process has it locked, so the
    callback dispatcher's claim and another connector never take them twice.
    """
    query = (
        select(Advisor)
        .where(
            Advisor.id == advisor_id,
            Advisor.enabled.is_(True),
            _reachable(by_phone),
            ready_now(now),
        )
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    advisor = session.scalars(query).one_or_none()
    if advisor is None:
        return None
    advisor.state = AdvisorState.BUSY
    advisor.state_since = now
    advisor.ready_at = None
    advisor.serving_call_id = call_id
    return TakenAdvisor(advisor.id, advisor.dial_string or "")


def _reachable(by_phone: bool) -> ColumnElement[bool]:
    return Advisor.dial_string.is_not(None) if by_phone else true()


def take_matched_advisors(
    session: Session, waiting: Callable[[], Sequence[Queue]], now: datetime
) -> list[tuple[Pair[int], TakenAdvisor]]:
    """The matcher's pairs of the advisors free now with the callers *waiting* gives (asked
    only when someone is free: a thousand callers waiting for busy advisors are not read),
    each advisor made busy (:func:`take_advisor`).

    An advisor another process took since they were read is left out and the rest are
    matched again: the callers of a queue served in order are never handed to an advisor
    out of turn, and no able advisor is left idle for a pass.
    """
    free = {advisor.advisor_id: advisor for advisor in free_advisors(session, now)}
    if not free:
        return []
    queues = list(waiting())
    taken: list[tuple[Pair[int], TakenAdvisor]] = []
    while True:
        for pair in matching.match(queues, list(free.values())):
            del free[pair.advisor_id]  # taken now, or by someone else: not free either way
            advisor = take_advisor(session, pair.advisor_id, pair.caller.call_id, now)
            if advisor is None:
                break
            taken.append((pair, advisor))
        else:
            return taken
        paired = {pair.caller.call_id for pair, _ in taken}
        queues = [
            replace(queue, callers=[c for c in queue.callers if c.call_id not in paired])
            for queue in queues
        ]


class LegEnd(StrEnum):
    """How an advisor's call (a leg rung for a queued caller or a callback) ended, as far
    as their readiness goes: see :func:`advisor_leg_ended`."""

    TALKED = "talked"
    """They talked with the caller or resident: their wrap-up time runs."""
    ENDED = "ended"
    """Over without a conversation: answered with nobody left to join them with, or never
    rung at all (the caller left first, the provider was out of reach)."""
    REFUSED = "refused"
    """Their phone refused the call: busy, rejected, or a dial string that cannot work."""
    UNREACHABLE = "unreachable"
    """Rung without an answer, or the call to them failed on the way."""

    @classmethod
    def unanswered(cls, result: AttemptResult) -> LegEnd:
        """A leg that never answered, by how a provider says such a call ended (the very
        mapping it gives a resident's leg): busy is a refusal; one we took back ourselves
        (``INTERRUPTED``) is no fault of theirs; anything else did not reach them."""
        if result is AttemptResult.BUSY:
            return cls.REFUSED
        if result is AttemptResult.INTERRUPTED:
            return cls.ENDED
        return cls.UNREACHABLE


def advisor_leg_ended(
    session: Session, advisor_id: int, how: LegEnd, now: datetime, *, wrap_up: timedelta
) -> None:
    """The one rule, on every provider, for an advisor whose call is over (*how*).

    After a conversation their *wrap_up* runs; a call that ended without one frees them
    at once (a break they took meanwhile stays, see :func:`begin_wrap_up`). A refused or
    unanswered call puts them on a break, as app_queue's autopause does: the next caller
    should not wait on a phone nobody picks up, and a supervisor sees whom to look for.
    """
    if how is LegEnd.TALKED:
        # The call stays on their desk, to be coded while they wrap up (or until the next).
        begin_wrap_up(session, advisor_id, now, wrap_up)
        return
    session.execute(_END_SERVING, {"advisor": advisor_id})
    if how is LegEnd.ENDED:
        begin_wrap_up(session, advisor_id, now, timedelta(0))
    else:
        _pause(session, advisor_id, now)


def show_seat(
    session: Session,
    store_id: int,
    state: AdvisorState,
    now: datetime,
    *,
    ready_at: datetime | None = None,
    break_reason: BreakReason | None = None,
    serving_call_id: str | None = None,
) -> None:
    """A simulated seat *store_id* in *state* from *now*, unless it holds a callback.

    For the simulated line only: it makes an advisor busy, or wraps them up, without a
    provider's call leg, so this writes the state as a whole. A seat
    holding a callback is left alone: the simulation writes nothing while it holds its
    own, and one claimed by a worker beside ``callflow serve`` must not look ready to a
    second claim (one advisor, one assignment); that attempt's end frees it."""
    holds_callback = exists().where(
        CallbackRequest.advisor_id == store_id,
        CallbackRequest.status == CallbackStatus.IN_PROGRESS,
    )
    session.execute(
        update(Advisor)
        .where(Advisor.id == store_id, ~holds_callback)
        .values(
            state=state,
            state_since=now,
            ready_at=ready_at,
            break_reason=break_reason,
            serving_call_id=serving_call_id,
        )
        .execution_options(synchronize_session="fetch")
    )


def _pause(session: Session, advisor_id: int, now: datetime) -> None:
    """On a break, whatever they were doing: a supervisor ends it (or they do)."""
    advisor = _locked(session, advisor_id)
    if advisor is None:
        return
    advisor.state = AdvisorState.BREAK
    advisor.state_since = now
    advisor.ready_at = None
    advisor.break_reason = MISSED_CALL


def disable_advisor(session: Session, advisor_id: int, now: datetime) -> None:
    """No more work, no more API access, no more sign-in to the pages (every session of
    theirs ends now); their history stays."""
    advisor = _advisor(session, advisor_id)
    advisor.enabled = False
    advisor.token_hash = None
    advisor.password_hash = None
    end_sessions_of(session, advisor_id)
    if advisor.state is not AdvisorState.BUSY:
        advisor.state = AdvisorState.OFFLINE
        advisor.state_since = now
        advisor.ready_at = None
        advisor.break_reason = None


def holds_assignment(session: Session, advisor_id: int) -> bool:
    return (
        session.scalar(
            select(CallbackRequest.id).where(
                CallbackRequest.advisor_id == advisor_id,
                CallbackRequest.status == CallbackStatus.IN_PROGRESS,
            )
        )
        is not None
    )


def advisor_view(session: Session, advisor_id: int) -> AdvisorView:
    """One advisor with their skills and languages."""
    advisor = session.get(Advisor, advisor_id)
    if advisor is None:
        raise UnknownAdvisor(str(advisor_id))
    skills = session.scalars(
        select(AdvisorSkill.skill)
        .where(AdvisorSkill.advisor_id == advisor_id)
        .order_by(AdvisorSkill.skill)
    )
    languages = session.scalars(
        select(AdvisorLanguage.language)
        .where(AdvisorLanguage.advisor_id == advisor_id)
        .order_by(AdvisorLanguage.language)
    )
    return AdvisorView(
        id=advisor.id,
        name=advisor.name,
        enabled=advisor.enabled,
        admin=advisor.admin,
        state=advisor.state,
        state_since=advisor.state_since,
        ready_at=advisor.ready_at,
        dial_string=advisor.dial_string,
        skills=tuple(skills),
        languages=tuple(languages),
        supervisor=advisor.supervisor,
        break_reason=advisor.break_reason,
    )


def list_advisors(session: Session) -> list[AdvisorView]:
    advisors = session.scalars(select(Advisor).order_by(Advisor.name)).all()
    skills: dict[int, list[str]] = {}
    for advisor_id, skill in session.execute(
        select(AdvisorSkill.advisor_id, AdvisorSkill.skill).order_by(AdvisorSkill.skill)
    ):
        skills.setdefault(advisor_id, []).append(skill)
    languages: dict[int, list[str]] = {}
    for advisor_id, language in session.execute(
        select(AdvisorLanguage.advisor_id, AdvisorLanguage.language).order_by(
            AdvisorLanguage.language
        )
    ):
        languages.setdefault(advisor_id, []).append(language)
    return [
        AdvisorView(
            id=a.id,
            name=a.name,
            enabled=a.enabled,
            admin=a.admin,
            state=a.state,
            state_since=a.state_since,
            ready_at=a.ready_at,
            dial_string=a.dial_string,
            skills=tuple(skills.get(a.id, ())),
            languages=tuple(languages.get(a.id, ())),
            supervisor=a.supervisor,
            break_reason=a.break_reason,
        )
        for a in advisors
    ]


def _advisor(session: Session, advisor_id: int) -> Advisor:
    advisor = _locked(session, advisor_id)
    if advisor is None:
        raise UnknownAdvisor(str(advisor_id))
    return advisor


def _locked(session: Session, advisor_id: int) -> Advisor | None:
    """The advisor as committed now, held until this transaction ends.

    A claim takes the advisor's row ``FOR UPDATE SKIP LOCKED``; reading it
    unlocked here could decide on a state a claim is just changing (a break
    taken while being given a callback). Locked, the claim skips this advisor,
    or this waits for the claim's commit and then sees the assignment.
    """
    return session.get(Advisor, advisor_id, populate_existing=True, with_for_update=True)


# Core statements for the steps at the end of every attempt: the ORM's bookkeeping cost
# more than the statements themselves.
_advisors = Base.metadata.tables["advisors"]
_requests = Base.metadata.tables["callback_requests"]
_LOCK_ADVISOR = (
    select(_advisors.c.state, _advisors.c.state_since, _advisors.c.enabled, _advisors.c.ready_at)
    .where(_advisors.c.id == bindparam("advisor"))
    .with_for_update()
)
_HOLDS_ASSIGNMENT = select(_requests.c.id).where(
    _requests.c.advisor_id == bindparam("advisor"),
    _requests.c.status == CallbackStatus.IN_PROGRESS,
)
_END_SERVING = (
    update(_advisors)
    .where(_advisors.c.id == bindparam("advisor"), _advisors.c.serving_call_id.is_not(None))
    .values(serving_call_id=None)
)
_SET_ADVISOR_STATE = (
    update(_advisors)
    .where(_advisors.c.id == bindparam("advisor"))
    .values(
        state=bindparam("new_state"),
        state_since=bindparam("since"),
        ready_at=bindparam("ready"),
    )
)
