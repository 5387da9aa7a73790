"""The scheduled jobs' store side: the lease reaper, the promise watch, closing time, the
retention purge and once-a-period claims. Each is a tick that may run twice."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.vocabulary import (
    AttemptResult,
    CallbackStatus,
    CallOutcome,
    Channel,
    EventKind,
)
from callflow.store.attempts import RetryPolicy, finish_attempt, mark_dialled, retry_policy
from callflow.store.callbacks import cancel_by_admin
from callflow.store.claims import ClaimedCallback, claim_next_callback
from callflow.store.models import (
    Advisor,
    AdvisorState,
    Call,
    CallbackAttempt,
    CallbackRequest,
    CallEvent,
    Survey,
)
from callflow.store.outcomes import await_outcome
from callflow.store.queue_places import take_place, waiting
from callflow.store.session import Database
from callflow.store.surveys import answer_survey, open_survey
from callflow.store.twilio_tables import TwilioCall, TwilioLeg, TwilioStep
from callflow.store.upkeep import (
    ESCALATED,
    Purged,
    ReleasedLease,
    carry_over_at_closing,
    claim_period,
    flag_callbacks_at_risk,
    purge_numbers,
    release_expired_leases,
)
from tests.store.helpers import T0, add_advisor, add_callback, number

WORKER = "host-1:42"
LEASE = timedelta(seconds=90)
EXPIRED = T0 + LEASE + timedelta(seconds=1)
MARGIN = timedelta(minutes=30)


@pytest.fixture
def policy(config: HotlineConfig) -> RetryPolicy:
    return retry_policy(config)


@pytest.fixture
def calendar(config: HotlineConfig) -> Calendar:
    return Calendar.from_config(config)


def claim(database: Database, now: datetime = T0) -> ClaimedCallback | None:
    with database.transaction() as session:
        return claim_next_callback(session, None, now, owner=WORKER, lease=LEASE)


def reap(
    database: Database, now: datetime, policy: RetryPolicy, calendar: Calendar
) -> list[ReleasedLease]:
    with database.transaction() as session:
        return release_expired_leases(session, now, policy=policy, calendar=calendar)


def request_row(database: Database, callback_id: int) -> CallbackRequest:
    with database.transaction() as session:
        request = session.get(CallbackRequest, callback_id)
        assert request is not None
        return request


def advisor_row(database: Database, advisor_id: int) -> Advisor:
    with database.transaction() as session:
        advisor = session.get(Advisor, advisor_id)
        assert advisor is not None
        return advisor


def events(database: Database, kind: EventKind) -> list[CallEvent]:
    with database.transaction() as session:
        return list(
            session.scalars(select(CallEvent).where(CallEvent.kind == kind).order_by(CallEvent.id))
        )


def event_count(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(CallEvent)) or 0


def set_due(database: Database, callback_id: int, due_at: datetime) -> None:
    with database.transaction() as session:
        session.execute(
            update(CallbackRequest).where(CallbackRequest.id == callback_id).values(due_at=due_at)
        )


# -- the lease reaper ------------------------------------------------------------------------


class TestReleaseExpiredLeases:
    @pytest.fixture
    def claimed(self, database: Database) -> ClaimedCallback:
        """The first of two requests in line, claimed (and dialled) by a worker at T0."""
        with database.transaction() as session:
            add_advisor(session, "nurse")
            add_callback(session, number(1), entered=T0 - timedelta(minutes=30))
            add_callback(session, number(2), entered=T0 - timedelta(minutes=10))
        claimed = claim(database)
        assert claimed is not None
        with database.transaction() as session:
            mark_dialled(session, claimed.callback_id, 1, T0, owner=WORKER)
        return claimed

    def test_a_stopped_workers_callback_goes_back_in_line_at_its_place(
        self,
        database: Database,
        policy: RetryPolicy,
        calendar: Calendar,
        claimed: ClaimedCallback,
    ) -> None:
        released = reap(database, EXPIRED, policy, calendar)
        assert released == [
            ReleasedLease(claimed.callback_id, WORKER, 1, AttemptResult.INTERRUPTED)
        ]
        request = request_row(database, claimed.callback_id)
        assert (request.status, request.next_attempt_at, request.advisor_id) == (
            CallbackStatus.PENDING,
            EXPIRED,
            None,
        )
        assert (request.lease_owner, request.lease_expires_at) == (None, None)
        with database.transaction() as session:
            attempt = session.scalars(select(CallbackAttempt)).one()
        assert (attempt.result, attempt.ended_at) == (AttemptResult.INTERRUPTED, EXPIRED)
        (logged,) = events(database, EventKind.CALLBACK_LEASE_EXPIRED)
        assert logged.callback_id == claimed.callback_id
        assert logged.data["owner"] == WORKER and logged.data["attempt_no"] == 1
        assert datetime.fromisoformat(logged.data["expired_at"]) == T0 + LEASE

        again = claim(database, EXPIRED)  # at once, and ahead of the later request
        assert again is not None
        assert (again.callback_id, again.attempt_no, again.advisor_id) == (
            claimed.callback_id,
            2,
            claimed.advisor_id,
        )

    def test_the_advisor_is_ready_again(
        self,
        database: Database,
        policy: RetryPolicy,
        calendar: Calendar,
        claimed: ClaimedCallback,
    ) -> None:
        reap(database, EXPIRED, policy, calendar)
        advisor = advisor_row(database, claimed.advisor_id)
        assert (advisor.state, advisor.ready_at) == (AdvisorState.AVAILABLE, EXPIRED)

    def test_an_interrupted_attempt_is_not_counted(
        self,
        database: Database,
        policy: RetryPolicy,
        calendar: Calendar,
        claimed: ClaimedCallback,
    ) -> None:
        """After a crash the resident still gets the policy's three real tries."""
        reap(database, EXPIRED, policy, calendar)
        now = EXPIRED
        statuses = []
        for attempt_no in range(2, 2 + policy.attempts):
            again = claim(database, now)
            assert again is not None and again.attempt_no == attempt_no
            with database.transaction() as session:
                closed = finish_attempt(
                    session,
                    again.callback_id,
                    attempt_no,
                    AttemptResult.NO_ANSWER,
                    now,
                    owner=WORKER,
                    policy=policy,
                    calendar=calendar,
                )
            statuses.append(closed.status)
            now = closed.next_attempt_at or now
        assert statuses == [CallbackStatus.PENDING] * (policy.attempts - 1) + [
            CallbackStatus.FAILED
        ]

    def test_an_unexpired_lease_is_left_alone(
        self,
        database: Database,
        policy: RetryPolicy,
        calendar: Calendar,
        claimed: ClaimedCallback,
    ) -> None:
        before = event_count(database)
        assert reap(database, T0 + LEASE, policy, calendar) == []  # expires *after* this
        request = request_row(database, claimed.callback_id)
        assert (request.status, request.lease_owner) == (CallbackStatus.IN_PROGRESS, WORKER)
        assert event_count(database) == before

    def test_an_expired_advisors_hold_is_closed_as_reached_never_dialled_again(
        self,
        database: Database,
        policy: RetryPolicy,
        calendar: Calendar,
        claimed: ClaimedCallback,
    ) -> None:
        """The resident answered; the advisor never said how it went. They were called
        back: completed, not put back in line."""
        hung_up = T0 + timedelta(minutes=3)
        with database.transaction() as session:
            await_outcome(
                session,
                claimed.callback_id,
                1,
                hung_up,
                owner=WORKER,
                until=hung_up + timedelta(minutes=15),
                duration_s=170.0,
            )
        too_late = hung_up + timedelta(minutes=15, seconds=1)
        released = reap(database, too_late, policy, calendar)
        holder = f"advisor:{claimed.advisor_id}"
        assert released == [ReleasedLease(claimed.callback_id, holder, 1, AttemptResult.REACHED)]
        request = request_row(database, claimed.callback_id)
        assert (request.status, request.closed_at, request.next_attempt_at) == (
            CallbackStatus.COMPLETED,
            too_late,
            None,
        )
        assert len(events(database, EventKind.CALLBACK_COMPLETED)) == 1
        advisor = advisor_row(database, claimed.advisor_id)
        assert (advisor.state, advisor.ready_at) == (AdvisorState.WRAP_UP, too_late)
        after = claim(database, too_late + timedelta(days=1))
        assert after is not None and after.callback_id != claimed.callback_id

    def test_running_it_twice_changes_nothing_the_second_time(
        self,
        database: Database,
        policy: RetryPolicy,
        calendar: Calendar,
        claimed: ClaimedCallback,
    ) -> None:
        reap(database, EXPIRED, policy, calendar)
        before = (request_row(database, claimed.callback_id).updated_at, event_count(database))
        assert reap(database, EXPIRED + timedelta(seconds=1), policy, calendar) == []
        after = (request_row(database, claimed.callback_id).updated_at, event_count(database))
        assert after == before


