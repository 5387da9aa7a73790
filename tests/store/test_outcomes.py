"""The advisor's word on a callback: held for them once the resident answered, recorded
only by them, and outranking the worker's lease; refusals change nothing. Their coding
of a conversation, on the attempt for a callback and in the log for a live call."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.vocabulary import (
    AttemptResult,
    CallbackStatus,
    EventKind,
    ReasonCategory,
    Referral,
    Resolution,
)
from callflow.errors import LeaseLost, NotYourAssignment, OutcomeNotAllowed, UnknownCallback
from callflow.store.advisors import begin_wrap_up, set_advisor_state
from callflow.store.attempts import (
    AttemptClosed,
    RetryPolicy,
    finish_attempt,
    mark_dialled,
    renew_lease,
    retry_policy,
)
from callflow.store.claims import ClaimedCallback, claim_next_callback
from callflow.store.models import (
    Advisor,
    AdvisorState,
    Call,
    CallbackAttempt,
    CallbackRequest,
    CallEvent,
)
from callflow.store.outcomes import (
    Coding,
    await_outcome,
    record_call_coding,
    record_callback_coding,
    record_outcome,
)
from callflow.store.session import Database
from callflow.store.upkeep import release_expired_leases
from tests.store.helpers import T0, add_advisor, add_callback, number

WORKER = "host-1:42"
LEASE = timedelta(seconds=90)
ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
WRAP_UP = timedelta(seconds=60)
OUTCOME_TIMEOUT = timedelta(minutes=15)
CODING = Coding(ReasonCategory.HEALTH, Referral.OWN_SERVICES, Resolution.NO_SERVICE_NEED)
DIALLED = T0 + timedelta(seconds=10)
HUNG_UP = T0 + timedelta(minutes=4)


@dataclass
class Callback:
    """One claimed callback, its advisor, a colleague, and the calls that move it on."""

    database: Database
    policy: RetryPolicy
    calendar: Calendar
    claimed: ClaimedCallback
    colleague: int

    @property
    def id(self) -> int:
        return self.claimed.callback_id

    @property
    def advisor(self) -> int:
        return self.claimed.advisor_id

    def dial(self, now: datetime = DIALLED) -> None:
        with self.database.transaction() as session:
            mark_dialled(session, self.id, self.claimed.attempt_no, now, owner=WORKER)

    def hang_up(self, now: datetime = HUNG_UP, talked: float = 200.0) -> None:
        """The resident answered and the call is over: the worker hands it to the advisor."""
        with self.database.transaction() as session:
            await_outcome(
                session,
                self.id,
                self.claimed.attempt_no,
                now,
                owner=WORKER,
                until=now + OUTCOME_TIMEOUT,
                duration_s=talked,
            )

    def record(
        self,
        result: AttemptResult,
        now: datetime,
        *,
        coding: Coding | None = CODING,
        advisor: int | None = None,
        callback_id: int | None = None,
    ) -> AttemptClosed:
        with self.database.transaction() as session:
            return record_outcome(
                session,
                self.advisor if advisor is None else advisor,
                self.id if callback_id is None else callback_id,
                result,
                coding,
                now,
                policy=self.policy,
                calendar=self.calendar,
                wrap_up=WRAP_UP,
            )

    def request(self) -> CallbackRequest:
        with self.database.transaction() as session:
            request = session.get(CallbackRequest, self.id)
            assert request is not None
            return request

    def attempt(self) -> CallbackAttempt:
        with self.database.transaction() as session:
            return session.scalars(
                select(CallbackAttempt).where(CallbackAttempt.callback_id == self.id)
            ).one()

    def advisor_row(self) -> Advisor:
        with self.database.transaction() as session:
            advisor = session.get(Advisor, self.advisor)
            assert advisor is not None
            return advisor

    def events(self, kind: EventKind) -> list[CallEvent]:
        with self.database.transaction() as session:
            return list(
                session.scalars(
                    select(CallEvent)
                    .where(CallEvent.callback_id == self.id, CallEvent.kind == kind)
                    .order_by(CallEvent.id)
                )
            )

    def kinds(self) -> list[EventKind]:
        with self.database.transaction() as session:
            return list(
                session.scalars(
                    select(CallEvent.kind)
                    .where(CallEvent.callback_id == self.id)
                    .order_by(CallEvent.id)
                )
            )

    def everything(self) -> tuple[Any, ...]:
        """Every row a refused outcome must leave as it was."""
        with self.database.transaction() as session:
            rows = []
            for table in ("callback_requests", "callback_attempts", "advisors"):
                rows.append(session.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all())
            events = session.scalar(select(func.count()).select_from(CallEvent))
        return (*rows, events)


@pytest.fixture
def callback(database: Database, config: HotlineConfig) -> Callback:
    with database.transaction() as session:
        add_advisor(session, "nurse")
        colleague = add_advisor(session, "colleague")
        add_callback(session, number(1), entered=T0 - timedelta(minutes=20))
        claimed = claim_next_callback(session, None, T0, owner=WORKER, lease=LEASE)
    assert claimed is not None
    return Callback(
        database, retry_policy(config), Calendar.from_config(config), claimed, colleague
    )


class TestAwaitOutcome:
    def test_the_callback_is_held_in_the_advisors_name(self, callback: Callback) -> None:
        callback.dial()
        callback.hang_up()
        request = callback.request()
        assert (request.status, request.lease_owner, request.lease_expires_at) == (
            CallbackStatus.IN_PROGRESS,
            f"advisor:{callback.advisor}",
            HUNG_UP + OUTCOME_TIMEOUT,
        )
        assert callback.attempt().duration_s == 200.0
        advisor = callback.advisor_row()
        # Wrapping up, and given nothing new until they have said how it went.
        assert (advisor.state, advisor.ready_at) == (AdvisorState.WRAP_UP, None)

    def test_the_worker_has_let_go(self, callback: Callback) -> None:
        callback.dial()
        callback.hang_up()
        with pytest.raises(LeaseLost), callback.database.transaction() as session:
            renew_lease(session, callback.id, HUNG_UP, owner=WORKER, lease=LEASE)
        with pytest.raises(LeaseLost), callback.database.transaction() as session:
            finish_attempt(
                session,
                callback.id,
                1,
                AttemptResult.NO_ANSWER,
                HUNG_UP,
                owner=WORKER,
                policy=callback.policy,
                calendar=callback.calendar,
            )
        assert callback.request().lease_owner == f"advisor:{callback.advisor}"

    def test_the_advisor_gets_no_new_callback_until_they_record_this_one(
        self, callback: Callback
    ) -> None:
        """Their wrap-up ends, but they still hold this callback."""
        callback.dial()
        callback.hang_up()
        with callback.database.transaction() as session:
            set_advisor_state(session, callback.colleague, AdvisorState.OFFLINE, HUNG_UP)
            add_callback(session, number(2), entered=T0)
        later = HUNG_UP + WRAP_UP + timedelta(minutes=1)
        with callback.database.transaction() as session:
            assert claim_next_callback(session, None, later, owner=WORKER, lease=LEASE) is None
        callback.record(AttemptResult.REACHED, later)
        with callback.database.transaction() as session:
            after = later + WRAP_UP
            claimed = claim_next_callback(session, None, after, owner=WORKER, lease=LEASE)
        assert claimed is not None and claimed.advisor_id == callback.advisor

    def test_a_worker_letting_go_late_leaves_the_advisor_with_their_next_callback(
        self, callback: Callback
    ) -> None:
        """The advisor recorded the outcome before the worker handed the call over, and
        was given the next callback at once; the worker then lets go (its wrap-up call
        comes late). The advisor stays busy with the new one and is given no third."""
        callback.dial()
        said = DIALLED + timedelta(minutes=3)
        callback.record(AttemptResult.REACHED, said)
        with callback.database.transaction() as session:
            set_advisor_state(session, callback.colleague, AdvisorState.OFFLINE, said)
            add_callback(session, number(2), entered=T0)
            add_callback(session, number(3), entered=T0 + timedelta(minutes=1))
        after = said + WRAP_UP
        with callback.database.transaction() as session:
            second = claim_next_callback(session, None, after, owner=WORKER, lease=LEASE)
        assert second is not None and second.advisor_id == callback.advisor
        with callback.database.transaction() as session:
            begin_wrap_up(session, callback.advisor, after, WRAP_UP)
        assert callback.advisor_row().state is AdvisorState.BUSY
        much_later = after + 10 * WRAP_UP
        with callback.database.transaction() as session:
            third = claim_next_callback(session, None, much_later, owner=WORKER, lease=LEASE)
        assert third is None


class TestRecordOutcome:
    def test_reached_completes_the_callback_with_its_coding(self, callback: Callback) -> None:
        callback.dial()
        callback.hang_up()
        recorded = HUNG_UP + timedelta(seconds=30)
        closed = callback.record(AttemptResult.REACHED, recorded)
        assert closed == AttemptClosed(CallbackStatus.COMPLETED, None)
        request = callback.request()
        assert (request.status, request.closed_at, request.lease_owner, request.advisor_id) == (
            CallbackStatus.COMPLETED,
            recorded,
            None,
            None,
        )
        attempt = callback.attempt()
        assert (attempt.result, attempt.duration_s, attempt.reason, attempt.resolution) == (
            AttemptResult.REACHED,
            200.0,  # the call's length, not the time until the advisor wrote it down
            ReasonCategory.HEALTH,
            Resolution.NO_SERVICE_NEED,
        )
        assert callback.kinds()[-3:] == [
            EventKind.CALLBACK_ATTEMPT_ENDED,
            EventKind.CALLBACK_COMPLETED,
            EventKind.CONTACT_CODED,
        ]
        with callback.database.transaction() as session:
            coded = session.scalars(
                select(CallEvent).where(CallEvent.kind == EventKind.CONTACT_CODED)
            ).one()
        assert coded.data == {
            "channel": "callback",
            "reason": "health",
            "referral": "own_services",
            "resolution": "no_service_need",
            "advisor_id": callback.advisor,
        }

    def test_the_wrap_up_runs_from_the_record_or_the_hang_up_whichever_ends_later(
        self, callback: Callback
    ) -> None:
        """The wrap-up began at the hang-up; recording the outcome gives a full one from
        then, and never cuts the one already running."""
        callback.dial()
        callback.hang_up()
        callback.record(AttemptResult.REACHED, HUNG_UP + timedelta(seconds=5))
        advisor = callback.advisor_row()
        assert (advisor.state, advisor.ready_at) == (
            AdvisorState.WRAP_UP,
            HUNG_UP + timedelta(seconds=65),
        )

    def test_no_answer_after_all_is_retried_under_the_policy(self, callback: Callback) -> None:
        callback.dial()
        callback.hang_up()
        closed = callback.record(AttemptResult.NO_ANSWER, HUNG_UP, coding=None)
        retry_at = HUNG_UP + callback.policy.spacing
        assert closed == AttemptClosed(CallbackStatus.PENDING, retry_at)
        request = callback.request()
        assert (request.status, request.next_attempt_at, request.lease_owner) == (
            CallbackStatus.PENDING,
            retry_at,
            None,
        )
        assert EventKind.CONTACT_CODED not in callback.kinds()

    def test_a_wrong_number_closes_the_callback(self, callback: Callback) -> None:
        callback.dial()
        callback.hang_up()
        closed = callback.record(AttemptResult.WRONG_NUMBER, HUNG_UP, coding=None)
        assert closed == AttemptClosed(CallbackStatus.WRONG_NUMBER, None)
        assert callback.request().closed_reason == "wrong number"
        assert callback.kinds()[-1] is EventKind.CALLBACK_WRONG_NUMBER

    def test_the_advisors_word_outranks_the_workers_lease(self, callback: Callback) -> None:
        """Still on the line as far as the worker knows, the advisor says it is done: the
        attempt ends now, and the worker finds out at its next step."""
        callback.dial()
        said = DIALLED + timedelta(minutes=3)
        closed = callback.record(AttemptResult.REACHED, said)
        assert closed.status is CallbackStatus.COMPLETED
        assert callback.attempt().duration_s == 180.0  # from the dial, as nobody else knew
        with pytest.raises(LeaseLost), callback.database.transaction() as session:
            renew_lease(session, callback.id, said, owner=WORKER, lease=LEASE)
        with pytest.raises(LeaseLost), callback.database.transaction() as session:
            await_outcome(
                session,
                callback.id,
                1,
                said,
                owner=WORKER,
                until=said + OUTCOME_TIMEOUT,
                duration_s=181.0,
            )
        assert callback.request().status is CallbackStatus.COMPLETED
        assert callback.kinds().count(EventKind.CALLBACK_ATTEMPT_ENDED) == 1


class TestRefusals:
    """Each refusal raises before anything is written: every row stays as it was."""

    def test_another_advisor_is_refused(self, callback: Callback) -> None:
        callback.dial()
        callback.hang_up()
        before = callback.everything()
        with pytest.raises(NotYourAssignment):
            callback.record(AttemptResult.REACHED, HUNG_UP, advisor=callback.colleague)
        assert callback.everything() == before

    def test_an_unknown_callback_is_named(self, callback: Callback) -> None:
        before = callback.everything()
        with pytest.raises(UnknownCallback):
            callback.record(AttemptResult.REACHED, HUNG_UP, callback_id=999)
        assert callback.everything() == before

    def test_nothing_to_say_before_the_resident_is_dialled(self, callback: Callback) -> None:
        before = callback.everything()
        with pytest.raises(OutcomeNotAllowed, match="not been dialled"):
            callback.record(AttemptResult.REACHED, DIALLED)
        assert callback.everything() == before

    def test_nothing_more_to_say_once_the_attempt_ended(self, callback: Callback) -> None:
        callback.dial()
        callback.hang_up()
        callback.record(AttemptResult.REACHED, HUNG_UP)
        before = callback.everything()
        for result in (AttemptResult.REACHED, AttemptResult.NO_ANSWER):
            with pytest.raises(OutcomeNotAllowed, match="over"):
                callback.record(result, HUNG_UP + timedelta(minutes=1))
        assert callback.everything() == before

    def test_reached_needs_the_coding(self, callback: Callback) -> None:
        callback.dial()
        callback.hang_up()
        before = callback.everything()
        with pytest.raises(OutcomeNotAllowed, match="coding"):
            callback.record(AttemptResult.REACHED, HUNG_UP, coding=None)
        assert callback.everything() == before

    def test_only_an_advisors_outcomes_are_taken(self, callback: Callback) -> None:
        """Busy, machine, congestion… are the telephony's to say, not the advisor's."""
        callback.dial()
        before = callback.everything()
        for result in (AttemptResult.BUSY, AttemptResult.MACHINE, AttemptResult.INTERRUPTED):
            with pytest.raises(ValueError, match="advisor records"):
                callback.record(result, HUNG_UP)
        assert callback.everything() == before


class TestCoding:
    CODING = Coding(ReasonCategory.HEALTH, Referral.OWN_SERVICES, Resolution.SIMPLE_NEED)

    def test_a_callback_conversation_is_coded_on_the_attempt_and_in_the_log(
        self, callback: Callback
    ) -> None:
        ended = T0 + timedelta(minutes=6)
        with callback.database.transaction() as session:
            finish_attempt(
                session,
                callback.id,
                1,
                AttemptResult.REACHED,
                ended,
                owner=WORKER,
                policy=callback.policy,
                calendar=callback.calendar,
                duration_s=42.0,
            )
        with callback.database.transaction() as session:
            record_callback_coding(session, callback.id, 1, self.CODING, ended)
        attempt = callback.attempt()
        assert (attempt.reason, attempt.referral, attempt.resolution) == (
            ReasonCategory.HEALTH,
            Referral.OWN_SERVICES,
            Resolution.SIMPLE_NEED,
        )
        (coded,) = callback.events(EventKind.CONTACT_CODED)
        assert coded.data == {
            "channel": "callback",
            "reason": "health",
            "referral": "own_services",
            "resolution": "simple_need",
            "advisor_id": callback.advisor,
        }
        assert (coded.at, coded.topic, coded.language, coded.call_id) == (
            ended,
            "health",
            "fi",
            None,
        )

    def test_a_live_call_is_coded_in_the_log(self, database: Database) -> None:
        with database.transaction() as session:
            session.add(
                Call(id="call-1", provider="sim", started_at=T0, withheld=False, updated_at=T0)
            )
            session.flush()
            record_call_coding(session, "call-1", "social", "sv", self.CODING, "social-1", T0)
        with database.transaction() as session:
            coded = session.scalars(select(CallEvent)).one()
        assert (coded.kind, coded.call_id, coded.callback_id, coded.topic, coded.language) == (
            EventKind.CONTACT_CODED,
            "call-1",
            None,
            "social",
            "sv",
        )
        assert coded.data["channel"] == "call"
        assert coded.data["advisor_id"] == "social-1"


# -- a slow worker against the reaper (PostgreSQL) ---------------------------------------------


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
@pytest.mark.parametrize("late_word", ["worker", "advisor"])
def test_a_word_that_arrives_while_the_reaper_takes_the_callback_back_is_refused(
    callback: Callback, late_word: str
) -> None:
    """The reaper is returning an expired lease (not yet committed) when the worker's
    "no answer", or the advisor's outcome, comes in. It must wait and then be refused:
    one end per attempt, and the reaper's "back in line" stands."""
    callback.dial()
    expired = T0 + LEASE + timedelta(seconds=1)
    outcome: list[BaseException | None] = []

    def late() -> None:
        try:
            if late_word == "advisor":
                callback.record(AttemptResult.NO_ANSWER, expired, coding=None)
            else:
                with callback.database.transaction() as session:
                    finish_attempt(
                        session,
                        callback.id,
                        1,
                        AttemptResult.NO_ANSWER,
                        expired,
                        owner=WORKER,
                        policy=callback.policy,
                        calendar=callback.calendar,
                    )
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with callback.database.transaction() as session:
        released = release_expired_leases(
            session, expired, policy=callback.policy, calendar=callback.calendar
        )
        assert [r.callback_id for r in released] == [callback.id]
        word = threading.Thread(target=late)
        word.start()
        wait_until_someone_waits_for_a_lock(callback.database)
    word.join(10)
    assert len(outcome) == 1
    assert isinstance(outcome[0], LeaseLost | OutcomeNotAllowed), outcome[0]
    request = callback.request()
    assert (request.status, request.next_attempt_at, request.attempts) == (
        CallbackStatus.PENDING,
        expired,
        1,
    )
    assert callback.attempt().result is AttemptResult.INTERRUPTED
    assert callback.kinds().count(EventKind.CALLBACK_ATTEMPT_ENDED) == 1


