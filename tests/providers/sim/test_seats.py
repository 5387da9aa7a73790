"""The simulated advisors in the store: on ``callflow serve``'s line the board shows them
as the floor has them (off shift, free, talking, wrapping up, at lunch); a run of whole
days keeps them ready for good, and its day is the same either way.

The example line has four seats working 09:00-15:00 Helsinki time: ``nurse-1`` (Finnish,
Swedish) lunches at 11:30, ``nurse-2`` (Finnish, English) at 12:00.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import AttemptResult, CallbackStatus
from callflow.providers.sim.runs import prepare
from callflow.providers.sim.simulation import Simulation
from callflow.providers.sim.staff import WRAP_UP
from callflow.reports.board import AdvisorCounts, read_board
from callflow.store.advisors import register_advisor, set_advisor_state
from callflow.store.claims import claim_next_callback
from callflow.store.models import Advisor, AdvisorState, Call, CallbackAttempt
from callflow.store.session import Database
from tests.providers.sim.test_desk import (
    MONDAY,
    OPENING,
    TICK,
    advisor,
    attempt_ended,
    every_resident,
    pending_callback,
    request,
    run_for,
    run_until_seen,
    waiting_caller,
)
from tests.providers.sim.test_simulation import (
    SHORT_DAY_CALLS,
    SHORT_DAY_SEED,
    fresh_sqlite,
    log_of,
    read,
)
from tests.store.helpers import add_callback

BEFORE_OPENING = OPENING - timedelta(minutes=30)
NURSE_1_LUNCH = OPENING + timedelta(hours=2, minutes=30)
NURSE_2_LUNCH = NURSE_1_LUNCH + timedelta(minutes=30)
SHIFT_END = OPENING + timedelta(hours=6)
LOCAL_MIDNIGHT = OPENING - timedelta(hours=9)


def live_line(config: HotlineConfig, database: Database, start: datetime) -> Simulation:
    """The line as ``callflow serve`` runs it, its seats' shifts planned for Monday and no
    callers but those a test schedules."""
    prepare(database, config, start)
    line = Simulation(config, database, seed=1, start=start, people_at_the_desk=True)
    line.shifts.register()
    line.shifts.plan(MONDAY)
    line.run_until(start)  # commits the registration
    return line


@pytest.fixture
def line(config: HotlineConfig, database: Database) -> Simulation:
    return live_line(config, database, BEFORE_OPENING)


def seat(session: Session, line: Simulation, name: str) -> Advisor:
    return advisor(session, line.shifts.store_ids[name])


def states(database: Database, line: Simulation) -> dict[str, AdvisorState]:
    with database.reading() as session:
        return {name: seat(session, line, name).state for name in line.shifts.store_ids}


def run_to(line: Simulation, at: datetime) -> None:
    run_for(line, at - line.clock.now())


class TestShifts:
    def test_a_seat_is_offline_before_its_shift_and_available_from_its_start(
        self, line: Simulation, database: Database
    ) -> None:
        run_to(line, OPENING - TICK)
        assert set(states(database, line).values()) == {AdvisorState.OFFLINE}
        run_to(line, OPENING)
        assert set(states(database, line).values()) == {AdvisorState.AVAILABLE}
        with database.reading() as session:
            assert seat(session, line, "nurse-1").ready_at == OPENING

    def test_a_seat_is_at_lunch_on_a_break_and_available_after_it(
        self, line: Simulation, database: Database
    ) -> None:
        run_to(line, NURSE_1_LUNCH)
        with database.reading() as session:
            nurse = seat(session, line, "nurse-1")
            assert (nurse.state, nurse.break_reason, nurse.ready_at) == (
                AdvisorState.BREAK,
                "lunch",
                None,
            )
            assert seat(session, line, "nurse-2").state is AdvisorState.AVAILABLE
        run_to(line, NURSE_2_LUNCH)
        with database.reading() as session:
            nurse = seat(session, line, "nurse-1")
            assert (nurse.state, nurse.break_reason, nurse.ready_at) == (
                AdvisorState.AVAILABLE,
                None,
                NURSE_2_LUNCH,
            )
            assert seat(session, line, "nurse-2").state is AdvisorState.BREAK

    def test_every_seat_is_offline_after_its_shift(
        self, line: Simulation, database: Database
    ) -> None:
        run_to(line, SHIFT_END - TICK)
        assert AdvisorState.OFFLINE not in states(database, line).values()
        run_to(line, SHIFT_END)
        assert set(states(database, line).values()) == {AdvisorState.OFFLINE}

    def test_the_seats_sign_out_when_the_line_stops(
        self, database: Database, line: Simulation
    ) -> None:
        run_to(line, OPENING + timedelta(hours=1))
        line.close()
        assert set(states(database, line).values()) == {AdvisorState.OFFLINE}

    def test_seats_a_run_left_at_work_are_signed_out_by_the_next_until_their_shift(
        self, config: HotlineConfig, database: Database, line: Simulation
    ) -> None:
        """A run that stopped short (its process killed) left them as they were."""
        run_to(line, OPENING + timedelta(hours=1))
        again = Simulation(
            config, database, seed=2, start=line.clock.now(), people_at_the_desk=True
        )
        again.shifts.register()
        again.stage.batch.commit()
        assert set(states(database, again).values()) == {AdvisorState.OFFLINE}
        again.shifts.plan(MONDAY)
        run_for(again, TICK)
        assert set(states(database, again).values()) == {AdvisorState.AVAILABLE}


class TestWork:
    def test_a_seat_talking_to_a_queued_caller_is_busy_with_the_call_then_wraps_up(
        self, line: Simulation, database: Database
    ) -> None:
        line.schedule_callers([waiting_caller(OPENING + timedelta(minutes=5))])
        run_until_seen(line, database, lambda s: s.scalar(select(Call.answered_at)) is not None)
        with database.reading() as session:
            call = session.scalars(select(Call)).one()
            talking = session.scalars(select(Advisor).where(Advisor.serving_call_id == call.id))
            assert [a.state for a in talking] == [AdvisorState.BUSY]
        run_until_seen(line, database, lambda s: s.scalar(select(Call.ended_at)) is not None)
        with database.reading() as session:
            call = session.scalars(select(Call)).one()
            wrapping_up = session.scalars(
                select(Advisor).where(Advisor.state == AdvisorState.WRAP_UP)
            ).one()
            assert call.ended_at is not None and wrapping_up.ready_at is not None
            assert WRAP_UP[0] <= wrapping_up.ready_at - call.ended_at <= WRAP_UP[1]
            assert wrapping_up.serving_call_id is None  # the seat coded the call as it ended
        run_to(line, wrapping_up.ready_at)
        assert set(states(database, line).values()) == {AdvisorState.AVAILABLE}

    def test_a_seat_calling_back_is_busy_then_wraps_up_for_as_long_as_the_floor_says(
        self,
        line: Simulation,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The claim (which takes only a ready advisor) gives it to the first seat signed
        in; the attempt's end begins the seat's own wrap-up."""
        every_resident(monkeypatch, AttemptResult.REACHED)
        callback_id = pending_callback(database)
        line.callbacks.dial_when_window_opens(MONDAY)
        run_until_seen(
            line,
            database,
            lambda s: request(s, callback_id).status is CallbackStatus.IN_PROGRESS,
        )
        with database.reading() as session:
            nurse = seat(session, line, "nurse-1")
            assert request(session, callback_id).advisor_id == nurse.id
            assert (nurse.state, nurse.ready_at) == (AdvisorState.BUSY, None)
        run_until_seen(line, database, attempt_ended, within=timedelta(hours=2))
        with database.reading() as session:
            ended_at = session.scalars(select(CallbackAttempt.ended_at)).one()
            nurse = seat(session, line, "nurse-1")
            assert request(session, callback_id).status is CallbackStatus.COMPLETED
            assert ended_at is not None and nurse.ready_at is not None
            assert nurse.state is AdvisorState.WRAP_UP
            assert WRAP_UP[0] <= nurse.ready_at - ended_at <= WRAP_UP[1]
        run_to(line, nurse.ready_at)
        with database.reading() as session:
            assert seat(session, line, "nurse-1").state is AdvisorState.AVAILABLE

    def test_a_seat_a_worker_claimed_stays_busy_in_the_store_until_that_callback_ends(
        self, line: Simulation, database: Database, config: HotlineConfig
    ) -> None:
        """A worker run beside the line claims for any ready advisor: the seat it took is
        never shown ready meanwhile (a second claim would give it two callbacks), even as
        the floor sends it to lunch."""
        run_to(line, OPENING + timedelta(minutes=1))
        nurse_id = line.shifts.store_ids["nurse-1"]
        with database.transaction() as session:
            add_callback(session, "+358401234567", entered=line.clock.now())
            claimed = claim_next_callback(
                session, nurse_id, line.clock.now(), owner="worker", lease=timedelta(hours=4)
            )
        assert claimed is not None
        run_to(line, NURSE_1_LUNCH + timedelta(minutes=5))
        with database.reading() as session:
            assert seat(session, line, "nurse-1").state is AdvisorState.BUSY
            assert request(session, claimed.callback_id).advisor_id == nurse_id


