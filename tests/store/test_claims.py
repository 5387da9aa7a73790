"""claim_next_callback: the right callback, to the right advisor, once."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callflow.engine.vocabulary import CallbackStatus, EventKind
from callflow.store.claims import ClaimedCallback, claim_callbacks, claim_next_callback
from callflow.store.models import Advisor, AdvisorState, CallbackAttempt, CallbackRequest, CallEvent
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


def _claim_until_empty(
    url: str, advisor_id: int, owner: str, start: threading.Barrier | None = None
) -> list[int]:
    """What one dispatcher does: claim, finish, claim again, until nothing is left; with
    *start*, once every claimer is connected, so that none has the line to itself."""
    database = Database.connect(url)
    claimed = []
    try:
        if start is not None:
            with database.reading() as session:
                session.execute(select(1))  # connected, as the others are when they start
            start.wait(30)
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


@pytest.mark.slow
def test_concurrent_claimers_in_threads_never_share_a_callback(
    database: Database, database_url: str
) -> None:
    advisors = _seed(database, 6)
    results: list[list[int]] = [[] for _ in advisors]
    start = threading.Barrier(len(advisors))

    def run(index: int) -> None:
        owner = f"thread-{index}"
        results[index] = _claim_until_empty(database_url, advisors[index], owner, start)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(advisors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    _assert_each_claimed_once(database, results)
    if database.dialect == "postgresql":
        # SQLite takes one writer at a time and its busy handler sleeps with a backoff, so
        # the thread that just committed may well win every turn: only PostgreSQL's row
        # locks are sure to share the work out.
        assert sum(1 for r in results if r) > 1, "only one claimer ever won: not concurrent"


def _process_claimer(url: str, advisor_id: int, owner: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(_claim_until_empty(url, advisor_id, owner))


@pytest.mark.slow
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


# -- pairing: any ready advisor (advisor_id=None) -------------------------------------------


def ready_since(session: Session, advisor_id: int, ready_at: datetime) -> None:
    advisor = session.get(Advisor, advisor_id)
    assert advisor is not None
    advisor.state, advisor.state_since, advisor.ready_at = (
        AdvisorState.AVAILABLE,
        ready_at,
        ready_at,
    )


def put_in(
    session: Session, advisor_id: int, state: AdvisorState, ready_at: datetime | None
) -> None:
    advisor = session.get(Advisor, advisor_id)
    assert advisor is not None
    advisor.state, advisor.state_since, advisor.ready_at = state, T0, ready_at


def claim_any(database: Database, now: datetime = T0) -> ClaimedCallback | None:
    with database.transaction() as session:
        return claim_next_callback(session, None, now, owner="worker-1", lease=LEASE)


def test_the_longest_idle_advisor_gets_the_next_callback(database: Database) -> None:
    """Whoever has waited longest for work is given it first, whatever their id."""
    with database.transaction() as session:
        recent, longest, middle = (add_advisor(session, n) for n in ("recent", "longest", "mid"))
        ready_since(session, recent, T0 - timedelta(minutes=5))
        ready_since(session, longest, T0 - timedelta(minutes=20))
        ready_since(session, middle, T0 - timedelta(minutes=10))
        first, second, third = (
            add_callback(session, number(i), entered=T0 - timedelta(minutes=30 - i))
            for i in range(3)
        )
    given = [claim_any(database) for _ in range(3)]
    assert [(c.callback_id, c.advisor_id) for c in given if c] == [
        (first, longest),
        (second, middle),
        (third, recent),
    ]


def test_the_claim_takes_the_callbacks_skill_and_language_from_the_longest_idle_able(
    database: Database,
) -> None:
    """Longer idle is no use without the topic's skill and the caller's language."""
    with database.transaction() as session:
        finnish_nurse = add_advisor(session, "fi-nurse", ("nurse",), ("fi",))
        swedish_counsellor = add_advisor(session, "sv-social", ("social_counsellor",), ("sv",))
        swedish_nurse = add_advisor(session, "sv-nurse", ("nurse",), ("fi", "sv"))
        ready_since(session, finnish_nurse, T0 - timedelta(hours=2))
        ready_since(session, swedish_counsellor, T0 - timedelta(hours=1))
        ready_since(session, swedish_nurse, T0 - timedelta(minutes=1))
        health_sv = add_callback(session, number(1), topic="health", language="sv")
    claimed = claim_any(database)
    assert claimed is not None
    assert (claimed.callback_id, claimed.advisor_id) == (health_sv, swedish_nurse)


def test_a_callback_nobody_ready_can_serve_does_not_block_the_line(database: Database) -> None:
    """A Swedish social callback first in line, and only a Finnish nurse ready: the
    nurse takes the next one they can serve; the first keeps its place."""
    with database.transaction() as session:
        nurse = add_advisor(session, "nurse")
        unservable = add_callback(
            session, number(1), topic="social", language="sv", entered=T0 - timedelta(hours=1)
        )
        servable = add_callback(session, number(2), entered=T0)
    claimed = claim_any(database)
    assert claimed is not None and (claimed.callback_id, claimed.advisor_id) == (servable, nurse)
    with database.transaction() as session:
        counsellor = add_advisor(session, "counsellor", ("social_counsellor",), ("sv",))
    claimed = claim_any(database)
    assert claimed is not None
    assert (claimed.callback_id, claimed.advisor_id) == (unservable, counsellor)


def test_an_advisor_in_wrap_up_is_claimable_once_it_ends(database: Database) -> None:
    with database.transaction() as session:
        advisor = add_advisor(session, "wrapping")
        put_in(session, advisor, AdvisorState.WRAP_UP, T0 + timedelta(seconds=60))
        callback_id = add_callback(session, number(1))
    assert claim_any(database) is None
    assert claim_any(database, T0 + timedelta(seconds=59)) is None
    claimed = claim_any(database, T0 + timedelta(seconds=60))
    assert claimed is not None and (claimed.callback_id, claimed.advisor_id) == (
        callback_id,
        advisor,
    )


@pytest.mark.parametrize("state", [AdvisorState.BREAK, AdvisorState.OFFLINE, AdvisorState.BUSY])
def test_advisors_away_or_busy_are_never_given_a_callback(
    database: Database, state: AdvisorState
) -> None:
    """Whatever their ready time says: only available or wrap-up counts."""
    with database.transaction() as session:
        advisor = add_advisor(session, "away")
        put_in(session, advisor, state, T0 - timedelta(hours=1))
        add_callback(session, number(1))
    assert claim_any(database) is None
    assert claim_any(database, T0 + timedelta(days=1)) is None


def test_a_disabled_advisor_is_never_chosen(database: Database) -> None:
    with database.transaction() as session:
        add_advisor(session, "gone", enabled=False)
        add_callback(session, number(1))
    assert claim_any(database) is None


def test_the_claim_makes_the_advisor_busy_with_one_assignment(database: Database) -> None:
    with database.transaction() as session:
        advisor = add_advisor(session, "only")
        first = add_callback(session, number(1), entered=T0 - timedelta(minutes=2))
        second = add_callback(session, number(2), entered=T0 - timedelta(minutes=1))
    claimed = claim_any(database)
    assert claimed is not None and claimed.callback_id == first
    with database.transaction() as session:
        held = session.get(Advisor, advisor)
        assert held is not None
        assert (held.state, held.state_since, held.ready_at) == (AdvisorState.BUSY, T0, None)
    assert claim_any(database, T0 + timedelta(hours=1)) is None
    with database.transaction() as session:
        waiting = session.get(CallbackRequest, second)
        assert waiting is not None and waiting.status is CallbackStatus.PENDING


def test_a_given_advisor_is_the_only_one_considered(database: Database) -> None:
    """A dispatcher that names an advisor gets that advisor or nothing, even when
    someone else has been idle longer."""
    with database.transaction() as session:
        longest = add_advisor(session, "longest")
        named = add_advisor(session, "named")
        swedish = add_advisor(session, "swedish", languages=("sv",))
        ready_since(session, longest, T0 - timedelta(hours=1))
        ready_since(session, named, T0 - timedelta(minutes=1))
        callback_id = add_callback(session, number(1))
    with database.transaction() as session:
        assert claim_next_callback(session, swedish, T0, owner="w", lease=LEASE) is None
        claimed = claim_next_callback(session, named, T0, owner="w", lease=LEASE)
    assert claimed is not None and (claimed.callback_id, claimed.advisor_id) == (
        callback_id,
        named,
    )


# -- several claims at once -----------------------------------------------------------------


def claim_batch(database: Database, limit: int) -> list[tuple[int, int]]:
    with database.transaction() as session:
        claimed = claim_callbacks(session, T0, owner="worker-1", lease=LEASE, limit=limit)
    return [(c.callback_id, c.advisor_id) for c in claimed]


def test_a_batch_pairs_as_claims_one_after_another_would(database: Database) -> None:
    """Each request in line order takes the longest-idle able advisor left; one nobody
    left can serve keeps its place, and the ones behind it are still served."""
    with database.transaction() as session:
        finnish_nurse = add_advisor(session, "fi-nurse", ("nurse",), ("fi",))
        bilingual_nurse = add_advisor(session, "fi-sv-nurse", ("nurse",), ("fi", "sv"))
        swedish_counsellor = add_advisor(session, "sv-social", ("social_counsellor",), ("sv",))
        ready_since(session, finnish_nurse, T0 - timedelta(hours=3))
        ready_since(session, bilingual_nurse, T0 - timedelta(hours=2))
        ready_since(session, swedish_counsellor, T0 - timedelta(hours=1))
        health_sv, health_fi, social_fi, second_health_fi, social_sv = (
            add_callback(
                session,
                number(i),
                topic=topic,
                language=language,
                entered=T0 - timedelta(minutes=50 - i),
            )
            for i, (topic, language) in enumerate(
                [
                    ("health", "sv"),
                    ("health", "fi"),
                    ("social", "fi"),
                    ("health", "fi"),
                    ("social", "sv"),
                ]
            )
        )
    assert claim_batch(database, 8) == [
        (health_sv, bilingual_nurse),  # the longer-idle Finnish nurse speaks no Swedish
        (health_fi, finnish_nurse),
        (social_sv, swedish_counsellor),
    ]
    with database.transaction() as session:
        for unserved in (social_fi, second_health_fi):
            request = session.get(CallbackRequest, unserved)
            assert request is not None and request.status is CallbackStatus.PENDING
        assert session.scalar(select(func.count()).select_from(CallbackAttempt)) == 3
        claimed_events = session.scalars(
            select(CallEvent.callback_id).where(CallEvent.kind == EventKind.CALLBACK_CLAIMED)
        )
        assert sorted(claimed_events) == sorted([health_sv, health_fi, social_sv])


def test_a_batch_stops_at_its_limit_in_line_order(database: Database) -> None:
    with database.transaction() as session:
        for i in range(5):
            add_advisor(session, f"advisor-{i}")
        callbacks = [
            add_callback(session, number(i), entered=T0 - timedelta(minutes=10 - i))
            for i in range(5)
        ]
    assert [callback for callback, _ in claim_batch(database, 3)] == callbacks[:3]
    assert [callback for callback, _ in claim_batch(database, 3)] == callbacks[3:]
    assert claim_batch(database, 3) == []


def test_a_batch_walks_past_a_limits_worth_that_nobody_can_serve(database: Database) -> None:
    """The first requests in line are all Swedish, and only Finnish nurses are ready:
    the batch goes on down the line rather than coming back empty."""
    with database.transaction() as session:
        nurses = [add_advisor(session, f"nurse-{i}") for i in range(2)]
        for i in range(4):
            add_callback(session, number(i), language="sv", entered=T0 - timedelta(hours=1))
        finnish = [add_callback(session, number(10 + i), entered=T0) for i in range(2)]
    assert sorted(claim_batch(database, 2)) == sorted(zip(finnish, nurses, strict=True))


# -- many claimers, any advisor ----------------------------------------------------------------

MANY_CALLBACKS = 60
MANY_ADVISORS = 8
CLAIMERS = 12


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.slow
def test_concurrent_claims_for_any_advisor_pair_each_callback_and_advisor_once(
    database: Database, database_url: str, batch: int
) -> None:
    """Twelve dispatchers at once, claiming one or three at a time, eight advisors and
    sixty callbacks: assignments are held across commits (claimed, then finished in a
    later transaction), and at no moment is a callback given twice or an advisor given
    two."""
    with database.transaction() as session:
        for i in range(MANY_ADVISORS):
            add_advisor(session, f"advisor-{i}")
        for i in range(MANY_CALLBACKS):
            add_callback(session, number(i), entered=T0 - timedelta(seconds=MANY_CALLBACKS - i))
    guard = threading.Lock()
    holding: set[int] = set()
    claimed: list[int] = []
    problems: list[str] = []
    peak = [0]
    start = threading.Barrier(CLAIMERS)

    def dispatcher(index: int) -> None:
        own = Database.connect(database_url)
        try:
            start.wait()
            misses = 0
            while misses < 200:
                with own.transaction() as session:
                    got = claim_callbacks(
                        session, T0, owner=f"thread-{index}", lease=LEASE, limit=batch
                    )
                if not got:
                    with own.reading() as session:
                        if not session.scalar(
                            select(func.count()).where(
                                CallbackRequest.status == CallbackStatus.PENDING
                            )
                        ):
                            return
                    misses += 1
                    continue
                with guard:
                    for one in got:
                        if one.advisor_id in holding:
                            problems.append(f"advisor {one.advisor_id} given a second callback")
                        holding.add(one.advisor_id)
                        claimed.append(one.callback_id)
                    peak[0] = max(peak[0], len(holding))
                with own.transaction() as session:
                    for one in got:
                        finish(session, one.callback_id, T0)
                    session.flush()
                    with guard:
                        for one in got:  # just before the commit frees them
                            holding.discard(one.advisor_id)
            problems.append(f"thread-{index} kept missing")
        finally:
            own.close()

    threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert problems == []
    assert sorted(claimed) == sorted(set(claimed)), "a callback was claimed twice"
    assert len(claimed) == MANY_CALLBACKS
    if database.dialect == "postgresql":  # SQLite's one writer at a time may never overlap
        assert peak[0] > 1, "assignments never overlapped: not concurrent"
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(CallbackAttempt)) == MANY_CALLBACKS
        assert not session.scalar(
            select(func.count()).where(CallbackRequest.status != CallbackStatus.COMPLETED)
        )
