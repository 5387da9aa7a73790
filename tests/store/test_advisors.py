"""Advisors' readiness and tokens: who may be given a callback, and who may use the API."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.matching import FreeAdvisor, Queue, WaitingCaller
from callflow.engine.vocabulary import AttemptResult, CallbackStatus
from callflow.errors import AdvisorBusy, UnknownAdvisor
from callflow.store.advisors import (
    LegEnd,
    Staffing,
    advisor_for_token,
    advisor_leg_ended,
    begin_wrap_up,
    disable_advisor,
    find_advisor,
    free_advisors,
    holds_assignment,
    issue_token,
    list_advisors,
    register_advisor,
    set_advisor_state,
    staffing,
    take_advisor,
    take_matched_advisors,
)
from callflow.store.attempts import finish_attempt, retry_policy
from callflow.store.claims import ClaimedCallback, claim_next_callback
from callflow.store.models import Advisor, AdvisorState, CallbackRequest
from callflow.store.session import Database
from tests.store.helpers import T0, add_advisor, add_callback, number

LEASE = timedelta(seconds=90)
ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
WRAP_UP = timedelta(seconds=60)


def advisor_row(database: Database, advisor_id: int) -> Advisor:
    with database.transaction() as session:
        advisor = session.get(Advisor, advisor_id)
        assert advisor is not None
        return advisor


def where(database: Database, advisor_id: int) -> tuple[AdvisorState, datetime, datetime | None]:
    advisor = advisor_row(database, advisor_id)
    return advisor.state, advisor.state_since, advisor.ready_at


def set_state(database: Database, advisor_id: int, state: AdvisorState, now: datetime) -> None:
    with database.transaction() as session:
        set_advisor_state(session, advisor_id, state, now)


def claim(database: Database, now: datetime = T0) -> ClaimedCallback | None:
    with database.transaction() as session:
        return claim_next_callback(session, None, now, owner="worker-1", lease=LEASE)


def wrap_up(database: Database, advisor_id: int, now: datetime, length: timedelta) -> None:
    with database.transaction() as session:
        begin_wrap_up(session, advisor_id, now, length)


@pytest.fixture
def advisor(database: Database) -> int:
    """A Finnish nurse, signed out."""
    with database.transaction() as session:
        return register_advisor(session, "nurse", ["nurse"], ["fi"], T0 - timedelta(days=1))


@pytest.fixture
def claimed(database: Database, advisor: int) -> ClaimedCallback:
    """The nurse, given a callback at T0."""
    set_state(database, advisor, AdvisorState.AVAILABLE, T0 - timedelta(minutes=5))
    with database.transaction() as session:
        add_callback(session, number(1))
    claimed = claim(database)
    assert claimed is not None and claimed.advisor_id == advisor
    return claimed


@pytest.fixture
def busy(claimed: ClaimedCallback) -> int:
    return claimed.advisor_id


def hang_up(database: Database, claimed: ClaimedCallback) -> None:
    """The callback's end recorded, its advisor still marked busy: where ending an
    attempt stands just before the advisor's wrap-up begins."""
    with database.transaction() as session:
        session.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == claimed.callback_id)
            .values(status=CallbackStatus.COMPLETED, advisor_id=None, closed_at=T0)
        )


@pytest.fixture
def hung_up(database: Database, claimed: ClaimedCallback) -> int:
    """The nurse, whose callback has just ended (see :func:`hang_up`)."""
    hang_up(database, claimed)
    return claimed.advisor_id


def end_callback(
    database: Database, config: HotlineConfig, claimed: ClaimedCallback, now: datetime
) -> None:
    """The dispatcher's end of a reached callback, with the usual wrap-up."""
    with database.transaction() as session:
        finish_attempt(
            session,
            claimed.callback_id,
            claimed.attempt_no,
            AttemptResult.REACHED,
            now,
            owner="worker-1",
            policy=retry_policy(config),
            calendar=Calendar.from_config(config),
            wrap_up=WRAP_UP,
        )