# -- the promise watch -----------------------------------------------------------------------


class TestFlagCallbacksAtRisk:
    def test_due_soon_or_overdue_is_flagged_escalated_and_served_first(
        self, database: Database
    ) -> None:
        with database.transaction() as session:
            add_advisor(session, "nurse")
            safe = add_callback(session, number(1), entered=T0 - timedelta(hours=2))
            soon = add_callback(session, number(2), entered=T0 - timedelta(minutes=5))
            overdue = add_callback(session, number(3), entered=T0 - timedelta(minutes=1))
            finished = add_callback(session, number(4), entered=T0 - timedelta(hours=3))
            session.execute(
                update(CallbackRequest)
                .where(CallbackRequest.id == finished)
                .values(status=CallbackStatus.COMPLETED, closed_at=T0)
            )
        set_due(database, safe, T0 + MARGIN + timedelta(seconds=1))
        set_due(database, soon, T0 + MARGIN)
        set_due(database, overdue, T0 - timedelta(hours=1))
        set_due(database, finished, T0 - timedelta(hours=1))
        with database.transaction() as session:
            flagged = flag_callbacks_at_risk(session, T0, MARGIN)
        assert sorted(flagged) == sorted([soon, overdue])
        for callback_id in (soon, overdue):
            request = request_row(database, callback_id)
            assert (request.at_risk_at, request.deadline_class) == (T0, ESCALATED)
        assert request_row(database, safe).at_risk_at is None
        assert request_row(database, finished).at_risk_at is None
        logged = events(database, EventKind.CALLBACK_AT_RISK)
        assert sorted(e.callback_id for e in logged if e.callback_id) == sorted(flagged)
        first = claim(database)  # the safe one queued earliest, but waits
        assert first is not None and first.callback_id == soon

    def test_a_flag_is_raised_once(self, database: Database) -> None:
        with database.transaction() as session:
            callback_id = add_callback(session, number(1))
        set_due(database, callback_id, T0)
        with database.transaction() as session:
            assert flag_callbacks_at_risk(session, T0, MARGIN) == [callback_id]
        later = T0 + timedelta(minutes=5)
        with database.transaction() as session:
            assert flag_callbacks_at_risk(session, later, MARGIN) == []
        assert request_row(database, callback_id).at_risk_at == T0
        assert len(events(database, EventKind.CALLBACK_AT_RISK)) == 1


