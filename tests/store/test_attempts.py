"""A claimed callback's attempt: dialled once, ended, retried in the dialling window, or closed.

Every step runs on both databases; the lease decides who may touch a request,
and each transition leaves an event in the log that reports read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.vocabulary import AttemptResult, CallbackStatus, EventKind
from callflow.errors import LeaseLost
from callflow.store.attempts import (
    AttemptClosed,
    RetryPolicy,
    finish_attempt,
    mark_dialled,
    renew_lease,
)
from callflow.store.callbacks import cancel_callback
from callflow.store.claims import ClaimedCallback, claim_next_callback
from callflow.store.models import Advisor, AdvisorState, CallbackAttempt, CallbackRequest, CallEvent
from callflow.store.session import Database
from tests.store.helpers import T0, add_advisor, add_callback, number

HELSINKI = ZoneInfo("Europe/Helsinki")
OWNER = "host-1:42"
LEASE = timedelta(seconds=90)
NOT_REACHED = (
    AttemptResult.NO_ANSWER,
    AttemptResult.BUSY,
    AttemptResult.FAILED,
    AttemptResult.CONGESTION,
    AttemptResult.MACHINE,
)


def helsinki(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HELSINKI).astimezone(UTC)


@pytest.fixture
def calendar(config: HotlineConfig) -> Calendar:
    return Calendar.from_config(config)


@pytest.fixture
def policy(config: HotlineConfig) -> RetryPolicy:
    """The example line's rule: 3 attempts, 30 minutes apart, dialled 09:00–14:45."""
    retry = config.callbacks.retry
    return RetryPolicy(
        retry.attempts,
        retry.spacing,
        (retry.allowed_hours.start_minute, retry.allowed_hours.end_minute),
    )


class CallbackRig:
    """One request, advisors to work it, and the store calls a dispatcher makes."""

    def __init__(
        self,
        database: Database,
        calendar: Calendar,
        policy: RetryPolicy,
        entered: datetime,
        *,
        serial: int = 1,
    ) -> None:
        self.database = database
        self.calendar = calendar
        self.policy = policy
        with database.transaction() as session:
            self.advisors = [add_advisor(session, f"nurse-{serial}-{i}") for i in range(2)]
            self.callback_id = add_callback(session, number(serial), entered=entered)

    def claim(self, now: datetime, *, advisor: int = 0, owner: str = OWNER) -> ClaimedCallback:
        with self.database.transaction() as session:
            claimed = claim_next_callback(
                session, self.advisors[advisor], now, owner=owner, lease=LEASE
            )
        assert claimed is not None, "nothing to claim"
        return claimed

    def can_claim(self, now: datetime) -> bool:
        with self.database.transaction() as session:
            return (
                claim_next_callback(session, self.advisors[0], now, owner=OWNER, lease=LEASE)
                is not None
            )

    def dial(self, attempt_no: int, now: datetime, *, owner: str = OWNER) -> None:
        with self.database.transaction() as session:
            mark_dialled(session, self.callback_id, attempt_no, now, owner=owner)

    def finish(
        self,
        attempt_no: int,
        result: AttemptResult,
        now: datetime,
        *,
        owner: str = OWNER,
        wrap_up: timedelta = timedelta(0),
    ) -> AttemptClosed:
        with self.database.transaction() as session:
            return finish_attempt(
                session,
                self.callback_id,
                attempt_no,
                result,
                now,
                owner=owner,
                policy=self.policy,
                calendar=self.calendar,
                duration_s=42.0 if result is AttemptResult.REACHED else 0.0,
                wrap_up=wrap_up,
            )

    def request(self) -> CallbackRequest:
        with self.database.transaction() as session:
            request = session.get(CallbackRequest, self.callback_id)
            assert request is not None
            return request

    def advisor(self, index: int = 0) -> Advisor:
        with self.database.transaction() as session:
            advisor = session.get(Advisor, self.advisors[index])
            assert advisor is not None
            return advisor

    def attempt(self, attempt_no: int) -> CallbackAttempt:
        with self.database.transaction() as session:
            return session.scalars(
                select(CallbackAttempt).where(
                    CallbackAttempt.callback_id == self.callback_id,
                    CallbackAttempt.attempt_no == attempt_no,
                )
            ).one()

    def events(self, *kinds: EventKind) -> list[CallEvent]:
        with self.database.transaction() as session:
            found = session.scalars(
                select(CallEvent)
                .where(CallEvent.callback_id == self.callback_id)
                .order_by(CallEvent.id)
            ).all()
        return [e for e in found if not kinds or e.kind in kinds]

    def cancel(self, now: datetime) -> None:
        with self.database.transaction() as session:
            cancel_callback(session, self.callback_id, now, "cancelled by caller")

    def return_to_queue(self) -> None:
        """What a sweep of expired leases would do: the request is pending again."""
        with self.database.transaction() as session:
            session.execute(
                text(
                    "UPDATE callback_requests SET status = 'pending', advisor_id = NULL, "
                    "lease_owner = NULL, lease_expires_at = NULL WHERE id = :id"
                ),
                {"id": self.callback_id},
            )


