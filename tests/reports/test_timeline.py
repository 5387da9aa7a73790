"""The calendar the reports measure by: the file's, then each stored calendar change from the
moment it was made, so a day's opening spans are pieced together from the calendars in force
during it."""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert
from structlog.testing import capture_logs

from callflow.config.models import HotlineConfig
from callflow.reports.timeline import CalendarTimeline
from callflow.store.line_settings import LineChange, change_setting, undo_change
from callflow.store.session import Database
from tests.conftest import EXAMPLE_CONFIG
from tests.reports.eventlog import local

HELSINKI = ZoneInfo("Europe/Helsinki")
MONDAY, TUESDAY = date(2026, 1, 12), date(2026, 1, 13)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def store(database: Database, raw: dict[str, Any], key: str, value: Any, at: datetime) -> int:
    with database.transaction() as session:
        change, _ = change_setting(session, raw, key, value, by="admin", now=at)
    return change.id


def close(database: Database, raw: dict[str, Any], day: date, hours: str, at: datetime) -> int:
    """Store a closure of local *day* from–to (``"10:00-11:00"``), made at *at*."""
    start, end = hours.split("-")
    value = {"start": f"{day}T{start}", "end": f"{day}T{end}", "reason": "staff meeting"}
    return store(database, raw, f"calendar.closures.{day}T{start}", value, at)


def opening_hours(database: Database, config: HotlineConfig, day: date) -> list[str]:
    """The day's spans on the line's clock: ``["09:00-10:00", "11:00-15:00"]``."""
    with database.reading() as session:
        timeline = CalendarTimeline.read(session, config)
    return [
        f"{span.start.astimezone(HELSINKI):%H:%M}-{span.end.astimezone(HELSINKI):%H:%M}"
        for span in timeline.spans(day)
    ]


def test_without_stored_changes_a_day_is_the_file_s(
    database: Database, config: HotlineConfig
) -> None:
    assert opening_hours(database, config, MONDAY) == ["09:00-15:00"]
    assert opening_hours(database, config, date(2026, 1, 17)) == []  # a Saturday


def test_a_closure_stored_today_for_yesterday_leaves_yesterday_as_it_was(
    database: Database, config: HotlineConfig, raw: dict[str, Any]
) -> None:
    close(database, raw, MONDAY, "10:00-11:00", at=local("2026-01-13", "08:00"))
    close(database, raw, TUESDAY, "10:00-11:00", at=local("2026-01-13", "08:00"))
    assert opening_hours(database, config, MONDAY) == ["09:00-15:00"]
    assert opening_hours(database, config, TUESDAY) == ["09:00-10:00", "11:00-15:00"]


def test_a_closure_stored_while_open_closes_the_line_from_when_it_was_stored(
    database: Database, config: HotlineConfig, raw: dict[str, Any]
) -> None:
    """Stored at 10:00 for 09:30–11:00: 09:30–10:00 was open, as the line was then."""
    close(database, raw, TUESDAY, "09:30-11:00", at=local("2026-01-13", "10:00"))
    assert opening_hours(database, config, TUESDAY) == ["09:00-10:00", "11:00-15:00"]


def test_an_extra_opening_stored_after_closing_time_lengthens_the_day(
    database: Database, config: HotlineConfig, raw: dict[str, Any]
) -> None:
    hours = {"hours": ["09:00-15:00", "18:00-20:00"], "reason": "flu vaccinations"}
    store(database, raw, f"calendar.special_hours.{TUESDAY}", hours, local("2026-01-13", "16:00"))
    assert opening_hours(database, config, TUESDAY) == ["09:00-15:00", "18:00-20:00"]


def test_an_undone_closure_was_in_force_until_it_was_undone(
    database: Database, config: HotlineConfig, raw: dict[str, Any]
) -> None:
    closure = close(database, raw, TUESDAY, "10:00-14:00", at=local("2026-01-13", "09:00"))
    with database.transaction() as session:
        undo_change(session, raw, closure, by="admin", now=local("2026-01-13", "12:00"))
    assert opening_hours(database, config, TUESDAY) == ["09:00-10:00", "12:00-15:00"]


def test_the_next_working_day_skips_a_day_closed_by_a_stored_change(
    database: Database, config: HotlineConfig, raw: dict[str, Any]
) -> None:
    wednesday = {"date": "2026-01-14", "reason": "move to new premises"}
    store(database, raw, "calendar.closures.2026-01-14", wednesday, local("2026-01-13", "08:00"))
    with database.reading() as session:
        timeline = CalendarTimeline.read(session, config)
    assert timeline.next_working_day(TUESDAY) == date(2026, 1, 15)


def test_a_stored_value_the_calendar_does_not_admit_is_skipped_with_a_warning(
    database: Database, config: HotlineConfig
) -> None:
    """Checked when stored, so only another release could have written one: the report goes
    on under the calendar as it was, and says which change it left out."""
    key = "calendar.closures.2026-01-13T10:00"
    with database.transaction() as session:
        session.execute(
            insert(LineChange),
            [
                {
                    "at": local("2026-01-13", "08:00"),
                    "by": "admin",
                    "key": key,
                    "new_value": {"start": "2026-01-13T10:00", "reason": "no end"},
                }
            ],
        )
    with capture_logs() as logs:
        assert opening_hours(database, config, TUESDAY) == ["09:00-15:00"]
    skipped = [entry for entry in logs if entry["event"] == "report.calendar_change_skipped"]
    assert [entry["key"] for entry in skipped] == [key]
    assert skipped[0]["problems"]