# -- closing time ------------------------------------------------------------------------------


class TestCarryOverAtClosing:
    def test_what_ran_out_today_is_carried_over_late_and_escalated(
        self, database: Database
    ) -> None:
        closing = T0 + timedelta(hours=5)
        with database.transaction() as session:
            ran_out = add_callback(session, number(1), entered=T0 - timedelta(hours=1))
            tomorrow = add_callback(session, number(2), entered=T0)
        set_due(database, ran_out, closing)
        set_due(database, tomorrow, closing + timedelta(days=1))
        with database.transaction() as session:
            assert carry_over_at_closing(session, closing) == [ran_out]
        request = request_row(database, ran_out)
        assert (request.status, request.late, request.deadline_class, request.due_at) == (
            CallbackStatus.PENDING,
            True,
            ESCALATED,
            closing,
        )
        untouched = request_row(database, tomorrow)
        assert (untouched.late, untouched.deadline_class) == (False, 1)
        (logged,) = events(database, EventKind.CALLBACK_CARRIED_OVER)
        assert logged.callback_id == ran_out
        assert datetime.fromisoformat(logged.data["due_at"]) == closing

    def test_twice_is_once(self, database: Database) -> None:
        with database.transaction() as session:
            callback_id = add_callback(session, number(1))
        set_due(database, callback_id, T0)
        with database.transaction() as session:
            assert carry_over_at_closing(session, T0) == [callback_id]
        with database.transaction() as session:
            assert carry_over_at_closing(session, T0 + timedelta(minutes=1)) == []
        assert len(events(database, EventKind.CALLBACK_CARRIED_OVER)) == 1


