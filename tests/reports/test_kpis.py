"""Every measure of the report against figures worked out by hand, on SQLite and PostgreSQL.

The example configuration applies: open Mon–Fri 09:00–15:00 Helsinki time,
Finnish public holidays, closed 2026-12-24, 09:00–12:00 on 2026-12-31;
answered immediately within 60 s, service level within 120 s, short abandons
under 10 s.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callflow.config.models import HotlineConfig
from callflow.reports.kpis import compute_report
from callflow.store.queues import sync_queues
from callflow.store.session import Database
from tests.conftest import _empty_postgres
from tests.reports.eventlog import (
    CallScript,
    EventLog,
    local,
    random_days,
    random_web_and_surveys,
)

MONDAY = "2026-01-12"
TUESDAY = "2026-01-13"


def report(
    database: Database,
    config: HotlineConfig,
    first: str,
    last: str | None = None,
    *,
    now: datetime,
    queue: str | None = None,
) -> dict[str, Any]:
    return compute_report(
        database,
        config,
        date.fromisoformat(first),
        date.fromisoformat(last or first),
        queue=queue,
        now=now,
    )


def a_monday(log: EventLog) -> None:
    """Nine calls on Monday 2026-01-12 and two callback requests.

    ====  =======  =====  ====================================================
    call  arrives  queue  what happens
    ====  =======  =====  ====================================================
    A     09:00    health queued 09:00:30, answered after 30 s
    B     09:10    health queued 09:10:30, answered after 120 s
    C     09:20    social queued 09:20:30, answered after 300 s
    D     09:30    –      hangs up in the menu
    E     09:40    other  queued 09:40:30, hangs up after 5 s (short)
    F     09:50    other  queued 09:50:30, hangs up after 120 s
    G     10:00    health queued 10:00:30, takes a callback at 10:02, due 15:00
    I     10:30    health queued 10:30:30, answered after 60 s
    H     20:00    health line closed; leaves a callback at 20:01, due Tue 11:00
    ====  =======  =====  ====================================================

    G is dialled at 15:00:00 sharp (the closing) and reached. H is dialled
    Tuesday 09:30 (no answer) and 10:00 (reached).
    """
    m = MONDAY

    def queued(arrives: str, topic: str) -> CallScript:
        hh, mm = arrives.split(":")
        call = log.call(local(m, f"{arrives}:00")).topic(local(m, f"{hh}:{mm}:20"), topic)
        return call.queued(local(m, f"{hh}:{mm}:30"))

    queued("09:00", "health").answered(local(m, "09:01:00"), 30)
    queued("09:10", "health").answered(local(m, "09:12:30"), 120)
    queued("09:20", "social").answered(local(m, "09:25:30"), 300)
    log.call(local(m, "09:30:00")).abandoned(local(m, "09:30:10"))
    queued("09:40", "other").abandoned(local(m, "09:40:35"), wait_s=5)
    queued("09:50", "other").abandoned(local(m, "09:52:30"), wait_s=120)
    g = queued("10:00", "health").callback(local(m, "10:02:00"), due=local(m, "15:00"))
    g.dialled(local(m, "15:00:00")).completed(local(m, "15:05"))
    queued("10:30", "health").answered(local(m, "10:31:30"), 60)
    h = log.call(local(m, "20:00:00"), closed=True).topic(local(m, "20:00:20"), "health")
    request = h.callback(local(m, "20:01:00"), due=local(TUESDAY, "11:00"))
    request.dialled(local(TUESDAY, "09:30"), "no_answer").dialled(local(TUESDAY, "10:00"))
    request.completed(local(TUESDAY, "10:05"))
    log.save()


def test_call_measures_of_a_monday(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Offered 8 (H came while closed); 7 queued, 1 of them a short abandon, so 6 count
    for the shares; answered A 30 s, B 120 s, C 300 s, I 60 s."""
    a_monday(log)
    figures = report(database, config, MONDAY, now=local(TUESDAY, "16:00"))
    assert figures["offered"] == 8
    assert figures["closed_hours_calls"] == 1
    assert figures["answered"] == 4
    assert figures["abandoned_ivr"] == 1
    assert figures["short_abandons"] == 1
    assert figures["abandoned_queue"] == 1
    assert figures["asa_s"] == 127.5  # (30 + 120 + 300 + 60) / 4
    assert figures["service_level"] == 3 / 6  # A, B (exactly 120 s), I
    assert figures["answered_immediately_share"] == 2 / 6  # A, I (exactly 60 s)
    assert figures["abandon_rate"] == 1 / 6  # F
    assert figures["wait_p50_s"] == 60.0  # 2nd of 30, 60, 120, 300
    assert figures["wait_p90_s"] == 300.0  # 4th: ceil(0.9 × 4)
    assert figures["wait_distribution"] == [
        {"le_s": 10, "calls": 0},
        {"le_s": 30, "calls": 1},
        {"le_s": 60, "calls": 1},
        {"le_s": 120, "calls": 1},
        {"le_s": 300, "calls": 1},
        {"le_s": 600, "calls": 0},
        {"le_s": 1200, "calls": 0},
        {"le_s": None, "calls": 0},
    ]


