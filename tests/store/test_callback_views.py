"""Admins' read models: the line of open requests in claim order, closed ones newest first,
the at-risk view, and one request's whole history, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

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
from callflow.errors import UnknownCallback
from callflow.store.attempts import finish_attempt, mark_dialled, retry_policy
from callflow.store.callback_views import callback_history, list_callbacks
from callflow.store.callbacks import cancel_callback
from callflow.store.claims import claim_next_callback
from callflow.store.outcomes import Coding, record_callback_coding
from callflow.store.session import Database
from callflow.store.upkeep import carry_over_at_closing, flag_callbacks_at_risk
from tests.store.helpers import T0, add_advisor, add_callback, number

OWNER = "test-worker"
SPACING = timedelta(minutes=31)
"""A little over the example line's retry spacing: the next attempt is due by then."""
CODING = Coding(ReasonCategory.HEALTH, Referral.OWN_SERVICES, Resolution.SIMPLE_NEED)


def call_back(
    session: Session,
    config: HotlineConfig,
    advisor_id: int,
    result: AttemptResult,
    at: timedelta,
) -> int:
    """One whole attempt by *advisor_id* at T0 + *at*, as a dispatcher makes it: the next
    due request is claimed, dialled and ended with *result* (coded when reached)."""
    now = T0 + at
    claimed = claim_next_callback(
        session, advisor_id, now, owner=OWNER, lease=timedelta(seconds=90)
    )
    assert claimed is not None, "nothing due for this advisor"
    mark_dialled(session, claimed.callback_id, claimed.attempt_no, now, owner=OWNER)
    finish_attempt(
        session,
        claimed.callback_id,
        claimed.attempt_no,
        result,
        now + timedelta(seconds=40),
        owner=OWNER,
        policy=retry_policy(config),
        calendar=Calendar.from_config(config),
        duration_s=40.0,
    )
    if result is AttemptResult.REACHED:
        record_callback_coding(
            session, claimed.callback_id, claimed.attempt_no, CODING, now + timedelta(minutes=1)
        )
    return claimed.callback_id


def fail_for_good(
    session: Session, config: HotlineConfig, advisor_id: int, start: timedelta = timedelta(0)
) -> int:
    """Not reached in the example line's three attempts: the request is failed."""
    for attempt in range(3):
        callback_id = call_back(
            session, config, advisor_id, AttemptResult.NO_ANSWER, start + SPACING * attempt
        )
    return callback_id


def ids(
    database: Database,
    statuses: list[CallbackStatus] | None = None,
    *,
    at_risk: bool = False,
    topic: str | None = None,
    limit: int = 100,
) -> list[int]:
    with database.reading() as session:
        views = list_callbacks(
            session, statuses=statuses, at_risk=at_risk, topic=topic, limit=limit
        )
    return [view.id for view in views]


def test_open_requests_come_in_the_order_they_will_be_claimed(database: Database) -> None:
    with database.transaction() as session:
        nurse = add_advisor(session, "nurse")
        next_day = add_callback(session, number(1), entered=T0, deadline_class=2)
        later = add_callback(session, number(2), entered=T0 + timedelta(minutes=10))
        earlier = add_callback(session, number(3), entered=T0 + timedelta(minutes=5))
        escalated = add_callback(
            session, number(4), entered=T0 + timedelta(minutes=20), deadline_class=0
        )
        cancelled = add_callback(session, number(5), entered=T0 - timedelta(hours=1))
        cancel_callback(session, cancelled, T0, "cancelled by caller")
        claimed = claim_next_callback(
            session, nurse, T0 + timedelta(hours=1), owner=OWNER, lease=timedelta(seconds=90)
        )
    assert claimed is not None and claimed.callback_id == escalated

    with database.reading() as session:
        views = list_callbacks(
            session, statuses=(CallbackStatus.PENDING, CallbackStatus.IN_PROGRESS)
        )
    assert [v.id for v in views] == [escalated, earlier, later, next_day]
    first = views[0]
    assert (first.status, first.advisor_id, first.attempts) == (
        CallbackStatus.IN_PROGRESS,
        nurse,
        1,
    )
    assert (first.number_e164, first.topic, first.language) == (number(4), "health", "fi")
    assert ids(database, [CallbackStatus.PENDING]) == [earlier, later, next_day]


def test_closed_requests_come_newest_first_after_the_open_ones(database: Database) -> None:
    with database.transaction() as session:
        older = add_callback(session, number(1))
        newer = add_callback(session, number(2))
        still_open = add_callback(session, number(3))
        cancel_callback(session, older, T0 + timedelta(hours=1), "cancelled by caller")
        cancel_callback(session, newer, T0 + timedelta(hours=2), "cancelled by admin")

    assert ids(database, [CallbackStatus.CANCELLED]) == [newer, older]
    assert ids(database) == [still_open, newer, older]
    assert ids(database, [CallbackStatus.FAILED]) == []
    with database.reading() as session:
        (view,) = list_callbacks(session, statuses=[CallbackStatus.CANCELLED], limit=1)
    assert (view.id, view.closed_at, view.closed_reason) == (
        newer,
        T0 + timedelta(hours=2),
        "cancelled by admin",
    )


