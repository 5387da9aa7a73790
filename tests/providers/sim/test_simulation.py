"""A simulated week on the example line: the real engine, store and claim, judged by the log.

One January week (the peak) is simulated once on SQLite and read back; each
test checks one promise the line makes to callers and advisors against what
the event log and the tables say happened. A short day is also run on each
database to show a seed gives the same day wherever it is stored.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import structlog
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.commands import StoreCallback
from callflow.engine.vocabulary import AttemptResult, CallbackStatus, EventKind
from callflow.logging import configure_logging
from callflow.providers.sim.simulation import Simulation
from callflow.store.callbacks import create_callback
from callflow.store.models import (
    Advisor,
    AdvisorLanguage,
    AdvisorSkill,
    Call,
    CallbackAttempt,
    CallbackRequest,
    CallEvent,
)
from callflow.store.queues import sync_queues
from callflow.store.session import Database

MONDAY = date(2026, 1, 12)
"""The week simulated: Monday 12 to Friday 16 January 2026, in the winter peak."""
WEEK_SEED = 7
SHORT_DAY_SEED = 3
SHORT_DAY_CALLS = 30
NOT_REACHED = frozenset(
    {
        AttemptResult.NO_ANSWER,
        AttemptResult.BUSY,
        AttemptResult.FAILED,
        AttemptResult.CONGESTION,
        AttemptResult.MACHINE,
    }
)
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class Logged:
    """One event-log row, read back."""

    id: int
    at: datetime
    kind: EventKind
    call_id: str | None
    callback_id: int | None
    topic: str | None
    language: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class StoredAdvisor:
    name: str
    skills: frozenset[str]
    languages: frozenset[str]


@dataclass
class Run:
    """Everything a simulation left in the store."""

    config: HotlineConfig
    calendar: Calendar
    events: list[Logged]
    calls: dict[str, Call]
    requests: dict[int, CallbackRequest]
    attempts: dict[tuple[int, int], CallbackAttempt]
    advisors: dict[int, StoredAdvisor]

    def of(self, kind: EventKind) -> list[Logged]:
        return [e for e in self.events if e.kind is kind]

    def inside_dialling_hours(self, at: datetime) -> bool:
        """Open, and within the retry rule's daily hours (09:00–14:45 on the example line)."""
        hours = self.config.callbacks.retry.allowed_hours
        local = self.calendar.local(at)
        since_midnight = local - local.replace(hour=0, minute=0, second=0, microsecond=0)
        return self.calendar.is_open(at) and (
            timedelta(minutes=hours.start_minute)
            <= since_midnight
            < timedelta(minutes=hours.end_minute)
        )


# -- running and reading ---------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _quiet() -> Iterator[None]:
    configure_logging("warning")  # a run logs every call at info
    yield
    structlog.reset_defaults()


def fresh_sqlite(template: Path, folder: Path, config: HotlineConfig) -> Database:
    path = folder / "callflow.sqlite3"
    shutil.copy(template, path)
    database = Database.connect(f"sqlite:///{path}")
    with database.transaction() as session:
        sync_queues(session, config, datetime.fromisoformat("2026-01-01T00:00:00+00:00"))
    return database


def simulate(
    database: Database,
    config: HotlineConfig,
    *,
    seed: int,
    first: date = MONDAY,
    days: int = 1,
    calls_per_day: float | None = None,
) -> None:
    """Run *days* whole days from local midnight of *first* until nothing is left to do."""
    start = Calendar.from_config(config).at_minute(first, 0)
    simulation = Simulation(config, database, seed=seed, start=start, calls_per_day=calls_per_day)
    simulation.schedule_days(first, days)
    simulation.run_until(None)
    simulation.close()


