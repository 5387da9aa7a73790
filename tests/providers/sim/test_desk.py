"""People at the desk on the simulated line: someone who makes themselves available is
given simulated callers and callbacks, and the store shows it as a live line's would.

Each test runs a simulation with no simulated advisors on duty, a tick of real time at a
time as ``callflow serve`` runs it, with one person registered as the admin page or
``callflow advisors add`` registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import (
    AttemptResult,
    CallbackStatus,
    EventKind,
    ReasonCategory,
    Referral,
    Resolution,
)
from callflow.providers.sim import callbacks
from callflow.providers.sim.runs import prepare
from callflow.providers.sim.simulation import Simulation
from callflow.providers.sim.workload import Caller
from callflow.store.advisors import (
    BreakReason,
    register_advisor,
    set_advisor_state,
    staffing,
)
from callflow.store.attempts import retry_policy
from callflow.store.models import (
    Advisor,
    AdvisorState,
    Call,
    CallbackAttempt,
    CallbackRequest,
    CallEvent,
)
from callflow.store.outcomes import ADVISOR_HOLD, Coding, record_outcome
from callflow.store.session import Database
from tests.providers.sim.test_simulation import (
    SHORT_DAY_CALLS,
    SHORT_DAY_SEED,
    fresh_sqlite,
    log_of,
    read,
)
from tests.store.helpers import add_callback

MONDAY = date(2026, 1, 12)
OPENING = datetime(2026, 1, 12, 7, 0, tzinfo=UTC)
"""09:00 in Helsinki: the line opens and the dialling window with it."""
TICK = timedelta(seconds=5)
"""Line time per tick of real time (a tenth of a second at 50 times real time)."""
PATIENT = timedelta(hours=2)


@pytest.fixture
def line(config: HotlineConfig, database: Database) -> Simulation:
    prepare(database, config, OPENING)
    return Simulation(config, database, seed=1, start=OPENING, people_at_the_desk=True)


def person(
    database: Database,
    state: AdvisorState = AdvisorState.AVAILABLE,
    reason: BreakReason | None = None,
) -> int:
    """Aino, a nurse speaking Finnish, in *state* since before the line opened: at her
    desk, with no phone of the line's (none rings on the simulated line)."""
    with database.transaction() as session:
        aino = register_advisor(session, "Aino", {"nurse"}, {"fi"}, OPENING)
        set_advisor_state(session, aino, state, OPENING - timedelta(hours=1), reason=reason)
    return aino


def waiting_caller(at: datetime) -> Caller:
    """A health caller in Finnish who waits in the queue rather than take a callback."""
    return Caller(
        arrives_at=at,
        withheld=False,
        language="fi",
        topic="health",
        patience=PATIENT,
        takes_callback=False,
    )


def pending_callback(database: Database) -> int:
    with database.transaction() as session:
        return add_callback(session, "+358401234567", entered=OPENING - timedelta(hours=1))


def run_for(line: Simulation, length: timedelta) -> None:
    """Run on a tick at a time, as the line runs in real time."""
    until = line.clock.now() + length
    while line.clock.now() < until:
        line.run_until(min(line.clock.now() + TICK, until))


def run_until_seen(
    line: Simulation,
    database: Database,
    seen: Callable[[Session], Any],
    within: timedelta = timedelta(hours=1),
) -> datetime:
    """Tick on until the store shows *seen*; returns the line time it did."""
    until = line.clock.now() + within
    while line.clock.now() < until:
        line.run_until(line.clock.now() + TICK)
        with database.reading() as session:
            if seen(session):
                return line.clock.now()
    raise AssertionError(f"not seen within {within}")


def advisor(session: Session, advisor_id: int) -> Advisor:
    row = session.get(Advisor, advisor_id)
    assert row is not None
    return row


def request(session: Session, callback_id: int) -> CallbackRequest:
    row = session.get(CallbackRequest, callback_id)
    assert row is not None
    return row


def free_nurses(session: Session, now: datetime) -> int:
    return staffing(session, "nurse", "fi", now).free