@pytest.mark.slow  # a simulated morning, read every five minutes
class TestBoard:
    def test_the_board_moves_with_the_floor_over_a_morning(
        self, config: HotlineConfig, database: Database
    ) -> None:
        """Every five minutes the board's seats agree with the floor: those free there are
        free on the board, those at lunch on a break, the rest signed in."""
        line = live_line(config, database, BEFORE_OPENING)
        line.schedule_callers(line.stage.workload.day(MONDAY))
        line.callbacks.dial_when_window_opens(MONDAY)
        seen: list[AdvisorCounts] = []
        while line.clock.now() < NURSE_2_LUNCH:
            run_for(line, timedelta(minutes=5))
            counts = read_board(database, config, line.clock.now()).line.advisors
            floor = line.stage.floor.advisors.values()
            at_lunch = sum(a.serving is None and a.busy_until is not None for a in floor)
            assert (counts.signed_in, counts.free, counts.on_break) == (
                len(floor) - at_lunch,
                sum(a.free for a in floor),
                at_lunch,
            )
            seen.append(counts)
        before, opening = seen[4], seen[5]  # 08:55 and 09:00
        assert before == AdvisorCounts(signed_in=0, free=0, talking=0, wrap_up=0, on_break=0)
        assert opening == AdvisorCounts(signed_in=4, free=4, talking=0, wrap_up=0, on_break=0)
        assert max(c.talking for c in seen) > 0
        assert max(c.on_break for c in seen) > 0