@pytest.fixture
def rig(database: Database, calendar: Calendar, policy: RetryPolicy) -> CallbackRig:
    """A health request made at Monday 09:50, Helsinki; T0 is 10:00 the same day."""
    return CallbackRig(database, calendar, policy, T0 - timedelta(minutes=10))


class TestMarkDialled:
    def test_the_dial_is_recorded_and_logged(self, rig: CallbackRig) -> None:
        """The instant the resident is dialled is when the callback was made."""
        claimed = rig.claim(T0)
        rig.dial(claimed.attempt_no, T0 + timedelta(seconds=10))
        assert rig.attempt(1).dialled_at == T0 + timedelta(seconds=10)
        (dialled,) = rig.events(EventKind.CALLBACK_DIALLED)
        assert dialled.at == T0 + timedelta(seconds=10)
        assert dialled.data == {"attempt_no": 1, "advisor_id": rig.advisors[0]}
        assert (dialled.callback_id, dialled.topic, dialled.language, dialled.call_id) == (
            rig.callback_id,
            "health",
            "fi",
            None,
        )

    def test_one_attempt_dials_once(self, rig: CallbackRig) -> None:
        """A repeated dial for the same attempt (a retried request, a duplicate webhook) is
        refused: the resident's phone rings once per attempt."""
        rig.claim(T0)
        rig.dial(1, T0)
        with pytest.raises(LeaseLost):
            rig.dial(1, T0 + timedelta(seconds=5))
        assert rig.attempt(1).dialled_at == T0
        assert len(rig.events(EventKind.CALLBACK_DIALLED)) == 1

    def test_a_worker_without_the_lease_cannot_dial(self, rig: CallbackRig) -> None:
        rig.claim(T0)
        with pytest.raises(LeaseLost):
            rig.dial(1, T0, owner="host-2:7")
        assert rig.attempt(1).dialled_at is None
        assert rig.events(EventKind.CALLBACK_DIALLED) == []

    def test_an_attempt_never_claimed_cannot_be_dialled(self, rig: CallbackRig) -> None:
        rig.claim(T0)
        with pytest.raises(LeaseLost, match="never claimed"):
            rig.dial(2, T0)


