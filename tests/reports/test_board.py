"""The wallboard's figures, read from the store on SQLite and PostgreSQL: who waits, who is
free, which callback requests are late, and today's measures as the report has them.

The example configuration applies: health (nurse), social and other queues; fi, sv and en;
health's default handle time is 7 minutes. T0 is Monday 2026-01-12 10:00 in Helsinki.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from callflow.config.models import HotlineConfig
from callflow.engine.commands import LookUpQueue
from callflow.engine.forecast import estimated_wait
from callflow.errors import StoreError
from callflow.providers.twilio.queue_reads import TwilioQueueReads
from callflow.reports import board as board_module
from callflow.reports.board import (
    AdvisorCounts,
    BoardReader,
    CallbackCounts,
    TodayFigures,
    read_board,
)
from callflow.reports.kpis import compute_report
from callflow.store.advisors import (
    LegEnd,
    advisor_leg_ended,
    hold_until_outcome,
    register_advisor,
    set_advisor_state,
    take_advisor,
)
from callflow.store.models import Advisor, AdvisorState, Call, CallbackRequest
from callflow.store.queue_places import take_place
from callflow.store.session import Database
from tests.reports.eventlog import EventLog, local
from tests.store.helpers import T0, add_callback, finish, number

MONDAY = "2026-01-12"


def places(database: Database, *callers: tuple[str, str, str, datetime]) -> None:
    """Callers (call id, topic, language, entered) waiting on Twilio."""
    with database.transaction() as session:
        for call_id, topic, language, entered in callers:
            take_place(
                session,
                call_id,
                provider="twilio",
                topic=topic,
                language=language,
                entered_at=entered,
            )


def advisor(
    database: Database,
    name: str,
    state: AdvisorState,
    *,
    skills: tuple[str, ...] = ("nurse",),
    languages: tuple[str, ...] = ("fi",),
    at: datetime = T0,
) -> int:
    """An advisor brought into *state* at *at* the way the line does it."""
    with database.transaction() as session:
        advisor_id = register_advisor(
            session, name, skills, languages, at, dial_string=f"PJSIP/{name}"
        )
        if state is AdvisorState.OFFLINE:
            return advisor_id
        if state is AdvisorState.BREAK:
            set_advisor_state(session, advisor_id, state, at)
            return advisor_id
        set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, at)
        if state is not AdvisorState.AVAILABLE:
            assert take_advisor(session, advisor_id, f"call-for-{name}", at) is not None
    return advisor_id


# -- callers waiting -------------------------------------------------------------------------


def test_waiting_callers_and_the_longest_wait_per_queue_and_language(
    database: Database, config: HotlineConfig
) -> None:
    """Three health callers (two Finnish, one Swedish) and one social caller, on any
    provider: health's longest wait is its first caller's, the line's is the longest of all."""
    places(
        database,
        ("c1", "health", "fi", T0 - timedelta(minutes=4)),
        ("c2", "health", "sv", T0 - timedelta(minutes=6)),
        ("c3", "health", "fi", T0 - timedelta(minutes=1)),
        ("c4", "social", "fi", T0 - timedelta(minutes=9)),
    )
    with database.transaction() as session:
        take_place(
            session,
            "c5",
            provider="ari",
            topic="other",
            language="en",
            entered_at=T0 - timedelta(seconds=30),
        )

    board = read_board(database, config, T0)

    health, social, other = board.queues
    assert [q.name for q in board.queues] == ["health", "social", "other"]
    assert (health.waiting, health.longest_wait) == (3, timedelta(minutes=6))
    assert health.by_language["fi"].waiting == 2
    assert health.by_language["fi"].longest_wait == timedelta(minutes=4)
    assert health.by_language["sv"].longest_wait == timedelta(minutes=6)
    assert (health.by_language["en"].waiting, health.by_language["en"].longest_wait) == (0, None)
    assert (social.waiting, social.longest_wait) == (1, timedelta(minutes=9))
    assert (other.waiting, other.longest_wait) == (1, timedelta(seconds=30))
    assert (board.line.name, board.line.waiting) == (None, 5)
    assert board.line.longest_wait == timedelta(minutes=9)
    assert board.line.by_language["fi"].waiting == 3


def test_nobody_waiting_is_no_wait_rather_than_zero(
    database: Database, config: HotlineConfig
) -> None:
    """An empty queue has no longest wait to show (None), not a wait of 0 s."""
    board = read_board(database, config, T0)
    assert all((q.waiting, q.longest_wait) == (0, None) for q in [*board.queues, board.line])


# -- advisors --------------------------------------------------------------------------------