def test_callback_measures_of_a_monday(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """G: 10:02 → 15:00:00 sharp, 4 h 58 min, same day and kept. H: Mon 20:01 → Tue 09:30,
    13 h 29 min of calendar time but 30 min of opening hours; its working day is Tuesday."""
    a_monday(log)
    figures = report(database, config, MONDAY, now=local(TUESDAY, "16:00"))
    assert figures["callbacks_requested"] == 2
    assert figures["callbacks_completed"] == 2
    assert (figures["callbacks_failed"], figures["callbacks_expired"]) == (0, 0)
    assert figures["callbacks_same_day_share"] == 1.0
    assert figures["promise_kept_share"] == 1.0
    assert figures["callback_response_mean_calendar_s"] == (17_880 + 48_540) / 2
    assert figures["callback_response_mean_working_s"] == (17_880 + 1_800) / 2
    assert figures["callback_response_median_s"] == 17_880.0  # 1st of 2: ceil(0.5 × 2)
    distribution = {
        row["le_h"]: (row["kept"], row["late"]) for row in figures["callback_response_distribution"]
    }
    assert distribution == {
        1: (0, 0),
        2: (0, 0),
        4: (0, 0),
        8: (1, 0),
        24: (1, 0),
        48: (0, 0),
        72: (0, 0),
        None: (0, 0),
    }


def test_breakdowns_of_a_monday(log: EventLog, database: Database, config: HotlineConfig) -> None:
    """Per queue by the call's topic (D chose none), per local hour of arrival, per weekday;
    callback requests by their own queue and local time (H's at 20:01)."""
    a_monday(log)
    figures = report(database, config, MONDAY, now=local(TUESDAY, "16:00"))
    assert list(figures["by_queue"]) == ["health", "social", "other"]
    health = figures["by_queue"]["health"]
    assert (health["offered"], health["answered"], health["callbacks_requested"]) == (4, 3, 2)
    assert health["asa_s"] == 70.0  # (30 + 120 + 60) / 3
    assert (health["service_level"], health["answered_immediately_share"]) == (3 / 4, 2 / 4)
    assert health["callbacks_same_day_share"] == 1.0
    other = figures["by_queue"]["other"]
    assert (other["offered"], other["short_abandons"], other["abandoned_queue"]) == (2, 1, 1)
    assert other["asa_s"] is None  # nobody answered: no data, not zero
    assert other["service_level"] == 0.0
    assert list(figures["by_hour"]) == ["09", "10", "20"]
    assert figures["by_hour"]["09"]["offered"] == 6
    assert (
        figures["by_hour"]["10"]["offered"],
        figures["by_hour"]["10"]["callbacks_requested"],
    ) == (2, 1)
    assert (
        figures["by_hour"]["20"]["offered"],
        figures["by_hour"]["20"]["callbacks_requested"],
    ) == (0, 1)
    assert list(figures["by_weekday"]) == ["monday"]
    assert figures["by_weekday"]["monday"]["offered"] == 8


def test_changed_thresholds_apply_to_the_next_report(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """With short abandons under 3 min, F (120 s) is short too; with immediately = 30 s,
    only A (30 s) was answered immediately."""
    a_monday(log)
    report(database, config, MONDAY, now=local(TUESDAY, "16:00"))
    thresholds = config.reports.model_copy(
        update={
            "short_abandon_under": timedelta(minutes=3),
            "answered_immediately_within": timedelta(seconds=30),
        }
    )
    stricter = config.model_copy(update={"reports": thresholds})
    figures = report(database, stricter, MONDAY, now=local(TUESDAY, "16:00"))
    assert (figures["short_abandons"], figures["abandoned_queue"]) == (2, 0)
    assert figures["service_level"] == 3 / 5
    assert figures["answered_immediately_share"] == 1 / 5
    assert figures["thresholds"]["short_abandon_under_s"] == 180.0


def test_one_queue(log: EventLog, database: Database, config: HotlineConfig) -> None:
    """--queue other: only its calls and requests, and only its row per queue."""
    a_monday(log)
    figures = report(database, config, MONDAY, now=local(TUESDAY, "16:00"), queue="other")
    assert figures["queue"] == "other"
    assert (figures["offered"], figures["answered"], figures["callbacks_requested"]) == (2, 0, 0)
    assert list(figures["by_queue"]) == ["other"]
    assert figures["callbacks_same_day_share"] is None


def test_a_period_without_data_has_counts_of_zero_and_no_shares(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    a_monday(log)
    figures = report(database, config, "2026-02-02", "2026-02-06", now=local("2026-02-07", "12:00"))
    assert (figures["offered"], figures["callbacks_requested"]) == (0, 0)
    for key in (
        "asa_s",
        "service_level",
        "wait_p50_s",
        "callbacks_same_day_share",
        "promise_kept_share",
        "callback_response_median_s",
        "first_contact_resolution_share",
    ):
        assert figures[key] is None, key
    assert figures["by_weekday"] == {} and figures["by_hour"] == {}
    assert figures["by_reason"] == {}


def test_the_period_is_local_dates(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """A call at 00:30 Helsinki time on Tuesday is Monday 22:30 UTC, and belongs to Tuesday."""
    log.call(local(TUESDAY, "00:30"), closed=True)
    log.call(local(MONDAY, "23:59:59.999999"), closed=True)
    log.save()
    assert report(database, config, TUESDAY, now=local(TUESDAY, "12:00"))["closed_hours_calls"] == 1
    assert report(database, config, MONDAY, now=local(TUESDAY, "12:00"))["closed_hours_calls"] == 1
    figures = report(database, config, TUESDAY, now=local(TUESDAY, "12:00"))
    assert list(figures["by_hour"]) == ["00"]


# -- callbacks: the edges ----------------------------------------------------------------------


def test_dialled_exactly_at_closing_is_the_same_day_and_kept(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Dialled at 15:00:00.000000 counts; at 15:00:00.000001 it is a day late."""
    log.request(local(MONDAY, "14:00"), due=local(MONDAY, "15:00")).dialled(local(MONDAY, "15:00"))
    log.request(local(MONDAY, "14:00"), due=local(MONDAY, "15:00")).dialled(
        local(MONDAY, "15:00:00.000001")
    )
    log.save()
    figures = report(database, config, MONDAY, now=local(TUESDAY, "12:00"))
    assert figures["callbacks_same_day_share"] == 1 / 2
    assert figures["promise_kept_share"] == 1 / 2
    assert figures["callback_response_mean_working_s"] == 3600.0  # after closing adds nothing
    assert figures["callback_response_mean_calendar_s"] == 3600.0  # 3600.0000005 rounds down


def test_friday_afternoon_request_dialled_on_monday(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Fri 2026-01-16 14:00 → Mon 10:00: 68 h of calendar time, 2 h of opening hours (an hour
    on Friday, an hour on Monday); not the same day, but within a next-working-day promise."""
    friday, monday = "2026-01-16", "2026-01-19"
    log.request(local(friday, "14:00"), due=local(monday, "15:00"), topic="social").dialled(
        local(monday, "10:00")
    )
    log.save()
    figures = report(database, config, friday, now=local(monday, "16:00"))
    assert figures["callbacks_same_day_share"] == 0.0
    assert figures["promise_kept_share"] == 1.0
    assert figures["callback_response_mean_calendar_s"] == 68 * 3600.0
    assert figures["callback_response_mean_working_s"] == 2 * 3600.0
    assert figures["by_queue"]["social"]["callbacks_same_day_share"] == 0.0


def test_new_year_special_hours_and_holidays_in_between(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Thu 2026-12-31 closes at 12:00 (special hours). A request at 13:00 waits over New
    Year's Day (a holiday) and the weekend: its working day is Mon 2027-01-04, and a dial at
    09:15 that day is the same day after 15 min of opening hours. A request on Tue
    2027-01-05 at 16:00 skips Epiphany (Wed 01-06): its working day is Thu 01-07, and a dial
    a microsecond after that day's closing is late, after the whole day of 6 h open."""
    log.request(local("2026-12-31", "13:00"), due=local("2027-01-04", "11:00")).dialled(
        local("2027-01-04", "09:15")
    )
    log.request(local("2027-01-05", "16:00"), due=local("2027-01-07", "11:00")).dialled(
        local("2027-01-07", "15:00:00.000001")
    )
    log.save()
    new_year = report(database, config, "2026-12-31", now=local("2027-01-08", "12:00"))
    assert new_year["callbacks_same_day_share"] == 1.0
    assert new_year["callback_response_mean_working_s"] == 900.0
    assert new_year["callback_response_mean_calendar_s"] == (3 * 24 + 20) * 3600 + 15 * 60.0
    epiphany = report(database, config, "2027-01-05", now=local("2027-01-08", "12:00"))
    assert epiphany["callbacks_same_day_share"] == 0.0
    assert epiphany["promise_kept_share"] == 0.0
    assert epiphany["callback_response_mean_working_s"] == 6 * 3600.0


def test_christmas_eve_closure_moves_the_working_day(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Wed 2026-12-23 at 15:30: Christmas Eve is a closure, Christmas and Boxing Day are
    holidays, then the weekend; the working day is Mon 12-28."""
    log.request(local("2026-12-23", "15:30"), due=local("2026-12-28", "11:00")).dialled(
        local("2026-12-28", "14:59")
    )
    log.save()
    figures = report(database, config, "2026-12-23", now=local("2026-12-29", "12:00"))
    assert figures["callbacks_same_day_share"] == 1.0
    assert figures["callback_response_mean_working_s"] == (5 * 60 + 59) * 60.0


def test_a_request_made_at_night_belongs_to_the_day_that_opens_next(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Tue 02:00 → Tue 14:00 is the same (working) day, after 5 h of opening hours."""
    log.request(local(TUESDAY, "02:00"), due=local(TUESDAY, "11:00")).dialled(
        local(TUESDAY, "14:00")
    )
    log.save()
    figures = report(database, config, TUESDAY, now=local(TUESDAY, "16:00"))
    assert figures["callbacks_same_day_share"] == 1.0
    assert figures["promise_kept_share"] == 0.0  # due 11:00
    assert figures["callback_response_mean_working_s"] == 5 * 3600.0
    assert figures["callback_response_mean_calendar_s"] == 12 * 3600.0
    assert figures["callback_response_distribution"][4] == {"le_h": 24, "kept": 0, "late": 1}


def test_undecided_and_withdrawn_requests_are_left_out_of_the_shares(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """At Monday 12:00: one request dialled (same day), one waiting (its day has not ended:
    undecided), one cancelled by the caller before any dial. Once Monday has closed, the
    waiting one counts as not made the same day."""
    log.request(local(MONDAY, "09:30"), due=local(MONDAY, "15:00")).dialled(
        local(MONDAY, "10:00")
    ).completed(local(MONDAY, "10:05"))
    log.request(local(MONDAY, "10:00"), due=local(MONDAY, "15:00"))
    log.request(local(MONDAY, "10:30"), due=local(MONDAY, "15:00")).cancelled(
        local(MONDAY, "11:00")
    )
    log.save()
    at_noon = report(database, config, MONDAY, now=local(MONDAY, "12:00"))
    assert at_noon["callbacks_requested"] == 3
    assert (at_noon["callbacks_cancelled"], at_noon["callbacks_open"]) == (1, 1)
    assert at_noon["callbacks_same_day_share"] == 1.0
    assert at_noon["promise_kept_share"] == 1.0
    at_closing = report(database, config, MONDAY, now=local(MONDAY, "15:00"))
    assert at_closing["callbacks_same_day_share"] == 1 / 2
    assert at_closing["promise_kept_share"] == 1 / 2


def test_final_states_and_a_machine_is_not_a_completed_callback(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    at = local(MONDAY, "09:30")
    due = local(MONDAY, "15:00")
    log.request(at, due).dialled(local(MONDAY, "09:40")).completed(local(MONDAY, "09:45"))
    machine = log.request(at, due).dialled(local(MONDAY, "09:40"), "machine")
    machine.dialled(local(MONDAY, "10:10"), "machine").failed(local(MONDAY, "10:15"))
    log.request(at, due).dialled(local(MONDAY, "09:50"), "wrong_number").wrong_number(
        local(MONDAY, "09:55")
    )
    log.request(at, due).expired(local(TUESDAY, "09:00"))
    log.save()
    figures = report(database, config, MONDAY, now=local(TUESDAY, "12:00"))
    assert figures["callbacks_requested"] == 4
    assert figures["callbacks_completed"] == 1
    assert figures["callbacks_failed"] == 1
    assert figures["callbacks_wrong_number"] == 1
    assert figures["callbacks_expired"] == 1
    assert figures["callbacks_open"] == 0
    assert figures["callbacks_same_day_share"] == 3 / 4  # the expired one was never dialled
    assert figures["callback_response_median_s"] == 600.0  # 10, 10, 20 min: the 2nd


def test_a_returning_caller_keeps_the_first_queue_entry(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Back in the queue after a failed number entry: the wait runs from the first entry."""
    call = (
        log.call(local(MONDAY, "09:00"))
        .topic(local(MONDAY, "09:00:10"))
        .queued(local(MONDAY, "09:00:20"))
    )
    call.queued(local(MONDAY, "09:03:00"), returning=True).answered(local(MONDAY, "09:04:20"), 240)
    log.save()
    figures = report(database, config, MONDAY, now=local(TUESDAY, "12:00"))
    assert figures["asa_s"] == 240.0
    assert figures["service_level"] == 0.0


def test_reasons_and_referrals_of_coded_contacts(
    log: EventLog, database: Database, config: HotlineConfig
) -> None:
    """Calls and callbacks of the period, each by its last coding (a correction wins)."""
    at = local(MONDAY, "09:00")
    answered = log.call(at).topic(at).queued(at).answered(local(MONDAY, "09:01"), 60)
    answered.coded(local(MONDAY, "09:05"), "health", "none", "simple_need")
    answered.coded(local(MONDAY, "09:06"), "health", "own_services", "no_service_need")
    second = log.call(at).topic(at, "social").queued(at).answered(local(MONDAY, "09:02"), 120)
    second.coded(local(MONDAY, "09:10"), "social", "third_sector", "complex_case")
    request = log.request(at, due=local(MONDAY, "15:00")).dialled(local(MONDAY, "10:00"))
    request.completed(local(MONDAY, "10:05")).coded(
        local(MONDAY, "10:06"), "health", "own_services", "no_service_need"
    )
    log.save()
    figures = report(database, config, MONDAY, now=local(TUESDAY, "12:00"))
    assert figures["by_reason"] == {
        "health": {"contacts": 2, "share": 2 / 3},
        "social": {"contacts": 1, "share": 1 / 3},
    }
    assert figures["by_referral"] == {
        "own_services": {"contacts": 2, "share": 2 / 3},
        "third_sector": {"contacts": 1, "share": 1 / 3},
    }
    assert figures["first_contact_resolution_share"] == 2 / 3


def test_the_report_names_its_period_and_thresholds(
    database: Database, config: HotlineConfig
) -> None:
    figures = report(database, config, MONDAY, "2026-01-16", now=local(TUESDAY, "12:00"))
    assert figures["period"] == {"from": MONDAY, "to": "2026-01-16"}
    assert (figures["queue"], figures["timezone"]) == (None, "Europe/Helsinki")
    assert figures["generated_at"] == "2026-01-13T10:00:00+00:00"
    assert figures["thresholds"] == {
        "answered_immediately_within_s": 60.0,
        "service_level_within_s": 120.0,
        "short_abandon_under_s": 10.0,
    }


@pytest.mark.parametrize(
    ("first", "last", "queue", "message"),
    [
        ("2026-01-13", "2026-01-12", None, "before it starts"),
        ("2026-01-12", "2026-01-12", "dental", "no queue 'dental'"),
    ],
)
def test_a_bad_period_or_queue_is_refused(
    database: Database,
    config: HotlineConfig,
    first: str,
    last: str,
    queue: str | None,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        report(database, config, first, last, now=local(TUESDAY, "12:00"), queue=queue)


# -- the same report on both databases -----------------------------------------------------------


@pytest.fixture
def both_databases(
    sqlite_template: Path, postgres_url: str, tmp_path: Path
) -> Iterator[list[Database]]:
    """An empty migrated SQLite database and the emptied PostgreSQL one, queues synced."""
    path = tmp_path / "callflow.sqlite3"
    shutil.copy(sqlite_template, path)
    _empty_postgres(postgres_url)
    databases = [Database.connect(f"sqlite:///{path}"), Database.connect(postgres_url)]
    yield databases
    for database in databases:
        database.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_sqlite_and_postgresql_give_the_same_report(
    both_databases: list[Database], config: HotlineConfig
) -> None:
    """Three weeks of varied traffic over Christmas and New Year, web requests and the
    recommendation question among it, times to the microsecond: the whole report is equal,
    key for key and digit for digit, for the line and per queue."""
    for database in both_databases:
        with database.transaction() as session:
            sync_queues(session, config, local(MONDAY, "00:00"))
        log = EventLog(database)
        random_days(log, config, date(2026, 12, 21), 21, seed=7)
        random_web_and_surveys(log, config, date(2026, 12, 21), 21, seed=8)
    now = local("2027-01-08", "13:00")
    reports = {
        queue: [
            report(database, config, "2026-12-21", "2027-01-06", now=now, queue=queue)
            for database in both_databases
        ]
        for queue in (None, "health")
    }
    for sqlite, postgresql in reports.values():
        assert sqlite == postgresql
    line = reports[None][0]
    assert line["offered"] > 50 and line["closed_hours_calls"] > 50
    assert line["calls_dropped"] > 0 and line["abandoned_queue"] > 0
    assert 0 < line["callbacks_same_day_share"] < 1
    assert line["callback_response_mean_working_s"] < line["callback_response_mean_calendar_s"]
    assert all(row["reaction_time_p90_s"] is not None for row in line["by_channel"].values())
    assert line["by_channel"]["web"]["taken_up"] < line["by_channel"]["web"]["contacts"]
    assert line["nps"] is not None and len(line["surveys_by_week"]) == 3