class TestReached:
    def test_a_reached_resident_completes_the_request(self, rig: CallbackRig) -> None:
        """Reached is final: the request is closed, the lease and the advisor released."""
        rig.claim(T0)
        rig.dial(1, T0)
        ended = T0 + timedelta(minutes=7)
        closed = rig.finish(1, AttemptResult.REACHED, ended)
        assert closed == AttemptClosed(CallbackStatus.COMPLETED, None)
        request = rig.request()
        assert (request.status, request.closed_at, request.next_attempt_at) == (
            CallbackStatus.COMPLETED,
            ended,
            None,
        )
        assert (request.lease_owner, request.lease_expires_at, request.advisor_id) == (
            None,
            None,
            None,
        )
        attempt = rig.attempt(1)
        assert (attempt.result, attempt.ended_at, attempt.duration_s) == (
            AttemptResult.REACHED,
            ended,
            42.0,
        )
        kinds = [e.kind for e in rig.events()]
        assert kinds[-2:] == [EventKind.CALLBACK_ATTEMPT_ENDED, EventKind.CALLBACK_COMPLETED]
        attempt_ended, completed = rig.events()[-2:]
        assert attempt_ended.data == {
            "attempt_no": 1,
            "result": "reached",
            "duration_s": 42.0,
            "next_attempt_at": None,
        }
        assert completed.data == {"attempt_no": 1}
        assert completed.at == ended

    def test_the_advisor_is_free_for_the_next_request(self, rig: CallbackRig) -> None:
        rig.claim(T0)
        rig.finish(1, AttemptResult.REACHED, T0 + timedelta(minutes=7))
        with rig.database.transaction() as session:
            add_callback(session, number(2), entered=T0)
        assert rig.can_claim(T0 + timedelta(minutes=8))


class TestWrongNumber:
    def test_a_wrong_number_closes_the_request_without_retry(self, rig: CallbackRig) -> None:
        rig.claim(T0)
        rig.dial(1, T0)
        closed = rig.finish(1, AttemptResult.WRONG_NUMBER, T0 + timedelta(seconds=30))
        assert closed == AttemptClosed(CallbackStatus.WRONG_NUMBER, None)
        assert rig.request().status is CallbackStatus.WRONG_NUMBER
        (final,) = rig.events(EventKind.CALLBACK_WRONG_NUMBER)
        assert final.data == {"attempt_no": 1}
        assert rig.events(EventKind.CALLBACK_COMPLETED) == []
        assert not rig.can_claim(T0 + timedelta(days=1))


