"""claim_next_callback: the right callback, to the right advisor, once."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from callflow.engine.vocabulary import CallbackStatus, EventKind
from callflow.store.claims import claim_next_callback
from callflow.store.models import CallbackAttempt, CallbackRequest, CallEvent
from callflow.store.session import Database
from tests.store.helpers import T0, add_advisor, add_callback, finish, number

LEASE = timedelta(seconds=90)


def claim(database: Database, advisor_id: int, owner: str = "worker-1") -> int | None:
    with database.transaction() as session:
        claimed = claim_next_callback(session, advisor_id, T0, owner=owner, lease=LEASE)
        return claimed.callback_id if claimed else None


def test_deadline_class_first_then_place_in_line(database: Database) -> None:
    """Escalated, then same-day, then next-day; within a class, who queued first."""
    with database.transaction() as session:
        advisor = add_advisor(session, "all", ("nurse", "social_counsellor"), ("fi",))
        next_day = add_callback(
            session, number(1), topic="social", deadline_class=2, entered=T0 - timedelta(hours=3)
        )
        late_queuer = add_callback(
            session, number(2), deadline_class=1, entered=T0 - timedelta(minutes=30)
        )
        early_queuer = add_callback(
            session, number(3), deadline_class=1, entered=T0 - timedelta(minutes=50)
        )
        escalated = add_callback(session, number(4), deadline_class=0, entered=T0)
    order = []
    for _ in range(4):
        callback_id = claim(database, advisor)
        assert callback_id is not None
        order.append(callback_id)
        with database.transaction() as session:
            finish(session, callback_id, T0)
    assert order == [escalated, early_queuer, late_queuer, next_day]
    assert claim(database, advisor) is None


def test_skill_and_language_must_match(database: Database) -> None:
    with database.transaction() as session:
        nurse_fi = add_advisor(session, "nurse-fi", ("nurse",), ("fi",))
        social_sv = add_advisor(session, "social-sv", ("social_counsellor",), ("fi", "sv"))
        health_sv = add_callback(session, number(1), topic="health", language="sv")
        social_fi = add_callback(session, number(2), topic="social", language="fi")
    assert claim(database, nurse_fi) is None  # health but Swedish; social but not a nurse
    assert claim(database, social_sv) == social_fi
    with database.transaction() as session:
        request = session.get(CallbackRequest, health_sv)
        assert request is not None and request.status is CallbackStatus.PENDING


def test_not_before_and_retry_times_are_respected(database: Database) -> None:
    with database.transaction() as session:
        advisor = add_advisor(session, "a")
        later = add_callback(session, number(1), not_before=T0 + timedelta(minutes=1))
        retry = add_callback(session, number(2))
        request = session.get(CallbackRequest, retry)
        assert request is not None
        request.next_attempt_at = T0 + timedelta(minutes=30)
    assert claim(database, advisor) is None
    with database.transaction() as session:
        claimed = claim_next_callback(
            session, advisor, T0 + timedelta(minutes=1), owner="w", lease=LEASE
        )
        assert claimed is not None and claimed.callback_id == later


def test_an_advisor_holds_one_assignment_at_a_time(database: Database) -> None:
    with database.transaction() as session:
        advisor = add_advisor(session, "a")
        first = add_callback(session, number(1))
        second = add_callback(session, number(2))
    assert claim(database, advisor) == first
    assert claim(database, advisor) is None
    with pytest.raises(IntegrityError), database.transaction() as session:
        session.execute(
            text(
                "UPDATE callback_requests SET status = 'in_progress', advisor_id = :a "
                "WHERE id = :id"
            ),
            {"a": advisor, "id": second},
        )


def test_a_disabled_advisor_gets_nothing(database: Database) -> None:
    with database.transaction() as session:
        advisor = add_advisor(session, "gone", enabled=False)
        add_callback(session, number(1))
    assert claim(database, advisor) is None


def test_a_claim_sets_the_lease_and_records_the_attempt(database: Database) -> None:
    with database.transaction() as session:
        advisor = add_advisor(session, "a")
        callback_id = add_callback(session, number(1))
    with database.transaction() as session:
        claimed = claim_next_callback(session, advisor, T0, owner="host-1:42", lease=LEASE)
        assert claimed is not None
        assert (claimed.attempt_no, claimed.number_e164) == (1, number(1))
        assert claimed.lease_expires_at == T0 + LEASE
    with database.transaction() as session:
        request = session.get(CallbackRequest, callback_id)
        assert request is not None
        assert (request.status, request.advisor_id, request.lease_owner, request.attempts) == (
            CallbackStatus.IN_PROGRESS,
            advisor,
            "host-1:42",
            1,
        )
        attempt = session.scalars(select(CallbackAttempt)).one()
        assert (attempt.callback_id, attempt.attempt_no, attempt.advisor_id) == (
            callback_id,
            1,
            advisor,
        )
        event = session.scalars(select(CallEvent)).one()
        assert event.kind is EventKind.CALLBACK_CLAIMED and event.callback_id == callback_id


CALLBACKS = 120


def _seed(database: Database, advisors: int) -> list[int]:
    with database.transaction() as session:
        ids = [add_advisor(session, f"advisor-{i}") for i in range(advisors)]
        for i in range(CALLBACKS):
            add_callback(session, number(i), entered=T0 - timedelta(seconds=CALLBACKS - i))
    return ids


def _claim_until_empty(url: str, advisor_id: int, owner: str) -> list[int]:
    """What one dispatcher does: claim, finish, claim again, until nothing is left."""
    database = Database.connect(url)
    claimed = []
    try:
        while True:
            with database.transaction() as session:
                got = claim_next_callback(session, advisor_id, T0, owner=owner, lease=LEASE)
                if got is None:
                    break
                claimed.append(got.callback_id)
                finish(session, got.callback_id, T0)
    finally:
        database.close()
    return claimed


def _assert_each_claimed_once(database: Database, claims: list[list[int]]) -> None:
    everything = [c for per_claimer in claims for c in per_claimer]
    assert len(everything) == CALLBACKS
    assert len(set(everything)) == CALLBACKS, "a callback was claimed twice"
    with database.transaction() as session:
        attempts = session.scalar(select(func.count()).select_from(CallbackAttempt))
        assert attempts == CALLBACKS
        left = session.scalar(
            select(func.count()).where(CallbackRequest.status != CallbackStatus.COMPLETED)
        )
        assert left == 0


def test_concurrent_claimers_in_threads_never_share_a_callback(
    database: Database, database_url: str
) -> None:
    advisors = _seed(database, 6)
    results: list[list[int]] = [[] for _ in advisors]

    def run(index: int) -> None:
        results[index] = _claim_until_empty(database_url, advisors[index], f"thread-{index}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(advisors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    _assert_each_claimed_once(database, results)
    assert sum(1 for r in results if r) > 1, "only one claimer ever won: not concurrent"


def _process_claimer(url: str, advisor_id: int, owner: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(_claim_until_empty(url, advisor_id, owner))


def test_concurrent_claimers_in_processes_never_share_a_callback(
    database: Database, database_url: str
) -> None:
    advisors = _seed(database, 4)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [
        context.Process(target=_process_claimer, args=(database_url, a, f"proc-{a}", out))
        for a in advisors
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert [w.exitcode for w in workers] == [0] * len(workers)
    _assert_each_claimed_once(database, results)
