"""An admin closes the line from now for an hour while callers wait and others are in
the menus: the real engine, store and simulated callers, on both databases.

Nobody is dropped: the waiting callers get their queue's closing policy (health: a
callback; other matters: served still), those in the menus meet the closed line at their
next choice, a new caller hears it is closed, the closure's end opens the line again,
and the day's report counts each call under the rules in force when it arrived.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import CallOutcome, EventKind
from callflow.providers.sim.simulation import Simulation
from callflow.providers.sim.workload import Caller
from callflow.reports.kpis import compute_report
from callflow.service.rules import LineRules
from callflow.store.models import CallEvent
from callflow.store.session import Database

pytestmark = pytest.mark.slow  # a simulated hour and a half, twice

T0 = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
"""Tuesday 8 December 2026, 10:00 in Helsinki: the line is open and nobody staffs it."""
QUEUED = ["health"] * 5 + ["other"] * 5
CLOSES_AT = T0 + timedelta(minutes=5)
CLOSED_FOR = timedelta(hours=1)


def caller(at: datetime, topic: str) -> Caller:
    return Caller(
        arrives_at=at,
        withheld=False,
        language="fi",
        topic=topic,
        patience=timedelta(hours=3),  # they wait: only the rules move them
        takes_callback=False,  # the overflow offer is declined: they stay in the queue
    )


def events(database: Database) -> list[CallEvent]:
    with database.reading() as session:
        return list(session.scalars(select(CallEvent).order_by(CallEvent.id)))


def test_closing_the_line_now_for_an_hour(database: Database, config: HotlineConfig) -> None:
    rules = LineRules.load(config, database)
    sim = Simulation(config, database, seed=5, start=T0, rules=rules)
    waiting = [caller(T0 + timedelta(seconds=5 * i), topic) for i, topic in enumerate(QUEUED)]
    in_menus = [caller(CLOSES_AT - timedelta(seconds=2 + i), "health") for i in range(3)]
    sim.schedule_callers([*waiting, *in_menus])
    sim.run_until(CLOSES_AT)
    queued_ids = {c.state.call_id for c in sim.calls.values() if c.state.in_queue}
    menu_ids = {c.state.call_id for c in sim.calls.values() if not c.state.in_queue}
    assert (len(queued_ids), len(menu_ids)) == (10, 3)

    start = rules.calendar.local(CLOSES_AT).replace(tzinfo=None)
    closure = {
        "start": start.isoformat(),
        "end": (start + CLOSED_FOR).isoformat(),
        "reason": "System outage",
    }
    rules.change(f"calendar.closures.{start:%Y-%m-%dT%H:%M}", closure, by="admin", now=CLOSES_AT)
    sim.rules_changed()
    after_closing = CLOSES_AT + timedelta(minutes=1)
    newcomer = caller(CLOSES_AT + timedelta(minutes=20), "health")
    reopened = caller(CLOSES_AT + CLOSED_FOR + timedelta(minutes=1), "other")
    sim.schedule_callers([newcomer, reopened])
    sim.run_until(after_closing)

    log = events(database)
    closing = {e.call_id: e.data["policy"] for e in log if e.kind is EventKind.CLOSING_TIME}
    assert set(closing) == queued_ids, "every waiting caller, and only they, met the closure"
    assert {e.at for e in log if e.kind is EventKind.CLOSING_TIME} == {CLOSES_AT}, "at once"
    assert Counter(closing.values()) == {"callback": 5, "serve": 5}

    sim.run_until(reopened.arrives_at + timedelta(minutes=2))
    log = events(database)
    arrived = {e.call_id: e.data["open"] for e in log if e.kind is EventKind.CALL_ARRIVED}
    assert sorted(arrived.values()) == [False] + [True] * 14
    (closed_call,) = [call for call, is_open in arrived.items() if not is_open]
    told_closed = [e.call_id for e in log if e.kind is EventKind.CALL_CLOSED_HOURS]
    assert told_closed == [closed_call]
    entered = {e.call_id for e in log if e.kind is EventKind.QUEUE_ENTERED}
    assert not entered & (menu_ids | {closed_call}), "no queue while the line is closed"
    assert len(entered - queued_ids) == 1, "the caller after the closure is queued again"
    left = Counter(e.data["reason"] for e in log if e.kind is EventKind.QUEUE_LEFT)
    assert left == {"closing": 5}, "health's callers left for a callback; the rest still wait"
    assert not [e for e in log if e.kind is EventKind.DROPPED]
    ended = {c.state.call_id: c.state.outcome for c in sim.calls.values() if c.state.outcome}
    assert CallOutcome.DROPPED not in ended.values()
    sim.close()

    report = compute_report(
        database, config, T0.date(), T0.date(), now=reopened.arrives_at + timedelta(hours=1)
    )
    assert report["closed_hours_calls"] == 1
    assert report["offered"] == 14