# -- the retention purge -----------------------------------------------------------------------

RETENTION = timedelta(days=30)
PURGE_AT = T0 + timedelta(days=60)
CUTOFF = PURGE_AT - RETENTION


def add_call(database: Database, call_id: str, ended_at: datetime | None, **fields: Any) -> None:
    started = (ended_at or CUTOFF) - timedelta(minutes=5)
    row = {
        "id": call_id,
        "provider": "sim",
        "started_at": started,
        "ended_at": ended_at,
        "caller_e164": number(900),
        "flow_state": {"caller_e164": "+358401234567"},
        "updated_at": started,
        **fields,
    }
    with database.transaction() as session:
        session.execute(insert(Call), row)  # as the buffered journal writes them


def close(database: Database, callback_id: int, closed_at: datetime) -> None:
    with database.transaction() as session:
        session.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == callback_id)
            .values(status=CallbackStatus.COMPLETED, closed_at=closed_at)
        )


class TestPurgeNumbers:
    def test_old_finished_numbers_are_erased_and_the_rest_kept(self, database: Database) -> None:
        with database.transaction() as session:
            old_done = add_callback(session, number(1), entered=T0)
            recent_done = add_callback(session, number(2), entered=T0)
            old_open = add_callback(session, number(3), entered=T0)
        close(database, old_done, CUTOFF - timedelta(seconds=1))
        close(database, recent_done, CUTOFF + timedelta(seconds=1))
        add_call(database, "old", CUTOFF - timedelta(seconds=1))
        add_call(database, "recent", CUTOFF + timedelta(seconds=1))
        add_call(database, "still-on", None, updated_at=CUTOFF + timedelta(seconds=1))
        with database.transaction() as session:
            session.execute(
                insert(CallEvent),
                {"at": T0, "kind": EventKind.CALL_ARRIVED, "call_id": "old", "data": {}},
            )
        events_before = event_count(database)

        with database.transaction() as session:
            purged = purge_numbers(session, PURGE_AT, RETENTION)
        assert purged == Purged(
            callback_numbers=1,
            call_numbers=1,
            unfinished_calls=0,
            twilio_steps=0,
            queue_places=0,
            survey_numbers=0,
        )
        numbers = {
            c: request_row(database, c).number_e164 for c in (old_done, recent_done, old_open)
        }
        assert numbers == {old_done: None, recent_done: number(2), old_open: number(3)}
        erased = request_row(database, old_done)
        assert (erased.status, erased.topic, erased.queue_entered_at) == (
            CallbackStatus.COMPLETED,
            "health",
            T0,
        )
        with database.transaction() as session:
            calls = {
                c.id: (c.caller_e164 is None, c.flow_state is None, c.ended_at is not None)
                for c in session.scalars(select(Call))
            }
        assert calls == {
            "old": (True, True, True),
            "recent": (False, False, True),
            "still-on": (False, False, False),
        }
        assert event_count(database) == events_before

    def test_a_second_purge_finds_nothing_more(self, database: Database) -> None:
        """A call with a number but no flow state (the simulator's), one with a flow state
        but no number (withheld), one never ended and its Twilio step: each is erased
        once, and the next night finds nothing."""
        with database.transaction() as session:
            done = add_callback(session, number(1), entered=T0)
        close(database, done, CUTOFF - timedelta(days=1))
        add_call(database, "with-state", CUTOFF - timedelta(days=1))
        add_call(database, "simulated", CUTOFF - timedelta(days=1), flow_state=None)
        add_call(database, "withheld", CUTOFF - timedelta(days=1), caller_e164=None)
        add_call(database, "never-ended", None, updated_at=CUTOFF - timedelta(days=1))
        add_twilio_step(database, "never-ended", "<Response/>", CUTOFF - timedelta(days=1))
        with database.transaction() as session:
            first = purge_numbers(session, PURGE_AT, RETENTION)
        assert first == Purged(
            callback_numbers=1,
            call_numbers=4,
            unfinished_calls=1,
            twilio_steps=1,
            queue_places=0,
            survey_numbers=0,
        )
        with database.transaction() as session:
            assert purge_numbers(session, PURGE_AT, RETENTION) == Purged(0, 0, 0, 0, 0, 0)
        with database.transaction() as session:
            withheld = session.get(Call, "withheld")
            assert withheld is not None and withheld.flow_state is None

    def test_a_web_description_and_a_survey_number_go_with_the_number(
        self, database: Database
    ) -> None:
        """The resident's own words on a web request, and the number a survey was asked of,
        are erased with the request's number; the survey's score stays for the measures."""
        with database.transaction() as session:
            old_web = add_callback(session, number(1), entered=T0)
            session.execute(
                update(CallbackRequest)
                .where(CallbackRequest.id == old_web)
                .values(channel=Channel.WEB, description="Soita numeroon 040 123 4567")
            )
            old = open_survey(
                session,
                channel=Channel.WEB,
                asked_at=CUTOFF - timedelta(seconds=1),
                number_e164=number(1),
                topic="health",
                language="fi",
                callback_id=old_web,
            )
            answer_survey(session, old, 9, CUTOFF)
            recent = open_survey(
                session,
                channel=Channel.PHONE,
                asked_at=CUTOFF + timedelta(seconds=1),
                number_e164=number(2),
                topic="health",
                language="fi",
            )
        close(database, old_web, CUTOFF - timedelta(seconds=1))
        with database.transaction() as session:
            purged = purge_numbers(session, PURGE_AT, RETENTION)
        assert (purged.callback_numbers, purged.survey_numbers) == (1, 1)
        erased = request_row(database, old_web)
        assert (erased.number_e164, erased.description) == (None, None)
        with database.reading() as session:
            surveys = {s.id: s for s in session.scalars(select(Survey))}
            assert (surveys[old].number_e164, surveys[old].score) == (None, 9)
            assert surveys[recent].number_e164 == number(2)

    def test_no_queue_place_outlives_its_call(self, database: Database) -> None:
        """A call the purge closes gives up its place, and so does any call that has
        ended but kept one; a caller still waiting keeps theirs."""
        add_call(database, "never-ended", None, updated_at=CUTOFF - timedelta(days=1))
        add_call(database, "ended", PURGE_AT - timedelta(hours=1))
        add_call(database, "waiting", None, updated_at=PURGE_AT - timedelta(minutes=1))
        with database.transaction() as session:
            for call_id in ("never-ended", "ended", "waiting"):
                take_place(
                    session, call_id, provider="sim", topic="health", language="fi", entered_at=T0
                )
        with database.transaction() as session:
            purged = purge_numbers(session, PURGE_AT, RETENTION)
        assert (purged.unfinished_calls, purged.queue_places) == (1, 2)
        with database.reading() as session:
            assert [c.call_id for c in waiting(session, "sim", "health")] == ["waiting"]