def test_advisor_states_per_queue_and_language(database: Database, config: HotlineConfig) -> None:
    """Nurses: Aino free, Bo talking (fi and sv), Cecilia past her wrap-up (free again),
    Dan wrapping up until he records his outcome, Eeva on a break, Fia signed out, Gun
    disabled; Hugo is a social counsellor. Each advisor counts once per queue."""
    advisor(database, "aino", AdvisorState.AVAILABLE)
    advisor(database, "bo", AdvisorState.BUSY, languages=("fi", "sv"))
    cecilia = advisor(database, "cecilia", AdvisorState.BUSY, languages=("sv",))
    dan = advisor(database, "dan", AdvisorState.BUSY)
    advisor(database, "eeva", AdvisorState.BREAK)
    advisor(database, "fia", AdvisorState.OFFLINE)
    gun = advisor(database, "gun", AdvisorState.AVAILABLE)
    advisor(database, "hugo", AdvisorState.AVAILABLE, skills=("social_counsellor",))
    with database.transaction() as session:
        ended = T0 + timedelta(minutes=5)
        advisor_leg_ended(session, cecilia, LegEnd.TALKED, ended, wrap_up=timedelta(minutes=1))
        hold_until_outcome(session, dan, ended)
        session.execute(update(Advisor).where(Advisor.id == gun).values(enabled=False))

    board = read_board(database, config, T0 + timedelta(minutes=7))

    health = board.queues[0]
    assert health.advisors == AdvisorCounts(signed_in=4, free=2, talking=1, wrap_up=1, on_break=1)
    assert health.by_language["fi"].advisors == AdvisorCounts(
        signed_in=3, free=1, talking=1, wrap_up=1, on_break=1
    )
    assert health.by_language["sv"].advisors == AdvisorCounts(
        signed_in=2, free=1, talking=1, wrap_up=0, on_break=0
    )
    assert health.by_language["en"].advisors == AdvisorCounts(0, 0, 0, 0, 0)
    assert board.queues[1].advisors == AdvisorCounts(1, 1, 0, 0, 0)
    assert board.line.advisors == AdvisorCounts(
        signed_in=5, free=3, talking=1, wrap_up=1, on_break=1
    )
    assert board.line.by_language["sv"].advisors.signed_in == 2


def test_wrap_up_counts_as_wrap_up_until_its_end(database: Database, config: HotlineConfig) -> None:
    """Cecilia's minute of wrap-up ends at 10:06: at 10:05:30 she is wrapping up."""
    cecilia = advisor(database, "cecilia", AdvisorState.BUSY)
    with database.transaction() as session:
        ended = T0 + timedelta(minutes=5)
        advisor_leg_ended(session, cecilia, LegEnd.TALKED, ended, wrap_up=timedelta(minutes=1))

    during = read_board(database, config, T0 + timedelta(minutes=5, seconds=30)).queues[0]
    after = read_board(database, config, T0 + timedelta(minutes=6)).queues[0]

    assert (during.advisors.wrap_up, during.advisors.free) == (1, 0)
    assert (after.advisors.wrap_up, after.advisors.free) == (0, 1)


# -- the wait a new caller would be told -----------------------------------------------------


def test_estimated_wait_is_what_a_new_caller_would_be_told(
    database: Database, config: HotlineConfig
) -> None:
    """Two health callers waiting, one Finnish nurse talking and one free: a third caller
    waits (3 − 1 free) × 7 min ÷ 2 staffed = 7 min, the figure Twilio's queue reads give a
    new caller. Nobody speaks English: no estimate."""
    places(
        database,
        ("c1", "health", "fi", T0 - timedelta(minutes=2)),
        ("c2", "health", "sv", T0 - timedelta(minutes=1)),
    )
    advisor(database, "aino", AdvisorState.AVAILABLE)
    advisor(database, "bo", AdvisorState.BUSY)

    board = read_board(database, config, T0)

    with database.reading() as session:
        question = LookUpQueue(topic="health", language="fi", entered_at=None)
        told = estimated_wait(TwilioQueueReads(config).snapshot(session, "new", question, T0))
    health = board.queues[0]
    assert health.estimated_wait == told == timedelta(minutes=7)
    assert health.by_language["fi"].estimated_wait == timedelta(minutes=7)
    assert health.by_language["en"].estimated_wait is None
    assert board.line.estimated_wait is None  # nobody joins the whole line