def read(database: Database, config: HotlineConfig) -> Run:
    with database.reading() as session:
        events = [
            Logged(e.id, e.at, e.kind, e.call_id, e.callback_id, e.topic, e.language, e.data)
            for e in session.scalars(select(CallEvent).order_by(CallEvent.id))
        ]
        calls = {c.id: c for c in session.scalars(select(Call))}
        requests = {r.id: r for r in session.scalars(select(CallbackRequest))}
        attempts = {
            (a.callback_id, a.attempt_no): a for a in session.scalars(select(CallbackAttempt))
        }
        skills: defaultdict[int, set[str]] = defaultdict(set)
        for row in session.scalars(select(AdvisorSkill)):
            skills[row.advisor_id].add(row.skill)
        languages: defaultdict[int, set[str]] = defaultdict(set)
        for lang in session.scalars(select(AdvisorLanguage)):
            languages[lang.advisor_id].add(lang.language)
        advisors = {
            a.id: StoredAdvisor(a.name, frozenset(skills[a.id]), frozenset(languages[a.id]))
            for a in session.scalars(select(Advisor))
        }
    return Run(config, Calendar.from_config(config), events, calls, requests, attempts, advisors)


RUN_ID = 8
"""Call ids start with a per-run tag (two runs into one database never collide)."""


def log_of(run: Run) -> list[tuple[Any, ...]]:
    """The event log as plain values, in the order it was written, call ids without the run's
    tag."""
    return [
        (e.at, e.kind, e.call_id and e.call_id[RUN_ID:], e.callback_id, e.topic, e.language, e.data)
        for e in run.events
    ]


@pytest.fixture(scope="module")
def week(
    config: HotlineConfig, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    """Five working days of the example line, simulated once for every test here."""
    database = fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("week"), config)
    simulate(database, config, seed=WEEK_SEED, days=5)
    run = read(database, config)
    database.close()
    return run


@pytest.fixture(scope="module")
def short_day(
    config: HotlineConfig, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[Any, ...]]:
    """A quiet Monday (30 calls a day asked for) on SQLite: the reference log."""
    database = fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("short-day"), config)
    simulate(database, config, seed=SHORT_DAY_SEED, calls_per_day=SHORT_DAY_CALLS)
    log = log_of(read(database, config))
    database.close()
    return log


# -- a seed is a day -------------------------------------------------------------------------


class TestSeed:
    def test_the_same_seed_gives_the_same_day_on_either_database(
        self, database: Database, config: HotlineConfig, short_day: list[tuple[Any, ...]]
    ) -> None:
        """Event for event, timestamp for timestamp, whichever database keeps the log."""
        simulate(database, config, seed=SHORT_DAY_SEED, calls_per_day=SHORT_DAY_CALLS)
        run = read(database, config)
        assert log_of(run) == short_day
        assert len(run.of(EventKind.CALLBACK_CLAIMED)) > 0
        assert len(run.of(EventKind.ENDED)) == len(run.of(EventKind.CALL_ARRIVED)) > 0

    def test_another_seed_gives_another_day(
        self,
        config: HotlineConfig,
        sqlite_template: Path,
        tmp_path: Path,
        short_day: list[tuple[Any, ...]],
    ) -> None:
        database = fresh_sqlite(sqlite_template, tmp_path, config)
        simulate(database, config, seed=SHORT_DAY_SEED + 1, calls_per_day=SHORT_DAY_CALLS)
        other = log_of(read(database, config))
        database.close()
        assert [(at, kind) for at, kind, *_ in other] != [(at, kind) for at, kind, *_ in short_day]


# -- calls -----------------------------------------------------------------------------------