def add_twilio_step(database: Database, call_id: str, twiml: str, created_at: datetime) -> str:
    """An inbound Twilio call's answered step, as its webhook left it."""
    call_sid = "CA" + call_id.encode().hex().ljust(32, "0")[:32]
    with database.transaction() as session:
        session.execute(
            insert(TwilioCall),
            {
                "call_sid": call_sid,
                "kind": TwilioLeg.INBOUND,
                "call_id": call_id,
                "status": "in-progress",
                "created_at": created_at,
                "updated_at": created_at,
            },
        )
        session.execute(
            insert(TwilioStep),
            {"call_sid": call_sid, "step": "gather:s=4", "twiml": twiml, "created_at": created_at},
        )
    return call_sid


class TestNothingOutlivesRetention:
    """A month and a day after a call, with a month's retention, no number of it is left
    anywhere in the store: not in a call that never ended, not in the TwiML that read
    it back, not in the free text an admin wrote."""

    NOW = T0 + timedelta(days=31)

    def test_a_call_never_ended_is_closed_and_erased(self, database: Database) -> None:
        """Its final status was lost: it ends when it was last heard of, dropped unless
        the engine knew how it went."""
        last_heard = T0 + timedelta(minutes=3)
        add_call(database, "lost", None, started_at=T0, updated_at=last_heard)
        add_call(
            database, "requested", None, started_at=T0, updated_at=T0, outcome="callback_requested"
        )
        with database.transaction() as session:
            purge_numbers(session, self.NOW, RETENTION)
        with database.transaction() as session:
            lost, requested = session.get(Call, "lost"), session.get(Call, "requested")
        assert lost is not None and requested is not None
        assert (lost.caller_e164, lost.flow_state, lost.ended_at) == (None, None, last_heard)
        assert (lost.outcome, requested.outcome) == (CallOutcome.DROPPED, "callback_requested")

    def test_old_twilio_steps_go_with_the_number_they_read_back(self, database: Database) -> None:
        add_call(database, "lost", None, started_at=T0, updated_at=T0)
        read_back = "<Response><Say>Soitamme numeroon 040 123 9876.</Say></Response>"
        add_twilio_step(database, "lost", read_back, T0)
        add_call(database, "recent", None, updated_at=self.NOW - timedelta(days=1))
        recent = add_twilio_step(database, "recent", "<Response/>", self.NOW - timedelta(days=1))
        with database.transaction() as session:
            purge_numbers(session, self.NOW, RETENTION)
        with database.transaction() as session:
            kept = session.execute(select(TwilioStep.call_sid, TwilioStep.twiml)).all()
        assert [tuple(row) for row in kept] == [(recent, "<Response/>")]

    def test_a_number_in_a_cancel_reason_was_never_stored(self, database: Database) -> None:
        with database.transaction() as session:
            callback_id = add_callback(session, number(1), entered=T0)
        with database.transaction() as session:
            cancel_by_admin(
                session, callback_id, T0, reason="soita 0409 876 543 mieluummin", admin="ada"
            )
        with database.transaction() as session:
            purge_numbers(session, self.NOW, RETENTION)
        request = request_row(database, callback_id)
        (cancelled,) = events(database, EventKind.CALLBACK_CANCELLED)
        stored = [request.number_e164, request.closed_reason, *cancelled.data.values()]
        assert not [text for text in stored if text and ("0409" in text or "876" in text)]
        assert request.closed_reason == "soita **** *** 543 mieluummin"


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