@ON_POSTGRESQL  # row locks; SQLite runs one writer at a time
def test_a_late_let_go_waiting_on_a_claim_sees_the_callback_it_gave(
    callback: Callback,
) -> None:
    """The advisor has recorded the outcome; a claim is giving them the next callback
    (not yet committed) when the worker's late let-go asks for their wrap-up. It waits
    for the claim, and then must see that they hold a callback again: had it looked
    before the wait, it would have made them ready while they hold one."""
    callback.dial()
    said = DIALLED + timedelta(minutes=3)
    callback.record(AttemptResult.REACHED, said)
    with callback.database.transaction() as session:
        set_advisor_state(session, callback.colleague, AdvisorState.OFFLINE, said)
        add_callback(session, number(2), entered=T0)
    after = said + WRAP_UP
    failure: list[BaseException] = []

    def let_go() -> None:
        try:
            with callback.database.transaction() as session:
                begin_wrap_up(session, callback.advisor, after, WRAP_UP)
        except BaseException as exc:
            failure.append(exc)

    with callback.database.transaction() as session:
        claimed = claim_next_callback(session, None, after, owner=WORKER, lease=LEASE)
        assert claimed is not None and claimed.advisor_id == callback.advisor
        late = threading.Thread(target=let_go)
        late.start()
        wait_until_someone_waits_for_a_lock(callback.database)
    late.join(10)
    assert failure == []
    assert callback.advisor_row().state is AdvisorState.BUSY