class TestCalls:
    def test_every_call_ends_once(self, week: Run) -> None:
        arrived = Counter(e.call_id for e in week.of(EventKind.CALL_ARRIVED))
        ended = Counter(e.call_id for e in week.of(EventKind.ENDED))
        assert ended == arrived
        assert set(arrived.values()) == {1}
        assert len(arrived) > 300  # a January week of the example line

    def test_the_calls_table_agrees_with_the_log(self, week: Run) -> None:
        """Each summary row: started when the call arrived, answered and ended when the log
        says, with the outcome the log gives."""
        first: dict[tuple[str, EventKind], Logged] = {}
        for event in week.events:
            if event.call_id is not None:
                first.setdefault((event.call_id, event.kind), event)
        assert set(week.calls) == {e.call_id for e in week.of(EventKind.CALL_ARRIVED)}
        for call_id, call in week.calls.items():
            ended = first[call_id, EventKind.ENDED]
            answered = first.get((call_id, EventKind.ANSWERED))
            assert call.started_at == first[call_id, EventKind.CALL_ARRIVED].at
            assert (call.ended_at, call.outcome) == (ended.at, ended.data["outcome"])
            assert call.answered_at == (answered.at if answered else None)
            assert call.withheld == first[call_id, EventKind.CALL_ARRIVED].data["withheld"]

    def test_a_caller_who_took_a_callback_is_not_abandoned(self, week: Run) -> None:
        took = {e.call_id for e in week.of(EventKind.CALLBACK_REQUESTED)}
        abandoned = {e.call_id for e in week.of(EventKind.ABANDONED)}
        assert took and abandoned
        assert not took & abandoned

    def test_numbers_in_the_store_are_e164(self, week: Run) -> None:
        numbers = [c.caller_e164 for c in week.calls.values() if c.caller_e164 is not None]
        numbers += [r.number_e164 for r in week.requests.values() if r.number_e164 is not None]
        assert numbers
        for number in numbers:
            assert E164.match(number), number
            parsed = phonenumbers.parse(number)
            assert phonenumbers.is_valid_number(parsed), number
            assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number

    def test_withheld_callers_key_in_a_number_for_their_callback(self, week: Run) -> None:
        withheld = {c.id for c in week.calls.values() if c.withheld}
        assert all(week.calls[call_id].caller_e164 is None for call_id in withheld)
        keyed = [r for r in week.requests.values() if r.call_id in withheld]
        assert keyed, "no withheld caller asked for a callback all week"
        assert all(r.number_e164 is not None and E164.match(r.number_e164) for r in keyed)
        requested = {e.call_id for e in week.of(EventKind.CALLBACK_REQUESTED)}
        assert requested & withheld

    def test_repeat_callers_are_asked_to_keep_or_cancel_their_callback(self, week: Run) -> None:
        """Some residents call again while their callback is pending; they hear it is coming
        and keep it or cancel it."""
        answered = week.of(EventKind.CALLBACK_KEPT) + week.of(EventKind.CALLBACK_CANCELLED)
        assert answered
        assert all(e.callback_id in week.requests for e in answered)


# -- callbacks -------------------------------------------------------------------------------