class TestRegister:
    def test_a_new_advisor_starts_signed_out_with_their_skills(
        self, database: Database, advisor: int
    ) -> None:
        with database.reading() as session:
            (view,) = list_advisors(session)
        assert (view.id, view.name, view.state, view.ready_at) == (
            advisor,
            "nurse",
            AdvisorState.OFFLINE,
            None,
        )
        assert (view.skills, view.languages, view.enabled, view.admin) == (
            ("nurse",),
            ("fi",),
            True,
            False,
        )

    def test_registering_again_replaces_skills_and_languages(
        self, database: Database, advisor: int
    ) -> None:
        with database.transaction() as session:
            again = register_advisor(
                session, "nurse", ["nurse", "social_counsellor"], ["sv"], T0, admin=True
            )
        assert again == advisor
        with database.reading() as session:
            (view,) = list_advisors(session)
        assert (view.skills, view.languages, view.admin) == (
            ("nurse", "social_counsellor"),
            ("sv",),
            True,
        )

    def test_found_by_name_or_id_and_unknown_ones_named(
        self, database: Database, advisor: int
    ) -> None:
        with database.reading() as session:
            assert find_advisor(session, "nurse").id == advisor
            assert find_advisor(session, str(advisor)).name == "nurse"
            with pytest.raises(UnknownAdvisor, match="nobody"):
                find_advisor(session, "nobody")


class TestSetState:
    def test_available_makes_them_ready_from_now(self, database: Database, advisor: int) -> None:
        set_state(database, advisor, AdvisorState.AVAILABLE, T0)
        assert where(database, advisor) == (AdvisorState.AVAILABLE, T0, T0)

    def test_available_again_keeps_their_place_in_line(
        self, database: Database, advisor: int
    ) -> None:
        """A second "available" (a double click, a retried request) does not send them
        to the back of the longest-idle line."""
        set_state(database, advisor, AdvisorState.AVAILABLE, T0)
        set_state(database, advisor, AdvisorState.AVAILABLE, T0 + timedelta(minutes=10))
        assert where(database, advisor) == (AdvisorState.AVAILABLE, T0, T0)

    def test_available_from_wrap_up_ends_it_early(
        self, database: Database, config: HotlineConfig, claimed: ClaimedCallback
    ) -> None:
        end_callback(database, config, claimed, T0)
        later = T0 + timedelta(seconds=10)
        set_state(database, claimed.advisor_id, AdvisorState.AVAILABLE, later)
        assert where(database, claimed.advisor_id) == (AdvisorState.AVAILABLE, later, later)

    @pytest.mark.parametrize("state", [AdvisorState.BREAK, AdvisorState.OFFLINE])
    def test_a_break_or_signing_out_takes_them_out_of_line(
        self, database: Database, advisor: int, state: AdvisorState
    ) -> None:
        set_state(database, advisor, AdvisorState.AVAILABLE, T0 - timedelta(hours=1))
        set_state(database, advisor, state, T0)
        assert where(database, advisor) == (state, T0, None)
        with database.transaction() as session:
            add_callback(session, number(1))
        assert claim(database, T0 + timedelta(hours=1)) is None

    def test_nobody_steps_away_from_a_callback_they_hold(
        self, database: Database, busy: int
    ) -> None:
        for state in (AdvisorState.AVAILABLE, AdvisorState.BREAK, AdvisorState.OFFLINE):
            with pytest.raises(AdvisorBusy), database.transaction() as session:
                set_advisor_state(session, busy, state, T0 + timedelta(minutes=1))
            assert where(database, busy) == (AdvisorState.BUSY, T0, None), state

    def test_busy_and_wrap_up_follow_from_assignments_only(
        self, database: Database, advisor: int
    ) -> None:
        for state in (AdvisorState.BUSY, AdvisorState.WRAP_UP):
            with pytest.raises(ValueError, match="not set by hand"), database.transaction() as s:
                set_advisor_state(s, advisor, state, T0)
        signed_out = (AdvisorState.OFFLINE, T0 - timedelta(days=1), None)
        assert where(database, advisor) == signed_out

    def test_an_unknown_advisor_is_named(self, database: Database) -> None:
        with pytest.raises(UnknownAdvisor), database.transaction() as session:
            set_advisor_state(session, 999, AdvisorState.AVAILABLE, T0)