def test_estimated_wait_follows_the_recent_calls_length(
    database: Database, config: HotlineConfig
) -> None:
    """Health's recent answered calls lasted 3 and 5 minutes: a new caller behind one
    waiting, with one busy nurse, waits 2 × 4 min."""
    with database.transaction() as session:
        for i, talk in enumerate((3, 5)):
            started = T0 - timedelta(hours=1, minutes=10 * i)
            session.add(
                Call(
                    id=f"past-{i}",
                    provider="ari",
                    started_at=started,
                    topic="health",
                    language="fi",
                    answered_at=started + timedelta(minutes=1),
                    ended_at=started + timedelta(minutes=1 + talk),
                    updated_at=started,
                )
            )
    places(database, ("c1", "health", "fi", T0 - timedelta(minutes=2)))
    advisor(database, "bo", AdvisorState.BUSY)

    health = read_board(database, config, T0).queues[0]

    assert health.estimated_wait == timedelta(minutes=8)


# -- callback requests -----------------------------------------------------------------------


def test_open_callbacks_by_how_they_stand_against_their_promise(
    database: Database, config: HotlineConfig
) -> None:
    """Health: one due later, one flagged at risk (still due later), one late, one past its
    due time but not yet marked late, one completed (not open); social: one due later."""
    with database.transaction() as session:
        add_callback(session, number(1))
        at_risk = add_callback(session, number(2))
        late = add_callback(session, number(3))
        add_callback(session, number(4), entered=T0 - timedelta(hours=6))
        done = add_callback(session, number(5))
        add_callback(session, number(6), topic="social")
        finish(session, done, T0)
        request = CallbackRequest
        session.execute(update(request).where(request.id == at_risk).values(at_risk_at=T0))
        session.execute(update(request).where(request.id == late).values(late=True))

    board = read_board(database, config, T0 + timedelta(minutes=10))

    assert board.queues[0].callbacks == CallbackCounts(open=4, due=2, at_risk=1, late=1)
    assert board.queues[1].callbacks == CallbackCounts(open=1, due=1, at_risk=0, late=0)
    assert board.queues[2].callbacks == CallbackCounts(open=0, due=0, at_risk=0, late=0)
    assert board.line.callbacks == CallbackCounts(open=5, due=3, at_risk=1, late=1)


# -- today so far ----------------------------------------------------------------------------


def a_morning(log: EventLog) -> None:
    """Monday: two health calls answered after 30 s and 90 s, a social caller who hung up
    after 2 min, and a health caller who took a callback at 10:02, due 15:00, not dialled."""
    m = MONDAY
    for arrives, wait in (("09:00", 30), ("09:10", 90)):
        call = log.call(local(m, f"{arrives}:00")).topic(local(m, f"{arrives}:10"), "health")
        entered = local(m, f"{arrives}:20")
        call.queued(entered).answered(entered + timedelta(seconds=wait), wait)
    social = log.call(local(m, "09:20:00")).topic(local(m, "09:20:10"), "social")
    social.queued(local(m, "09:20:20")).abandoned(local(m, "09:22:20"), wait_s=120)
    g = log.call(local(m, "10:00:00")).topic(local(m, "10:00:10"), "health")
    g.queued(local(m, "10:00:20")).callback(local(m, "10:02:00"), due=local(m, "15:00"))
    log.save()