class TestCallbacks:
    def test_callbacks_are_requested_dialled_and_completed(self, week: Run) -> None:
        """Every request is logged once; a completed one was claimed, then dialled, then
        ended reached, in that order."""
        requested = Counter(e.callback_id for e in week.of(EventKind.CALLBACK_REQUESTED))
        assert requested == Counter(week.requests.keys())
        completed = week.of(EventKind.CALLBACK_COMPLETED)
        assert len(completed) > len(week.requests) / 2
        dialled = {
            (e.callback_id, e.data["attempt_no"]): e.at for e in week.of(EventKind.CALLBACK_DIALLED)
        }
        for event in completed:
            assert event.callback_id is not None
            request = week.requests[event.callback_id]
            attempt = week.attempts[event.callback_id, event.data["attempt_no"]]
            assert request.status is CallbackStatus.COMPLETED
            assert request.requested_at <= attempt.claimed_at
            assert attempt.claimed_at < dialled[event.callback_id, attempt.attempt_no]
            assert dialled[event.callback_id, attempt.attempt_no] < event.at == attempt.ended_at

    def test_a_machine_never_completes_a_callback(self, week: Run) -> None:
        """Only a reached resident completes a request; a voicemail is tried again."""
        results = {
            (e.callback_id, e.data["attempt_no"]): e.data["result"]
            for e in week.of(EventKind.CALLBACK_ATTEMPT_ENDED)
        }
        assert AttemptResult.MACHINE.value in results.values()
        for event in week.of(EventKind.CALLBACK_COMPLETED):
            assert results[event.callback_id, event.data["attempt_no"]] == "reached"
        for request in week.requests.values():
            tried = [a for (cb, _), a in week.attempts.items() if cb == request.id]
            if request.status is CallbackStatus.COMPLETED:
                assert [a.result for a in tried].count(AttemptResult.REACHED) == 1
            else:
                assert AttemptResult.REACHED not in [a.result for a in tried]

    def test_a_resident_not_reached_is_tried_again_after_the_spacing(self, week: Run) -> None:
        """The next attempt is due no sooner than the configured spacing, inside the
        dialling hours, and is not claimed before it is due; after the last attempt the
        request fails."""
        retry = week.config.callbacks.retry
        ended = {
            (e.callback_id, e.data["attempt_no"]): e
            for e in week.of(EventKind.CALLBACK_ATTEMPT_ENDED)
        }
        retried = 0
        for (callback_id, attempt_no), attempt in week.attempts.items():
            if attempt.result not in NOT_REACHED:
                continue
            request = week.requests[callback_id]
            following = week.attempts.get((callback_id, attempt_no + 1))
            due = ended[callback_id, attempt_no].data["next_attempt_at"]
            if due is None:
                assert attempt_no == retry.attempts and following is None
                assert request.status is CallbackStatus.FAILED
                continue
            due_at = datetime.fromisoformat(due)
            assert attempt.ended_at is not None
            assert due_at >= attempt.ended_at + retry.spacing
            assert week.inside_dialling_hours(due_at), due_at
            if following is None:
                # Due after the week ends, or cancelled by the resident calling again.
                assert request.status in (CallbackStatus.PENDING, CallbackStatus.CANCELLED)
            else:
                assert following.claimed_at >= due_at
                retried += 1
        assert retried > 0

    def test_no_callback_is_dialled_out_of_hours_or_before_it_may_be(self, week: Run) -> None:
        """Invariant 4: every dial inside opening hours and the dialling hours, and never
        before the request's "not before"."""
        dialled = week.of(EventKind.CALLBACK_DIALLED)
        assert dialled
        for event in dialled:
            assert event.callback_id is not None
            assert week.inside_dialling_hours(event.at), week.calendar.local(event.at)
            assert event.at >= week.requests[event.callback_id].not_before

    def test_a_claim_just_before_closing_is_not_dialled_after_it(
        self, config: HotlineConfig, sqlite_template: Path, tmp_path: Path
    ) -> None:
        """New Year's Eve closes at 12:00: a request an advisor takes at 11:59:55 must not
        ring the resident at 12:00:05, when the line is closed."""
        calendar = Calendar.from_config(config)
        start = calendar.at_minute(date(2026, 12, 31), 11 * 60 + 59) + timedelta(seconds=55)
        entered = start - timedelta(hours=1)
        database = fresh_sqlite(sqlite_template, tmp_path, config)
        with database.transaction() as session:
            create_callback(
                session,
                StoreCallback(
                    number_e164="+358401234567",
                    topic="health",
                    language="fi",
                    requested_at=entered,
                    queue_entered_at=entered,
                    not_before=entered,
                    due_at=start + timedelta(hours=3),
                    expected_at=start,
                    deadline_class=1,
                ),
                call_id=None,
                now=entered,
            )
        simulation = Simulation(config, database, seed=1, start=start)
        simulation.sign_in_everyone()
        simulation.run_until(None)
        run = read(database, config)
        database.close()
        for event in run.of(EventKind.CALLBACK_DIALLED):
            assert run.inside_dialling_hours(event.at), calendar.local(event.at)

    def test_one_dial_per_attempt_and_one_worker_per_callback(self, week: Run) -> None:
        """Invariant 2: an attempt is claimed and dialled once, and a callback's attempts
        never overlap."""
        claimed = Counter(
            (e.callback_id, e.data["attempt_no"]) for e in week.of(EventKind.CALLBACK_CLAIMED)
        )
        dialled = Counter(
            (e.callback_id, e.data["attempt_no"]) for e in week.of(EventKind.CALLBACK_DIALLED)
        )
        assert set(claimed.values()) == {1} and set(dialled.values()) == {1}
        assert set(claimed) == set(week.attempts)
        by_callback: defaultdict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        for (callback_id, _), attempt in week.attempts.items():
            assert attempt.ended_at is not None
            by_callback[callback_id].append((attempt.claimed_at, attempt.ended_at))
        for callback_id, spans in by_callback.items():
            assert_apart(spans, callback_id)

    def test_an_advisor_holds_one_assignment_at_a_time(self, week: Run) -> None:
        """Invariant 2: an advisor is never on two callbacks, nor on a callback and a live
        call, at once."""
        busy: defaultdict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        ended = {e.call_id: e.at for e in week.of(EventKind.ENDED)}
        for event in week.of(EventKind.ANSWERED):
            busy[event.data["advisor_id"]].append((event.at, ended[event.call_id]))
        for attempt in week.attempts.values():
            assert attempt.advisor_id is not None and attempt.ended_at is not None
            busy[week.advisors[attempt.advisor_id].name].append(
                (attempt.claimed_at, attempt.ended_at)
            )
        assert set(busy) == {a.name for a in week.advisors.values()}
        for name, spans in busy.items():
            assert_apart(spans, name)

    def test_each_claim_takes_the_first_in_line(self, week: Run) -> None:
        """Invariant 3: when an advisor claims a callback, no request they could have served
        that was due and waiting at that moment was ahead of it in (deadline class, time the
        caller entered the queue). Requests not yet due (not before, retry spacing), in
        another advisor's hands, or for a skill or language the advisor lacks may go later."""
        contested = 0
        for claim in week.of(EventKind.CALLBACK_CLAIMED):
            assert claim.callback_id is not None
            advisor = week.advisors[claim.data["advisor_id"]]
            taken = week.requests[claim.callback_id]
            ahead = [
                r
                for r in week.requests.values()
                if r.id != taken.id and can_serve(week, advisor, r) and waiting(week, r, claim.at)
            ]
            contested += bool(ahead)
            for other in ahead:
                assert place(taken) <= place(other), (taken.id, other.id, claim.at)
        assert contested > 0, "no claim ever had a choice: the check proved nothing"