def attempt_ended(session: Session) -> bool:
    return session.scalar(select(CallbackAttempt.ended_at)) is not None


def every_resident(monkeypatch: pytest.MonkeyPatch, result: AttemptResult) -> None:
    """Every resident dialled back gives *result*."""
    monkeypatch.setattr(callbacks, "DIAL_RESULTS", ((result, 1.0),))


class TestQueuedCallers:
    def test_a_free_person_is_put_through_to_a_queued_caller(
        self, line: Simulation, database: Database
    ) -> None:
        """Busy with that call while they talk: the store shows which call it is, and the
        call is answered by them."""
        aino = person(database)
        line.schedule_callers([waiting_caller(OPENING + timedelta(minutes=1))])
        run_until_seen(line, database, lambda s: advisor(s, aino).state is AdvisorState.BUSY)
        with database.reading() as session:
            call = session.scalars(select(Call)).one()
            answered = session.scalars(
                select(CallEvent).where(CallEvent.kind == EventKind.ANSWERED)
            ).one()
            assert advisor(session, aino).serving_call_id == call.id
            assert call.answered_at is not None
            assert answered.data["advisor_id"] == str(aino)

    def test_when_the_caller_hangs_up_the_person_wraps_up_then_is_free(
        self, line: Simulation, database: Database, config: HotlineConfig
    ) -> None:
        aino = person(database)
        line.schedule_callers([waiting_caller(OPENING + timedelta(minutes=1))])
        run_until_seen(line, database, lambda s: advisor(s, aino).state is AdvisorState.BUSY)
        run_until_seen(line, database, lambda s: advisor(s, aino).state is AdvisorState.WRAP_UP)
        with database.reading() as session:
            call = session.scalars(select(Call)).one()
            row = advisor(session, aino)
            assert call.ended_at is not None
            # The call stays on the desk for its coding while they wrap up.
            assert (row.serving_call_id, row.ready_at) == (
                call.id,
                call.ended_at + config.dispatch.wrap_up,
            )
            assert free_nurses(session, line.clock.now()) == 0
        run_for(line, config.dispatch.wrap_up)
        with database.reading() as session:
            assert free_nurses(session, line.clock.now()) == 1

    def test_a_person_who_became_available_takes_the_next_caller_in_line(
        self, line: Simulation, database: Database
    ) -> None:
        """Someone already waiting is put through within a tick of the person's click."""
        aino = person(database, AdvisorState.OFFLINE)
        line.schedule_callers([waiting_caller(OPENING + timedelta(minutes=1))])
        run_for(line, timedelta(minutes=5))
        with database.transaction() as session:
            set_advisor_state(session, aino, AdvisorState.AVAILABLE, line.clock.now())
        clicked = line.clock.now()
        taken = run_until_seen(
            line, database, lambda s: advisor(s, aino).state is AdvisorState.BUSY
        )
        assert taken - clicked <= TICK


