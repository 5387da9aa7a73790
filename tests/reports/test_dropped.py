"""Calls the exchange or carrier dropped, in the report, on SQLite and PostgreSQL: counted as
``calls_dropped``, never as abandons, and left out of the shares' denominator.

The example configuration applies: answered immediately within 60 s, service
level within 120 s, short abandons under 10 s.
"""

from __future__ import annotations

from datetime import date, timedelta

from callflow.config.models import HotlineConfig
from callflow.reports.kpis import compute_report
from callflow.store.session import Database
from tests.reports.eventlog import CallScript, EventLog, local

MONDAY = "2026-01-12"
LATER = local("2026-01-13", "12:00")


def queued(log: EventLog, arrives: str, topic: str) -> CallScript:
    at = local(MONDAY, arrives)
    return log.call(at).topic(at + timedelta(seconds=20), topic).queued(at + timedelta(seconds=30))


def a_monday_with_an_exchange_fault(log: EventLog) -> None:
    """Five calls on Monday 2026-01-12 (all offered: the line is open).

    ====  =======  ======  ===============================================
    call  arrives  queue   what happens
    ====  =======  ======  ===============================================
    A     09:00    health  queued 09:00:30, answered after 30 s
    B     09:10    health  queued 09:10:30, dropped by the exchange after 60 s
    C     09:20    –       dropped by the exchange in the menu
    D     09:30    social  queued 09:30:30, hangs up after 120 s
    E     09:40    social  queued 09:40:30, dropped after 5 s (no short abandon)
    ====  =======  ======  ===============================================
    """
    queued(log, "09:00", "health").answered(local(MONDAY, "09:01:00"), 30)
    queued(log, "09:10", "health").dropped(local(MONDAY, "09:11:30"), wait_s=60)
    log.call(local(MONDAY, "09:20")).dropped(local(MONDAY, "09:20:10"))
    queued(log, "09:30", "social").abandoned(local(MONDAY, "09:32:30"), wait_s=120)
    queued(log, "09:40", "social").dropped(local(MONDAY, "09:40:35"), wait_s=5)
    log.save()


def test_dropped_calls_are_counted_apart_from_abandons(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    a_monday_with_an_exchange_fault(log)
    day = date.fromisoformat(MONDAY)
    figures = compute_report(database, config, day, day, now=LATER)
    assert figures["offered"] == 5
    assert figures["calls_dropped"] == 3
    assert (figures["abandoned_ivr"], figures["abandoned_queue"]) == (0, 1)  # D only
    assert figures["short_abandons"] == 0  # E's five seconds were the exchange's
    # Four queued (A, B, D, E), two of them dropped: two count, A answered within both.
    assert figures["service_level"] == 1 / 2
    assert figures["answered_immediately_share"] == 1 / 2
    assert figures["abandon_rate"] == 1 / 2
    health, social = figures["by_queue"]["health"], figures["by_queue"]["social"]
    assert (health["calls_dropped"], health["service_level"]) == (1, 1.0)
    assert (social["calls_dropped"], social["abandoned_queue"], social["service_level"]) == (
        1,
        1,
        0.0,
    )
    assert figures["by_hour"]["09"]["calls_dropped"] == 3


def test_a_drop_logged_after_a_report_moves_the_call_out_of_the_shares(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """The roll-up is brought up to date in steps: a call still waiting at the first report
    and dropped before the second leaves the denominator then."""
    queued(log, "09:00", "health").answered(local(MONDAY, "09:01:00"), 30)
    waiting = queued(log, "09:10", "health")
    log.save()
    day = date.fromisoformat(MONDAY)
    before = compute_report(database, config, day, day, now=local(MONDAY, "09:12"))
    assert (before["calls_dropped"], before["service_level"]) == (0, 1 / 2)
    waiting.dropped(local(MONDAY, "09:12:30"), wait_s=120)
    log.save()
    after = compute_report(database, config, day, day, now=LATER)
    assert (after["calls_dropped"], after["service_level"]) == (1, 1.0)
    assert after["abandoned_queue"] == 0