def test_today_is_the_reports_today(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Every figure of today's row is the report's measure of the same name for the line's
    local day, for the line and for each queue."""
    a_morning(log)
    now = local(MONDAY, "11:00")

    board = read_board(database, config, now)

    report = compute_report(database, config, date(2026, 1, 12), date(2026, 1, 12), now=now)
    assert board.line.today == TodayFigures.from_report(report)
    for queue in board.queues:
        assert queue.name is not None
        assert queue.today == TodayFigures.from_report(report["by_queue"][queue.name])
    health = board.queues[0].today
    assert (health.offered, health.answered, health.abandoned) == (3, 2, 0)
    assert health.answered_immediately_share == 1 / 3  # 30 s, of the 3 who queued
    assert health.callbacks_same_day_share is None  # undecided until 15:00
    assert board.queues[1].today.abandoned == 1
    assert (board.line.today.offered, board.line.today.service_level) == (4, 2 / 4)


def at_once(work: Callable[[], None]) -> None:
    """Today's measures refreshed while the view waits, so a test sees them at once."""
    work()


def test_todays_figures_wait_for_the_next_refresh(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """A call logged a second after the board was read shows at the first read 2 s on,
    not before."""
    reader = BoardReader(config, run_refresh=at_once)
    start = local(MONDAY, "11:00")
    assert reader.read(database, start).line.today.offered == 0
    log.call(local(MONDAY, "11:00:01")).topic(local(MONDAY, "11:00:02"), "health")
    log.save()

    soon = reader.read(database, start + timedelta(seconds=1))
    later = reader.read(database, start + timedelta(seconds=2))

    assert (soon.line.today.offered, later.line.today.offered) == (0, 1)


def test_a_quiet_log_is_not_reported_on_every_refresh(
    log: EventLog, database: Database, config: HotlineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Boards refreshing every 2 s for 50 s with nothing new logged: today's measures are
    computed once (the roll-up's refresh holds the line's event writers back)."""
    a_morning(log)
    computed = []

    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        computed.append(kwargs["now"])
        return compute_report(*args, **kwargs)

    monkeypatch.setattr(board_module, "compute_report", counted)
    reader = BoardReader(config, run_refresh=at_once)
    start = local(MONDAY, "11:00")
    for second in range(0, 50, 2):
        reader.read(database, start + timedelta(seconds=second))

    assert computed == [start]


def test_a_share_decided_by_the_clock_shows_without_a_new_event(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """The callback due at 15:00 is not dialled: the same-day share is undecided before the
    day closes, and 0 % on the first refresh after, though nothing was logged since."""
    a_morning(log)
    reader = BoardReader(config, run_refresh=at_once)

    before = reader.read(database, local(MONDAY, "14:59"))
    after = reader.read(database, local(MONDAY, "15:00:30"))

    assert before.queues[0].today.callbacks_same_day_share is None
    assert after.queues[0].today.callbacks_same_day_share == 0.0


def test_a_view_does_not_wait_for_todays_figures(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Once the board has been read, a view due a refresh is given the figures kept, and
    one refresh is started beside it however many views come meanwhile; the views after
    it show the new call."""
    refreshes: list[Callable[[], None]] = []
    reader = BoardReader(config, run_refresh=refreshes.append)
    start = local(MONDAY, "11:00")
    reader.read(database, start)
    log.call(local(MONDAY, "11:00:01")).topic(local(MONDAY, "11:00:02"), "health")
    log.save()

    due = reader.read(database, start + timedelta(seconds=2))
    meanwhile = reader.read(database, start + timedelta(seconds=5))
    refreshes[0]()
    after = reader.read(database, start + timedelta(seconds=6))

    assert (due.line.today.offered, meanwhile.line.today.offered) == (0, 0)
    assert len(refreshes) == 1
    assert after.line.today.offered == 1


def test_a_failed_refresh_keeps_the_figures_and_is_tried_again(
    log: EventLog,
    database: Database,
    config: HotlineConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database refuses the report once: the board keeps today's last figures, and the
    next view due a refresh starts another."""
    refreshes: list[Callable[[], None]] = []
    reader = BoardReader(config, run_refresh=refreshes.append)
    start = local(MONDAY, "11:00")
    reader.read(database, start)
    a_morning(log)

    def unavailable(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise StoreError("database is not available")

    with monkeypatch.context() as patched:
        patched.setattr(board_module, "compute_report", unavailable)
        reader.read(database, start + timedelta(seconds=2))
        refreshes[0]()
    kept = reader.read(database, start + timedelta(seconds=3))
    refreshes[1]()
    fresh = reader.read(database, start + timedelta(seconds=4))

    assert (kept.line.today.offered, fresh.line.today.offered) == (0, 4)


# -- the JSON view ---------------------------------------------------------------------------


def test_as_dict_is_plain_json_with_no_caller_in_it(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Callers waiting, callback requests and today's calls are on the board as counts,
    waits in seconds and shares: no phone number and no call id anywhere."""
    a_morning(log)
    now = local(MONDAY, "11:00")
    places(database, ("waiting-caller-1", "health", "fi", now - timedelta(seconds=90)))
    with database.transaction() as session:
        add_callback(session, "+358401234567", entered=now - timedelta(minutes=5))
    advisor(database, "aino", AdvisorState.AVAILABLE)

    shown = read_board(database, config, now).as_dict()
    text = json.dumps(shown)

    assert set(shown) == {"at", "queues", "line"}
    assert shown["at"] == now.isoformat()
    health = shown["queues"][0]
    assert health["longest_wait_s"] == 90.0
    assert health["advisors"]["free"] == 1
    assert health["callbacks"]["open"] == 2
    assert health["today"]["answered_immediately_share"] == 1 / 3
    assert (
        set(health)
        == set(shown["line"])
        == {
            "name",
            "waiting",
            "longest_wait_s",
            "estimated_wait_s",
            "advisors",
            "by_language",
            "callbacks",
            "today",
        }
    )
    for secret in ("waiting-caller", "call-", "1234567", "358", "PJSIP", "aino"):
        assert secret not in text