def test_failed_requests_are_the_manual_follow_up_list(
    database: Database, config: HotlineConfig
) -> None:
    with database.transaction() as session:
        nurse = add_advisor(session, "nurse")
        failed = add_callback(session, number(1))
        add_callback(session, number(2), topic="social")  # no social counsellor: stays pending
        fail_for_good(session, config, nurse)

    with database.reading() as session:
        (view,) = list_callbacks(session, statuses=[CallbackStatus.FAILED])
    assert (view.id, view.attempts, view.closed_reason) == (
        failed,
        3,
        "not reached in 3 attempts",
    )


def test_at_risk_means_open_and_flagged_or_late(database: Database) -> None:
    margin = timedelta(minutes=30)
    with database.transaction() as session:
        # add_callback's requests are due five hours after entering the queue.
        flagged = add_callback(session, number(1), entered=T0 - timedelta(hours=4, minutes=50))
        on_time = add_callback(session, number(2), entered=T0)
        flagged_then_cancelled = add_callback(
            session, number(3), entered=T0 - timedelta(hours=4, minutes=45)
        )
        assert sorted(flag_callbacks_at_risk(session, T0, margin)) == sorted(
            [flagged, flagged_then_cancelled]
        )
        cancel_callback(session, flagged_then_cancelled, T0, "cancelled by caller")
        overdue = add_callback(session, number(4), entered=T0 - timedelta(hours=6))
        assert carry_over_at_closing(session, T0) == [overdue]

    # Both are escalated now, so the caller who entered the queue first comes first.
    assert ids(database, at_risk=True) == [overdue, flagged]
    assert ids(database, [CallbackStatus.PENDING], at_risk=True) == [overdue, flagged]
    assert ids(database, [CallbackStatus.CANCELLED], at_risk=True) == []
    assert on_time in ids(database)
    with database.reading() as session:
        late, risky = list_callbacks(session, at_risk=True)
    assert (late.late, late.at_risk_at) == (True, None)
    assert (risky.late, risky.at_risk_at) == (False, T0)


def test_topic_and_limit_narrow_the_list(database: Database) -> None:
    with database.transaction() as session:
        health = [
            add_callback(session, number(i), entered=T0 + timedelta(minutes=i)) for i in (1, 2)
        ]
        social = add_callback(session, number(3), topic="social", entered=T0)
    assert ids(database, topic="social") == [social]
    assert ids(database, topic="health") == health
    assert ids(database, limit=2) == [social, health[0]]
    with database.reading() as session, pytest.raises(ValueError, match="at least 1"):
        list_callbacks(session, limit=0)


def test_history_has_every_attempt_with_its_coding_and_every_event(
    database: Database, config: HotlineConfig
) -> None:
    with database.transaction() as session:
        nurse = add_advisor(session, "nurse")
        callback_id = add_callback(session, number(1))
        call_back(session, config, nurse, AttemptResult.NO_ANSWER, timedelta(0))
        call_back(session, config, nurse, AttemptResult.REACHED, SPACING)

    with database.reading() as session:
        history = callback_history(session, callback_id)
    assert history.request.status is CallbackStatus.COMPLETED
    first, second = history.attempts
    assert (first.attempt_no, first.result, first.advisor_id) == (1, AttemptResult.NO_ANSWER, nurse)
    assert (first.dialled_at, first.ended_at) == (T0, T0 + timedelta(seconds=40))
    assert (first.resolution, first.referral, first.reason) == (None, None, None)
    assert (second.attempt_no, second.result, second.duration_s) == (2, AttemptResult.REACHED, 40)
    assert (second.resolution, second.referral, second.reason) == (
        CODING.resolution,
        CODING.referral,
        CODING.reason,
    )
    assert [e.kind for e in history.events] == [
        EventKind.CALLBACK_CLAIMED,
        EventKind.CALLBACK_DIALLED,
        EventKind.CALLBACK_ATTEMPT_ENDED,
        EventKind.CALLBACK_CLAIMED,
        EventKind.CALLBACK_DIALLED,
        EventKind.CALLBACK_ATTEMPT_ENDED,
        EventKind.CALLBACK_COMPLETED,
        EventKind.CONTACT_CODED,
    ]
    assert history.events[2].data["result"] == "no_answer"
    assert [e.at for e in history.events] == sorted(e.at for e in history.events)


def test_a_history_costs_the_same_statements_however_many_attempts(
    database: Database, config: HotlineConfig
) -> None:
    with database.transaction() as session:
        nurse = add_advisor(session, "nurse")
        one = add_callback(session, number(1))
        call_back(session, config, nurse, AttemptResult.REACHED, timedelta(0))
        three = add_callback(session, number(2))
        fail_for_good(session, config, nurse, start=timedelta(minutes=5))

    def statements(callback_id: int) -> int:
        seen: list[str] = []

        def count(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(database.engine, "before_cursor_execute", count)
        try:
            with database.reading() as session:
                history = callback_history(session, callback_id)
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
        assert history.request.id == callback_id
        return len(seen)

    assert statements(three) == statements(one)


def test_an_unknown_request_has_no_history(database: Database) -> None:
    with database.reading() as session, pytest.raises(UnknownCallback) as caught:
        callback_history(session, 404)
    assert caught.value.callback_id == 404