def test_staffing_counts_who_is_signed_in_and_who_is_ready(database: Database) -> None:
    """A caller's wait estimate rests on it: busy and wrapping-up advisors are staffed
    but not free until their wrap-up ends (one yet to record an outcome has no end);
    a break, signing out or the wrong skill or language does not count at all."""
    with database.transaction() as session:
        ready = add_advisor(session, "ready", ("nurse",), ("fi", "sv"))
        add_advisor(session, "busy", ("nurse",), ("fi",))
        add_advisor(session, "wrapping", ("nurse",), ("fi",))
        add_advisor(session, "done wrapping", ("nurse",), ("fi",))
        add_advisor(session, "to record an outcome", ("nurse",), ("fi",))
        add_advisor(session, "on a break", ("nurse",), ("fi",))
        add_advisor(session, "disabled", ("nurse",), ("fi",), enabled=False)
        add_advisor(session, "social", ("social_counsellor",), ("fi",))
        states = {
            "busy": (AdvisorState.BUSY, None),
            "wrapping": (AdvisorState.WRAP_UP, T0 + timedelta(minutes=1)),
            "done wrapping": (AdvisorState.WRAP_UP, T0 - timedelta(seconds=1)),
            "to record an outcome": (AdvisorState.WRAP_UP, None),
            "on a break": (AdvisorState.BREAK, None),
        }
        for name, (state, ready_at) in states.items():
            session.execute(
                update(Advisor).where(Advisor.name == name).values(state=state, ready_at=ready_at)
            )
    with database.reading() as session:
        assert staffing(session, "nurse", "fi", T0) == Staffing(staffed=5, free=2)
        assert staffing(session, "nurse", "sv", T0) == Staffing(staffed=1, free=1)
        assert staffing(session, "nurse", "en", T0) == Staffing(staffed=0, free=0)
        later = T0 + timedelta(minutes=2)
        assert staffing(session, "nurse", "fi", later) == Staffing(staffed=5, free=3)
    set_state(database, ready, AdvisorState.OFFLINE, T0)
    with database.reading() as session:
        assert staffing(session, "nurse", "fi", T0) == Staffing(staffed=4, free=1)


# -- advisors for queued callers -------------------------------------------------------------


def with_phone(session: Session, name: str, languages: tuple[str, ...] = ("fi",)) -> int:
    """A ready nurse (see ``add_advisor``) with a phone to ring."""
    advisor_id = add_advisor(session, name, ("nurse",), languages)
    session.execute(
        update(Advisor).where(Advisor.id == advisor_id).values(dial_string=f"PJSIP/{name}")
    )
    return advisor_id


def health_queue(*languages: str) -> Queue:
    callers = [
        WaitingCaller(T0 - timedelta(minutes=10 - n), f"call-{n}", language)
        for n, language in enumerate(languages)
    ]
    return Queue("health", "nurse", callers)


class TestFreeAdvisors:
    def test_the_ready_ones_with_a_phone_with_what_they_serve_and_since_when(
        self, database: Database
    ) -> None:
        """Busy, still wrapping up, on a break, disabled or without a phone: not free."""
        with database.transaction() as session:
            ready = with_phone(session, "ready", ("fi", "sv"))
            done = with_phone(session, "done wrapping")
            for name in ("busy", "wrapping", "on a break"):
                with_phone(session, name)
            disabled = with_phone(session, "disabled")
            add_advisor(session, "no phone")
            states = {
                "busy": (AdvisorState.BUSY, None),
                "wrapping": (AdvisorState.WRAP_UP, T0 + timedelta(minutes=1)),
                "done wrapping": (AdvisorState.WRAP_UP, T0 - timedelta(seconds=1)),
                "on a break": (AdvisorState.BREAK, None),
            }
            for name, (state, ready_at) in states.items():
                session.execute(
                    update(Advisor)
                    .where(Advisor.name == name)
                    .values(state=state, ready_at=ready_at)
                )
            session.execute(update(Advisor).where(Advisor.id == disabled).values(enabled=False))
        with database.reading() as session:
            found = sorted(free_advisors(session, T0), key=lambda a: a.advisor_id)
        long_ago = T0 - timedelta(days=3650)
        assert found == [
            FreeAdvisor(ready, frozenset({"nurse"}), frozenset({"fi", "sv"}), long_ago),
            FreeAdvisor(done, frozenset({"nurse"}), frozenset({"fi"}), T0 - timedelta(seconds=1)),
        ]