class TestWithoutABoard:
    def test_the_seats_are_ready_for_good_and_the_day_is_the_same(
        self, config: HotlineConfig, sqlite_template: Path, tmp_path: Path
    ) -> None:
        """A run of whole days writes no seat's state but at registration; showing them
        changes nothing a seed decides."""
        logs: list[list[tuple[Any, ...]]] = []
        for live in (False, True):
            folder = tmp_path / f"live-{live}"
            folder.mkdir()
            database = fresh_sqlite(sqlite_template, folder, config)
            simulation = Simulation(
                config,
                database,
                seed=SHORT_DAY_SEED,
                start=LOCAL_MIDNIGHT,
                calls_per_day=SHORT_DAY_CALLS,
                people_at_the_desk=live,
            )
            simulation.schedule_days(MONDAY, 1)
            shown: set[AdvisorState] = set()
            while simulation.run_until(simulation.clock.now() + timedelta(minutes=5)):
                shown |= set(states(database, simulation).values())
            simulation.close()
            logs.append(log_of(read(database, config)))
            off_or_away = shown & {AdvisorState.OFFLINE, AdvisorState.BREAK}
            # Shown off shift and at lunch only on a line whose board is watched.
            assert off_or_away == ({AdvisorState.OFFLINE, AdvisorState.BREAK} if live else set())
            database.close()
        assert logs[0] == logs[1]
        assert len(logs[0]) > SHORT_DAY_CALLS


def test_a_person_at_the_desk_is_never_written_as_a_seat(
    config: HotlineConfig, database: Database, line: Simulation
) -> None:
    """Only the plan's seats are shown from the floor: someone signed in on the web stays
    as they set themselves."""
    with database.transaction() as session:
        aino = register_advisor(session, "Aino", {"nurse"}, {"fi"}, BEFORE_OPENING)
        set_advisor_state(session, aino, AdvisorState.AVAILABLE, BEFORE_OPENING)
    run_to(line, SHIFT_END)
    line.close()
    with database.reading() as session:
        assert advisor(session, aino).state is AdvisorState.AVAILABLE