# -- once a period -----------------------------------------------------------------------------


class TestClaimPeriod:
    def test_one_run_per_job_and_period(self, database: Database) -> None:
        with database.transaction() as session:
            assert claim_period(session, "purge", "2026-01-12", owner="a", now=T0)
            assert not claim_period(session, "purge", "2026-01-12", owner="a", now=T0)
            assert claim_period(session, "purge", "2026-01-13", owner="a", now=T0)
            assert claim_period(session, "closing", "2026-01-12", owner="a", now=T0)
        with database.transaction() as session:
            assert not claim_period(session, "purge", "2026-01-12", owner="b", now=T0)

    def test_a_run_rolled_back_leaves_the_period_to_the_next(self, database: Database) -> None:
        with pytest.raises(RuntimeError), database.transaction() as session:
            assert claim_period(session, "closing", "2026-01-12T15:00", owner="a", now=T0)
            raise RuntimeError("the job failed")
        with database.transaction() as session:
            assert claim_period(session, "closing", "2026-01-12T15:00", owner="b", now=T0)

    def test_a_second_process_asking_meanwhile_is_refused(self, database: Database) -> None:
        """The first process has claimed the period and not yet committed when the second
        asks: the second waits (on PostgreSQL for the row, on SQLite for the writer's
        lock) and is then refused."""
        second: list[bool] = []

        def ask() -> None:
            with database.transaction() as session:
                second.append(claim_period(session, "purge", "2026-01-12", owner="b", now=T0))

        with database.transaction() as session:
            assert claim_period(session, "purge", "2026-01-12", owner="a", now=T0)
            asker = threading.Thread(target=ask)
            asker.start()
            if database.dialect == "postgresql":
                wait_until_someone_waits_for_a_lock(database)
        asker.join(30)
        assert second == [False]