class TestTakeAdvisor:
    def test_a_free_advisor_is_made_busy_once(self, database: Database) -> None:
        with database.transaction() as session:
            aino = with_phone(session, "aino")
        with database.transaction() as session:
            taken = take_advisor(session, aino, "call-1", T0)
        assert taken is not None and (taken.id, taken.dial_string) == (aino, "PJSIP/aino")
        assert where(database, aino) == (AdvisorState.BUSY, T0, None)
        # another connector's turn: too late
        with database.transaction() as session:
            assert take_advisor(session, aino, "call-1", T0) is None

    def test_one_who_went_on_a_break_meanwhile_is_not_taken(self, database: Database) -> None:
        with database.transaction() as session:
            aino = with_phone(session, "aino")
        set_state(database, aino, AdvisorState.BREAK, T0)
        with database.transaction() as session:
            assert take_advisor(session, aino, "call-1", T0) is None
        assert where(database, aino)[0] is AdvisorState.BREAK

    def test_the_matchers_pairs_are_taken(self, database: Database) -> None:
        """A Swedish caller ahead of a Finnish one, one Finnish and one Swedish advisor."""
        with database.transaction() as session:
            finnish = with_phone(session, "finnish")
            swedish = with_phone(session, "swedish", ("sv",))
        with database.transaction() as session:
            taken = take_matched_advisors(session, lambda: [health_queue("sv", "fi")], T0)
        assert [(p.caller.call_id, a.id) for p, a in taken] == [
            ("call-0", swedish),
            ("call-1", finnish),
        ]
        assert {where(database, a)[0] for a in (finnish, swedish)} == {AdvisorState.BUSY}


@ON_POSTGRESQL  # row locks; SQLite runs one writer at a time
def test_an_advisor_another_process_is_taking_is_passed_over_at_once(database: Database) -> None:
    """Another connector has locked the advisor it chose: this one does not wait for it,
    and drops its own pair with them; its caller waits for the next pass."""
    with database.transaction() as session:
        aino = with_phone(session, "aino")
    with database.transaction() as other:
        other.get(Advisor, aino, with_for_update=True)
        with database.transaction() as session:
            assert take_matched_advisors(session, lambda: [health_queue("fi")], T0) == []
    assert where(database, aino)[0] is AdvisorState.AVAILABLE


@ON_POSTGRESQL  # row locks; SQLite runs one writer at a time
def test_a_pair_lost_to_another_process_is_matched_again_without_them(
    database: Database,
) -> None:
    """A Swedish caller ahead of a Finnish one in a queue that hands over its front caller
    only (Twilio's): another process takes the Swedish advisor between the read and the
    take. The Finnish advisor must not be called, or they would be handed the Swedish
    caller; from a queue that hands over any caller, they take the Finnish one."""
    with database.transaction() as session:
        finnish = with_phone(session, "finnish")
        swedish = with_phone(session, "swedish", ("sv",))
    in_order = replace(health_queue("sv", "fi"), served_in_order=True)
    with database.transaction() as other:
        other.get(Advisor, swedish, with_for_update=True)
        with database.transaction() as session:
            assert take_matched_advisors(session, lambda: [in_order], T0) == []
        with database.transaction() as session:
            taken = take_matched_advisors(session, lambda: [health_queue("sv", "fi")], T0)
        assert [(p.caller.call_id, a.id) for p, a in taken] == [("call-1", finnish)]