class TestNotReached:
    def test_retried_after_the_spacing_and_never_completed(
        self, database: Database, calendar: Calendar, policy: RetryPolicy
    ) -> None:
        """No answer, busy, a failed or congested line, a voicemail: the request is not
        completed (an answering machine never is) but waits the configured 30 minutes,
        then any advisor may claim the next attempt."""
        for serial, result in enumerate(NOT_REACHED, start=1):
            rig = CallbackRig(database, calendar, policy, T0 - timedelta(minutes=10), serial=serial)
            rig.claim(T0)
            rig.dial(1, T0)
            ended = T0 + timedelta(seconds=40)
            closed = rig.finish(1, result, ended)
            retry_at = ended + timedelta(minutes=30)
            assert closed == AttemptClosed(CallbackStatus.PENDING, retry_at), result
            request = rig.request()
            assert (request.status, request.next_attempt_at, request.lease_owner) == (
                CallbackStatus.PENDING,
                retry_at,
                None,
            )
            assert rig.events(EventKind.CALLBACK_COMPLETED) == []
            (attempt_ended,) = rig.events(EventKind.CALLBACK_ATTEMPT_ENDED)
            assert attempt_ended.data["result"] == result.value
            assert datetime.fromisoformat(attempt_ended.data["next_attempt_at"]) == retry_at
            assert not rig.can_claim(retry_at - timedelta(seconds=1))
            assert rig.claim(retry_at).attempt_no == 2
            rig.finish(2, AttemptResult.REACHED, retry_at)  # the advisors are free again

    def test_the_retry_is_the_first_instant_in_the_window_after_the_spacing(
        self, database: Database, calendar: Calendar, policy: RetryPolicy
    ) -> None:
        """Never sooner than the 30-minute spacing, and only on an open day inside the
        dialling hours (09:00–14:45; on New Year's Eve the line closes at 12:00)."""
        cases = {
            "fits the day": (helsinki(2026, 1, 12, 14, 10), helsinki(2026, 1, 12, 14, 40)),
            "past the window": (helsinki(2026, 1, 12, 14, 20), helsinki(2026, 1, 13, 9)),
            "ended after the window": (helsinki(2026, 1, 12, 14, 50), helsinki(2026, 1, 13, 9)),
            "Friday to Monday": (helsinki(2026, 1, 16, 14, 20), helsinki(2026, 1, 19, 9)),
            "over Epiphany": (helsinki(2026, 1, 5, 14, 30), helsinki(2026, 1, 7, 9)),
            "New Year's Eve": (helsinki(2026, 12, 31, 11, 40), helsinki(2027, 1, 4, 9)),
        }
        retries = {}
        for serial, (ended, _) in enumerate(cases.values(), start=1):
            rig = CallbackRig(
                database, calendar, policy, ended - timedelta(minutes=20), serial=serial
            )
            rig.claim(ended - timedelta(minutes=5))
            retries[serial] = rig.finish(1, AttemptResult.NO_ANSWER, ended).next_attempt_at
            rig.cancel(ended)  # out of the way of the next case's claim
        expected = {serial: retry for serial, (_, retry) in enumerate(cases.values(), start=1)}
        assert retries == expected

    def test_the_last_attempt_fails_the_request(self, rig: CallbackRig) -> None:
        """After the configured three attempts the request is closed as failed, not
        retried for ever."""
        now = T0
        for attempt_no in (1, 2):
            assert rig.claim(now).attempt_no == attempt_no
            closed = rig.finish(attempt_no, AttemptResult.NO_ANSWER, now + timedelta(seconds=30))
            assert closed.status is CallbackStatus.PENDING and closed.next_attempt_at is not None
            now = closed.next_attempt_at
        assert rig.claim(now).attempt_no == 3
        closed = rig.finish(3, AttemptResult.BUSY, now + timedelta(seconds=5))
        assert closed == AttemptClosed(CallbackStatus.FAILED, None)
        request = rig.request()
        assert (request.status, request.closed_at, request.next_attempt_at) == (
            CallbackStatus.FAILED,
            now + timedelta(seconds=5),
            None,
        )
        (failed,) = rig.events(EventKind.CALLBACK_FAILED)
        assert failed.data == {"attempts": 3}
        assert not rig.can_claim(now + timedelta(days=1))


class TestInterrupted:
    def test_an_interrupted_attempt_returns_the_request_at_once(self, rig: CallbackRig) -> None:
        """The worker stopped mid-attempt: the request is back in line now, for anyone."""
        rig.claim(T0)
        stopped = T0 + timedelta(seconds=3)
        closed = rig.finish(1, AttemptResult.INTERRUPTED, stopped)
        assert closed == AttemptClosed(CallbackStatus.PENDING, stopped)
        assert rig.request().status is CallbackStatus.PENDING
        assert rig.claim(stopped, advisor=1).attempt_no == 2

    def test_an_interrupted_attempt_does_not_count(self, rig: CallbackRig) -> None:
        """The resident still gets three real tries after an interruption."""
        rig.claim(T0)
        rig.finish(1, AttemptResult.INTERRUPTED, T0)
        now = T0
        for attempt_no in (2, 3):
            rig.claim(now)
            closed = rig.finish(attempt_no, AttemptResult.NO_ANSWER, now)
            assert closed.status is CallbackStatus.PENDING and closed.next_attempt_at is not None
            now = closed.next_attempt_at
        rig.claim(now)
        assert rig.finish(4, AttemptResult.NO_ANSWER, now).status is CallbackStatus.FAILED