# -- coding ----------------------------------------------------------------------------------


class TestCoding:
    def test_answered_calls_and_completed_callbacks_are_coded_once(self, week: Run) -> None:
        """Only conversations are coded: a live call an advisor answered, a callback that
        reached the resident; nothing else."""
        coded = week.of(EventKind.CONTACT_CODED)
        calls = Counter(e.call_id for e in coded if e.data["channel"] == "call")
        callbacks = Counter(e.callback_id for e in coded if e.data["channel"] == "callback")
        assert (
            len(calls) + len(callbacks)
            == len(coded)
            == sum(calls.values()) + sum(callbacks.values())
        )
        assert calls == Counter(e.call_id for e in week.of(EventKind.ANSWERED))
        assert callbacks == Counter(e.callback_id for e in week.of(EventKind.CALLBACK_COMPLETED))
        assert all(e.callback_id is None for e in coded if e.data["channel"] == "call")
        assert all(e.call_id is None for e in coded if e.data["channel"] == "callback")

    def test_codings_use_the_queue_reasons(self, week: Run) -> None:
        """A health contact is coded health, a social one social."""
        for event in week.of(EventKind.CONTACT_CODED):
            if event.topic in ("health", "social"):
                assert event.data["reason"] == event.topic


# -- helpers for the checks ------------------------------------------------------------------


def assert_apart(spans: list[tuple[datetime, datetime]], whose: object) -> None:
    """No two of *whose* [start, end] spans overlap (one may start as another ends)."""
    ordered = sorted(spans)
    for (_, end), (start, _) in itertools.pairwise(ordered):
        assert end <= start, (whose, end, start)


def can_serve(run: Run, advisor: StoredAdvisor, request: CallbackRequest) -> bool:
    skill = run.config.queues[request.topic].skill
    return skill in advisor.skills and request.language in advisor.languages


def place(request: CallbackRequest) -> tuple[int, datetime, int]:
    """A request's place in line: deadline class first, then when the caller queued."""
    return (request.deadline_class, request.queue_entered_at, request.id)


def waiting(run: Run, request: CallbackRequest, at: datetime) -> bool:
    """Whether *request* was certainly claimable at *at*: stored before then, due, not closed
    and not in anyone's hands. Anything that changed at exactly *at* counts as not waiting:
    the log cannot say whether it happened before or after a claim at that instant."""
    if request.requested_at >= at or request.not_before > at:
        return False
    if request.closed_at is not None and request.closed_at <= at:
        return False
    tried = [a for (cb, _), a in run.attempts.items() if cb == request.id]
    if any(a.claimed_at <= at and (a.ended_at is None or a.ended_at >= at) for a in tried):
        return False
    before = [a for a in tried if a.ended_at is not None and a.ended_at < at]
    if not before:
        return True
    last = max(before, key=lambda a: a.attempt_no)
    retry_at = next(
        e.data["next_attempt_at"]
        for e in run.of(EventKind.CALLBACK_ATTEMPT_ENDED)
        if e.callback_id == request.id and e.data["attempt_no"] == last.attempt_no
    )
    return retry_at is not None and datetime.fromisoformat(retry_at) <= at