class TestWrapUp:
    def test_a_busy_advisor_wraps_up_then_is_ready(
        self, database: Database, config: HotlineConfig, claimed: ClaimedCallback
    ) -> None:
        ended = T0 + timedelta(minutes=5)
        end_callback(database, config, claimed, ended)
        advisor = claimed.advisor_id
        assert where(database, advisor) == (AdvisorState.WRAP_UP, ended, ended + WRAP_UP)
        with database.transaction() as session:
            add_callback(session, number(2))
        assert claim(database, ended + WRAP_UP - timedelta(seconds=1)) is None
        next_one = claim(database, ended + WRAP_UP)
        assert next_one is not None and next_one.advisor_id == advisor

    def test_a_longer_wrap_up_extends_a_running_one(self, database: Database, hung_up: int) -> None:
        wrap_up(database, hung_up, T0, WRAP_UP)
        wrap_up(database, hung_up, T0 + timedelta(seconds=10), timedelta(seconds=120))
        assert where(database, hung_up) == (AdvisorState.WRAP_UP, T0, T0 + timedelta(seconds=130))

    def test_a_shorter_wrap_up_never_cuts_a_running_one(
        self, database: Database, hung_up: int
    ) -> None:
        wrap_up(database, hung_up, T0, WRAP_UP)
        wrap_up(database, hung_up, T0 + timedelta(seconds=10), timedelta(seconds=5))
        assert where(database, hung_up) == (AdvisorState.WRAP_UP, T0, T0 + WRAP_UP)

    def test_no_wrap_up_means_ready_at_once(self, database: Database, hung_up: int) -> None:
        wrap_up(database, hung_up, T0, timedelta(0))
        assert where(database, hung_up) == (AdvisorState.WRAP_UP, T0, T0)

    def test_someone_not_busy_is_not_moved(self, database: Database, advisor: int) -> None:
        """An advisor who went on a break (or was paused) stays there when the
        callback's end catches up with them."""
        for minute, state in enumerate(
            (AdvisorState.BREAK, AdvisorState.OFFLINE, AdvisorState.AVAILABLE)
        ):
            set_state(database, advisor, state, T0 + timedelta(minutes=minute))
            before = where(database, advisor)
            wrap_up(database, advisor, T0 + timedelta(minutes=minute, seconds=30), WRAP_UP)
            assert where(database, advisor) == before, state

    def test_an_advisor_disabled_while_busy_signs_out_when_it_ends(
        self, database: Database, claimed: ClaimedCallback, busy: int
    ) -> None:
        with database.transaction() as session:
            disable_advisor(session, busy, T0 + timedelta(minutes=1))
        assert where(database, busy)[0] is AdvisorState.BUSY  # the call goes on
        ended = T0 + timedelta(minutes=5)
        hang_up(database, claimed)
        wrap_up(database, busy, ended, WRAP_UP)
        assert where(database, busy) == (AdvisorState.OFFLINE, ended, None)


class TestPauseAndDisable:
    def test_a_paused_advisor_is_on_a_break_and_given_nothing(
        self, database: Database, advisor: int
    ) -> None:
        set_state(database, advisor, AdvisorState.AVAILABLE, T0 - timedelta(hours=1))
        with database.transaction() as session:
            advisor_leg_ended(session, advisor, LegEnd.UNREACHABLE, T0, wrap_up=WRAP_UP)
            add_callback(session, number(1))
        assert where(database, advisor) == (AdvisorState.BREAK, T0, None)
        assert claim(database, T0 + timedelta(hours=1)) is None

    def test_a_disabled_advisor_is_signed_out_given_nothing_and_locked_out(
        self, database: Database, advisor: int
    ) -> None:
        set_state(database, advisor, AdvisorState.AVAILABLE, T0 - timedelta(hours=1))
        with database.transaction() as session:
            token = issue_token(session, advisor)
            disable_advisor(session, advisor, T0)
            add_callback(session, number(1))
        advisor_now = advisor_row(database, advisor)
        assert (advisor_now.enabled, advisor_now.token_hash) == (False, None)
        assert where(database, advisor) == (AdvisorState.OFFLINE, T0, None)
        with database.reading() as session:
            assert advisor_for_token(session, token) is None
        assert claim(database, T0 + timedelta(hours=1)) is None