class TestLease:
    def test_the_holder_renews_its_lease_and_no_one_else_can(self, rig: CallbackRig) -> None:
        rig.claim(T0)
        later = T0 + timedelta(minutes=4)
        with rig.database.transaction() as session:
            renew_lease(session, rig.callback_id, later, owner=OWNER, lease=LEASE)
        assert rig.request().lease_expires_at == later + LEASE
        with rig.database.transaction() as session, pytest.raises(LeaseLost):
            renew_lease(session, rig.callback_id, later, owner="host-2:7", lease=LEASE)
        assert rig.request().lease_owner == OWNER

    def test_another_worker_cannot_end_the_attempt(self, rig: CallbackRig) -> None:
        """A worker that does not hold the lease changes nothing, even if its transaction
        goes on to commit."""
        rig.claim(T0)
        with rig.database.transaction() as session, pytest.raises(LeaseLost):
            finish_attempt(
                session,
                rig.callback_id,
                1,
                AttemptResult.REACHED,
                T0,
                owner="host-2:7",
                policy=rig.policy,
                calendar=rig.calendar,
            )
        request = rig.request()
        assert (request.status, request.lease_owner) == (CallbackStatus.IN_PROGRESS, OWNER)
        assert rig.attempt(1).result is None
        assert rig.events(EventKind.CALLBACK_ATTEMPT_ENDED) == []

    def test_a_finished_attempt_cannot_be_finished_again(self, rig: CallbackRig) -> None:
        """A duplicate "call ended" does not close the request twice or change its result."""
        rig.claim(T0)
        rig.finish(1, AttemptResult.REACHED, T0 + timedelta(minutes=5))
        with pytest.raises(LeaseLost):
            rig.finish(1, AttemptResult.NO_ANSWER, T0 + timedelta(minutes=6))
        assert rig.attempt(1).result is AttemptResult.REACHED
        assert rig.request().status is CallbackStatus.COMPLETED
        assert len(rig.events(EventKind.CALLBACK_ATTEMPT_ENDED)) == 1
        assert len(rig.events(EventKind.CALLBACK_COMPLETED)) == 1

    def test_a_lease_handed_on_is_lost_to_the_old_worker(self, rig: CallbackRig) -> None:
        """Once the request went back to the queue and another worker claimed it, the slow
        worker's end of its attempt is refused and the new attempt stands."""
        rig.claim(T0)
        rig.return_to_queue()
        rig.claim(T0 + timedelta(minutes=2), advisor=1, owner="host-2:7")
        with pytest.raises(LeaseLost):
            rig.finish(1, AttemptResult.REACHED, T0 + timedelta(minutes=3))
        with pytest.raises(LeaseLost):
            rig.dial(1, T0 + timedelta(minutes=3))
        request = rig.request()
        assert (request.status, request.lease_owner) == (CallbackStatus.IN_PROGRESS, "host-2:7")

    def test_a_late_end_of_an_earlier_attempt_cannot_touch_the_current_one(
        self, rig: CallbackRig
    ) -> None:
        """One dispatcher process (one lease owner) serves many advisors: a late or
        duplicated end of attempt 1 must not close the request attempt 2 is dialling."""
        rig.claim(T0)
        rig.finish(1, AttemptResult.INTERRUPTED, T0)
        rig.claim(T0, advisor=1)
        rig.dial(2, T0 + timedelta(seconds=10))
        with pytest.raises(LeaseLost):
            rig.finish(1, AttemptResult.NO_ANSWER, T0 + timedelta(seconds=20))
        request = rig.request()
        assert (request.status, request.advisor_id) == (
            CallbackStatus.IN_PROGRESS,
            rig.advisors[1],
        )


class TestWrapUp:
    def test_the_advisor_wraps_up_before_the_next_callback(self, rig: CallbackRig) -> None:
        wrap_up = timedelta(seconds=60)
        hung_up = T0 + timedelta(minutes=4)
        rig.claim(T0)
        rig.dial(1, T0 + timedelta(seconds=10))
        rig.finish(1, AttemptResult.BUSY, hung_up, wrap_up=wrap_up)
        advisor = rig.advisor()
        assert (advisor.state, advisor.state_since, advisor.ready_at) == (
            AdvisorState.WRAP_UP,
            hung_up,
            hung_up + wrap_up,
        )