class TestCallbacks:
    def test_a_free_person_calls_back_and_the_outcome_waits_for_them(
        self,
        line: Simulation,
        database: Database,
        config: HotlineConfig,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Claimed for them and dialled; after the talk the attempt is held in their name
        until they record how it went, and they are given nothing meanwhile."""
        every_resident(monkeypatch, AttemptResult.REACHED)
        aino = person(database)
        callback_id = pending_callback(database)
        line.callbacks.dial_when_window_opens(MONDAY)
        run_until_seen(
            line,
            database,
            lambda s: request(s, callback_id).status is CallbackStatus.IN_PROGRESS,
        )
        with database.reading() as session:
            assert request(session, callback_id).advisor_id == aino
            assert advisor(session, aino).state is AdvisorState.BUSY
        run_until_seen(
            line,
            database,
            lambda s: (request(s, callback_id).lease_owner or "").startswith(ADVISOR_HOLD),
        )
        with database.reading() as session:
            attempt = session.scalars(select(CallbackAttempt)).one()
            row = advisor(session, aino)
            assert attempt.dialled_at is not None and attempt.ended_at is None
            assert (row.state, row.ready_at) == (AdvisorState.WRAP_UP, None)
        run_for(line, timedelta(minutes=5))
        with database.reading() as session:
            assert request(session, callback_id).status is CallbackStatus.IN_PROGRESS

    def test_an_outcome_never_recorded_is_taken_back_when_the_hold_runs_out(
        self,
        line: Simulation,
        database: Database,
        config: HotlineConfig,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """They closed the browser: no worker runs beside the simulated line, so the line
        itself completes the reached resident's request, as the reaper would."""
        every_resident(monkeypatch, AttemptResult.REACHED)
        aino = person(database)
        callback_id = pending_callback(database)
        line.callbacks.dial_when_window_opens(MONDAY)
        held_at = run_until_seen(
            line,
            database,
            lambda s: (request(s, callback_id).lease_owner or "").startswith(ADVISOR_HOLD),
        )
        done_at = run_until_seen(
            line,
            database,
            lambda s: request(s, callback_id).status is CallbackStatus.COMPLETED,
        )
        assert done_at - held_at <= config.dispatch.outcome_timeout + timedelta(minutes=2)
        with database.reading() as session:
            assert advisor(session, aino).state is not AdvisorState.BUSY

    def test_the_outcome_recorded_on_the_desk_ends_it_and_they_are_free_after_wrap_up(
        self,
        line: Simulation,
        database: Database,
        config: HotlineConfig,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        every_resident(monkeypatch, AttemptResult.REACHED)
        aino = person(database)
        callback_id = pending_callback(database)
        line.callbacks.dial_when_window_opens(MONDAY)
        run_until_seen(
            line,
            database,
            lambda s: (request(s, callback_id).lease_owner or "").startswith(ADVISOR_HOLD),
        )
        recorded_at = line.clock.now()
        with database.transaction() as session:
            record_outcome(
                session,
                aino,
                callback_id,
                AttemptResult.REACHED,
                Coding(ReasonCategory.HEALTH, Referral.NONE, Resolution.NO_SERVICE_NEED),
                recorded_at,
                policy=retry_policy(config),
                calendar=line.calendar,
                wrap_up=config.dispatch.wrap_up,
            )
        with database.reading() as session:
            row = advisor(session, aino)
            assert request(session, callback_id).status is CallbackStatus.COMPLETED
            assert (row.state, row.ready_at) == (
                AdvisorState.WRAP_UP,
                recorded_at + config.dispatch.wrap_up,
            )
        run_for(line, config.dispatch.wrap_up)
        with database.reading() as session:
            assert free_nurses(session, line.clock.now()) == 1

    def test_a_resident_not_reached_is_tried_again_and_the_person_wraps_up(
        self,
        line: Simulation,
        database: Database,
        config: HotlineConfig,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """As the worker's dispatcher ends it: the attempt's result recorded, the request
        due again after the spacing, the person free after the line's wrap-up."""
        every_resident(monkeypatch, AttemptResult.NO_ANSWER)
        aino = person(database)
        callback_id = pending_callback(database)
        line.callbacks.dial_when_window_opens(MONDAY)
        ended = run_until_seen(line, database, attempt_ended)
        with database.reading() as session:
            attempt = session.scalars(select(CallbackAttempt)).one()
            pending = request(session, callback_id)
            row = advisor(session, aino)
            assert attempt.result is AttemptResult.NO_ANSWER and attempt.ended_at is not None
            assert pending.status is CallbackStatus.PENDING
            assert pending.next_attempt_at is not None and pending.next_attempt_at > ended
            assert (row.state, row.ready_at) == (
                AdvisorState.WRAP_UP,
                attempt.ended_at + config.dispatch.wrap_up,
            )
        run_for(line, config.dispatch.wrap_up)
        with database.reading() as session:
            assert free_nurses(session, line.clock.now()) == 1


class TestWhoIsGivenWork:
    def test_a_person_on_a_break_is_given_nothing(
        self, line: Simulation, database: Database
    ) -> None:
        aino = person(database, AdvisorState.BREAK, reason=BreakReason.LUNCH)
        callback_id = pending_callback(database)
        line.schedule_callers([waiting_caller(OPENING + timedelta(minutes=1))])
        line.callbacks.dial_when_window_opens(MONDAY)
        run_for(line, timedelta(minutes=15))
        with database.reading() as session:
            row = advisor(session, aino)
            assert (row.state, row.break_reason, row.serving_call_id) == (
                AdvisorState.BREAK,
                "lunch",
                None,
            )
            assert request(session, callback_id).status is CallbackStatus.PENDING
            assert session.scalars(select(Call)).one().answered_at is None

    def test_a_person_who_does_nothing_stays_free_and_is_offered_the_next_caller(
        self, line: Simulation, database: Database, config: HotlineConfig
    ) -> None:
        """Never signed out, sent to lunch or coded for by the simulation."""
        aino = person(database)
        first, second = OPENING + timedelta(minutes=1), OPENING + timedelta(minutes=40)
        line.schedule_callers([waiting_caller(first), waiting_caller(second)])
        run_for(line, timedelta(hours=2))
        with database.reading() as session:
            answered = session.scalars(
                select(CallEvent).where(CallEvent.kind == EventKind.ANSWERED)
            ).all()
            coded = session.scalars(
                select(CallEvent).where(CallEvent.kind == EventKind.CONTACT_CODED)
            ).all()
            assert [event.data["advisor_id"] for event in answered] == [str(aino)] * 2
            assert coded == []
            assert free_nurses(session, line.clock.now()) == 1
            assert advisor(session, aino).break_reason is None

    def test_with_nobody_at_the_desk_the_day_is_the_same(
        self, config: HotlineConfig, sqlite_template: Path, tmp_path: Path
    ) -> None:
        """Looking for people changes nothing a seed decides: the simulated advisors are
        never taken for people."""
        logs = []
        for desk in (False, True):
            folder = tmp_path / f"desk-{desk}"
            folder.mkdir()
            database = fresh_sqlite(sqlite_template, folder, config)
            start = OPENING - timedelta(hours=9)  # local midnight
            simulation = Simulation(
                config,
                database,
                seed=SHORT_DAY_SEED,
                start=start,
                calls_per_day=SHORT_DAY_CALLS,
                people_at_the_desk=desk,
            )
            simulation.schedule_days(MONDAY, 1)
            while simulation.run_until(simulation.clock.now() + timedelta(minutes=1)):
                pass
            simulation.close()
            logs.append(log_of(read(database, config)))
            database.close()
        assert logs[0] == logs[1]
        assert len(logs[0]) > SHORT_DAY_CALLS


class TestStopping:
    def test_a_person_talking_when_the_line_stops_is_done_with_the_call(
        self, line: Simulation, database: Database
    ) -> None:
        aino = person(database)
        line.schedule_callers([waiting_caller(OPENING + timedelta(minutes=1))])
        run_until_seen(line, database, lambda s: advisor(s, aino).state is AdvisorState.BUSY)
        line.close()
        with database.reading() as session:
            row = advisor(session, aino)
            assert row.state is AdvisorState.WRAP_UP
            assert row.serving_call_id is not None  # theirs to code

    def test_a_callback_being_dialled_for_a_person_goes_back_in_line(
        self, line: Simulation, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        every_resident(monkeypatch, AttemptResult.REACHED)
        aino = person(database)
        callback_id = pending_callback(database)
        line.callbacks.dial_when_window_opens(MONDAY)
        run_until_seen(
            line,
            database,
            lambda s: request(s, callback_id).status is CallbackStatus.IN_PROGRESS,
        )
        line.close()
        with database.reading() as session:
            attempt = session.scalars(select(CallbackAttempt)).one()
            assert request(session, callback_id).status is CallbackStatus.PENDING
            row = advisor(session, aino)
            assert attempt.result is AttemptResult.INTERRUPTED
            assert (row.state, row.ready_at) == (AdvisorState.WRAP_UP, line.clock.now())
            assert free_nurses(session, line.clock.now()) == 1