class TestLegEnded:
    """The one rule every provider applies when an advisor's call is over."""

    def taken(self, database: Database, advisor: int) -> None:
        """The advisor, with a phone, taken a minute ago to be rung for a queued caller."""
        set_state(database, advisor, AdvisorState.AVAILABLE, T0 - timedelta(hours=1))
        with database.transaction() as session:
            found = session.get(Advisor, advisor)
            assert found is not None
            found.dial_string = "PJSIP/nurse"
            session.flush()
            assert take_advisor(session, advisor, "call-1", T0 - timedelta(minutes=1)) is not None

    @pytest.mark.parametrize(
        ("how", "expected"),
        [
            (LegEnd.TALKED, (AdvisorState.WRAP_UP, T0, T0 + WRAP_UP)),
            (LegEnd.ENDED, (AdvisorState.WRAP_UP, T0, T0)),
            (LegEnd.REFUSED, (AdvisorState.BREAK, T0, None)),
            (LegEnd.UNREACHABLE, (AdvisorState.BREAK, T0, None)),
        ],
    )
    def test_a_taken_advisor(
        self,
        database: Database,
        advisor: int,
        how: LegEnd,
        expected: tuple[AdvisorState, datetime, datetime | None],
    ) -> None:
        self.taken(database, advisor)
        with database.transaction() as session:
            advisor_leg_ended(session, advisor, how, T0, wrap_up=WRAP_UP)
        assert where(database, advisor) == expected

    def test_a_break_taken_while_the_phone_rang_for_nobody_is_kept(
        self, database: Database, advisor: int
    ) -> None:
        """Never rung after all (the provider out of reach): the break they chose stays."""
        self.taken(database, advisor)
        set_state(database, advisor, AdvisorState.BREAK, T0 - timedelta(seconds=5))
        with database.transaction() as session:
            advisor_leg_ended(session, advisor, LegEnd.ENDED, T0, wrap_up=WRAP_UP)
        assert where(database, advisor) == (AdvisorState.BREAK, T0 - timedelta(seconds=5), None)

    @pytest.mark.parametrize(
        ("result", "how"),
        [
            (AttemptResult.BUSY, LegEnd.REFUSED),
            (AttemptResult.NO_ANSWER, LegEnd.UNREACHABLE),
            (AttemptResult.CONGESTION, LegEnd.UNREACHABLE),
            (AttemptResult.FAILED, LegEnd.UNREACHABLE),
            (AttemptResult.WRONG_NUMBER, LegEnd.UNREACHABLE),
            (AttemptResult.INTERRUPTED, LegEnd.ENDED),
        ],
    )
    def test_an_unanswered_leg_by_how_the_provider_says_it_ended(
        self, result: AttemptResult, how: LegEnd
    ) -> None:
        assert LegEnd.unanswered(result) is how


class TestTokens:
    def test_a_token_finds_its_advisor_and_only_its_hash_is_kept(
        self, database: Database, advisor: int
    ) -> None:
        with database.transaction() as session:
            token = issue_token(session, advisor)
        stored = advisor_row(database, advisor).token_hash
        assert stored == hashlib.sha256(token.encode()).hexdigest()
        assert token not in (stored or "")
        with database.reading() as session:
            found = advisor_for_token(session, token)
            assert found is not None and found.id == advisor
            assert advisor_for_token(session, token + "x") is None
            assert advisor_for_token(session, "") is None

    def test_a_new_token_retires_the_old(self, database: Database, advisor: int) -> None:
        with database.transaction() as session:
            old = issue_token(session, advisor)
        with database.transaction() as session:
            new = issue_token(session, advisor)
        assert new != old
        with database.reading() as session:
            assert advisor_for_token(session, old) is None
            found = advisor_for_token(session, new)
            assert found is not None and found.id == advisor

    def test_tokens_are_per_advisor(self, database: Database, advisor: int) -> None:
        with database.transaction() as session:
            other = add_advisor(session, "other")
            mine, theirs = issue_token(session, advisor), issue_token(session, other)
        with database.reading() as session:
            assert [advisor_for_token(session, t).id for t in (mine, theirs)] == [  # type: ignore[union-attr]
                advisor,
                other,
            ]


# -- a break asked for while a claim is taking the advisor (PostgreSQL) ----------------------


def wait_until_someone_waits_for_a_lock(database: Database) -> None:
    """Return once another connection is blocked on a row lock (fails after 10 s)."""
    deadline = time.monotonic() + 10
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                return
    raise AssertionError("nobody ever waited for the lock")


@ON_POSTGRESQL  # row locks; SQLite runs one writer at a time
def test_a_break_asked_for_during_a_claim_is_refused_once_the_claim_commits(
    database: Database, advisor: int
) -> None:
    """The claim has chosen the advisor but not committed; their "break" must wait for
    it and then be refused, not overwrite "busy" and leave a callback with an advisor
    who is away."""
    set_state(database, advisor, AdvisorState.AVAILABLE, T0 - timedelta(minutes=5))
    with database.transaction() as session:
        add_callback(session, number(1))
    outcome: list[BaseException | None] = []

    def take_a_break() -> None:
        try:
            set_state(database, advisor, AdvisorState.BREAK, T0)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with database.transaction() as session:
        claimed = claim_next_callback(session, None, T0, owner="worker-1", lease=LEASE)
        assert claimed is not None
        breaker = threading.Thread(target=take_a_break)
        breaker.start()
        wait_until_someone_waits_for_a_lock(database)
    breaker.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], AdvisorBusy)
    assert where(database, advisor) == (AdvisorState.BUSY, T0, None)
    with database.reading() as session:
        assert holds_assignment(session, advisor)
