"""`callflow calendar` as an admin runs it while the line runs: a closure or special hours
stored is in force for the next process that reads the rules, kept in the history with
who made it, and a bad one is refused with its key and reason, leaving everything as it
was."""

from __future__ import annotations

import getpass
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from callflow.cli.settings_common import changed_by
from tests.cli.settings_helpers import (
    EXAMPLE_TEXT,
    HELSINKI,
    IN_FORCE_SOON,
    changes,
    in_force,
    line_file,
    local_now,
    refused,
    run,
    stored,
)

pytestmark = pytest.mark.slow_on_postgresql

TUESDAY = date(2027, 3, 9)
WEDNESDAY = date(2027, 3, 10)
SATURDAY = date(2027, 3, 13)
DAY_ROW = re.compile(r"^  \w{3} \d{4}-\d{2}-\d{2}  ", re.MULTILINE)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """An instant of the line's wall clock, as the calendar answers for it."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=HELSINKI)


class TestClose:
    def test_a_closure_from_to_closes_the_line_then_and_only_then(self, database_url: str) -> None:
        result = run(
            database_url,
            *("calendar", "close", "--from", "2027-03-09 10:00", "--to", "2027-03-09 11:00"),
            *("--reason", "Staff meeting"),
        )
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            f"Closed 2027-03-09 10:00–11:00 (Staff meeting): change #1 by {changed_by()}. "
            f"{IN_FORCE_SOON}\n"
        )
        calendar = in_force(database_url).calendar
        assert calendar.is_open(local(TUESDAY, 9, 59))
        assert not calendar.is_open(local(TUESDAY, 10, 30))
        assert calendar.is_open(local(TUESDAY, 11))
        assert stored(database_url).values == {
            "calendar.closures.2027-03-09T10:00": {
                "start": "2027-03-09T10:00:00",
                "end": "2027-03-09T11:00:00",
                "reason": "Staff meeting",
            }
        }

    def test_from_now_for_an_hour(self, database_url: str) -> None:
        """`--from now --for 1h`: closed from this minute for an hour of real time."""
        before = local_now().replace(second=0, microsecond=0)
        result = run(
            database_url, "calendar", "close", "--from", "now", "--for", "1h", "--reason", "Outage"
        )
        after = local_now()
        assert result.exit_code == 0, result.output
        closures = in_force(database_url).config.calendar.closures
        (closure,) = [c for c in closures if c.reason == "Outage"]
        assert closure.start is not None and closure.end is not None
        assert before <= closure.start <= after
        assert closure.end - closure.start == timedelta(hours=1)

    def test_a_whole_day(self, database_url: str) -> None:
        result = run(
            database_url, "calendar", "close", "--date", "2027-03-09", "--reason", "Inventory"
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("Closed Tue 2027-03-09 all day (Inventory): change #1")
        day = in_force(database_url).calendar.day(TUESDAY)
        assert day.spans == ()
        assert day.note == "closed: Inventory"

    def test_a_closure_that_ends_before_it_starts_is_refused(self, database_url: str) -> None:
        result = run(
            database_url,
            *("calendar", "close", "--from", "2027-03-09 10:00", "--to", "2027-03-09 09:00"),
            *("--reason", "Backwards"),
        )
        refused(result, "calendar.closures.2027-03-09T10:00: {'start': '2027-03-09T10:00:00', ")
        assert result.stderr.endswith(" — 'end' must be after 'start'\n")
        assert changes(database_url) == []
        assert in_force(database_url).calendar.is_open(local(TUESDAY, 10, 30))

    @pytest.mark.parametrize(
        "options",
        [
            ["--reason", "x"],
            ["--from", "now", "--reason", "x"],
            ["--from", "now", "--to", "2027-03-09T11:00", "--for", "1h", "--reason", "x"],
            ["--date", "2027-03-09", "--from", "now", "--for", "1h", "--reason", "x"],
        ],
    )
    def test_a_closure_needs_a_date_or_a_span(self, database_url: str, options: list[str]) -> None:
        result = run(database_url, "calendar", "close", *options)
        assert result.exit_code == 2
        assert "give --date DAY, or --from with either --to or --for" in result.stderr
        assert changes(database_url) == []


class TestSpecialHours:
    def test_short_hours_replace_the_usual_ones(self, database_url: str) -> None:
        result = run(
            database_url,
            "calendar",
            "special-hours",
            "2027-03-10",
            "09:00-12:00, 13:00-14:00",
            "--reason",
            "Training",
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(
            "Hours Wed 2027-03-10 09:00–12:00, 13:00–14:00 (Training): change #1"
        )
        calendar = in_force(database_url).calendar
        assert [(s.start, s.end) for s in calendar.day(WEDNESDAY).spans] == [
            (local(WEDNESDAY, 9), local(WEDNESDAY, 12)),
            (local(WEDNESDAY, 13), local(WEDNESDAY, 14)),
        ]

    def test_hours_on_a_closed_day_are_an_extra_opening(self, database_url: str) -> None:
        result = run(
            database_url,
            "calendar",
            "special-hours",
            "2027-03-13",
            "10:00-14:00",
            "--reason",
            "Vaccination Saturday",
        )
        assert result.exit_code == 0, result.output
        assert in_force(database_url).calendar.is_open(local(SATURDAY, 11))

    def test_closed(self, database_url: str) -> None:
        result = run(
            database_url, "calendar", "special-hours", "2027-03-10", "closed", "--reason", "Moving"
        )
        assert result.exit_code == 0, result.output
        assert in_force(database_url).calendar.day(WEDNESDAY).spans == ()

    def test_the_files_special_hours_for_the_date_are_replaced(self, database_url: str) -> None:
        """The example file gives New Year's Eve 09:00-12:00; stored hours take its place."""
        result = run(
            database_url,
            "calendar",
            "special-hours",
            "2026-12-31",
            "09:00-13:00",
            "--reason",
            "Longer",
        )
        assert result.exit_code == 0, result.output
        assert "in place of hours Thu 2026-12-31 09:00–12:00 (Uudenvuodenaatto)" in result.stdout
        day = in_force(database_url).calendar.day(date(2026, 12, 31))
        assert [s.end for s in day.spans] == [local(date(2026, 12, 31), 13)]

    def test_hours_that_break_a_promise_are_refused(self, database_url: str) -> None:
        """Twenty minutes open cannot keep health's same-day promise (30 min cut-off)."""
        result = run(
            database_url,
            "calendar",
            "special-hours",
            "2027-03-10",
            "09:00-09:20",
            "--reason",
            "Too short",
        )
        refused(
            result,
            "calendar.special_hours.2027-03-10.hours: ['09:00-09:20'] — cutoff_before_close "
            "30m is not shorter than a day open 20m (queue health's promise, on 2027-03-10)",
        )
        assert changes(database_url) == []

    def test_hours_not_written_as_hours_are_refused(self, database_url: str) -> None:
        result = run(
            database_url, "calendar", "special-hours", "2027-03-10", "9-12", "--reason", "Sloppy"
        )
        refused(result, "calendar.special_hours.2027-03-10.hours[0]: '9-12' — ")
        assert stored(database_url).values == {}


class TestRemove:
    @pytest.fixture
    def three(self, database_url: str) -> str:
        """A closure at 10:00, a whole-day closure and special hours, all stored."""
        for args in (
            ["close", "--from", "2027-03-09T10:00", "--for", "1h", "--reason", "Meeting"],
            ["close", "--date", "2027-03-11", "--reason", "Inventory"],
            ["special-hours", "2027-03-10", "09:00-12:00", "--reason", "Training"],
        ):
            assert run(database_url, "calendar", *args).exit_code == 0
        return database_url

    @pytest.mark.parametrize(
        ("given", "key"),
        [
            ("calendar.closures.2027-03-09T10:00", "calendar.closures.2027-03-09T10:00"),
            ("2027-03-09 10:00", "calendar.closures.2027-03-09T10:00"),
            ("2027-03-09", "calendar.closures.2027-03-09T10:00"),
            ("2027-03-11", "calendar.closures.2027-03-11"),
            ("2027-03-10", "calendar.special_hours.2027-03-10"),
        ],
    )
    def test_by_key_start_or_date(self, three: str, given: str, key: str) -> None:
        result = run(three, "calendar", "remove", given)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"Removed {key} (")
        assert key not in stored(three).values
        assert len(stored(three).values) == 2
        assert changes(three)[0].new_value is None

    def test_the_closure_no_longer_closes(self, three: str) -> None:
        assert run(three, "calendar", "remove", "2027-03-09").exit_code == 0
        assert in_force(three).calendar.is_open(local(TUESDAY, 10, 30))

    def test_removing_stored_hours_brings_the_files_back(self, database_url: str) -> None:
        run(database_url, "calendar", "special-hours", "2026-12-31", "closed", "--reason", "x")
        result = run(database_url, "calendar", "remove", "2026-12-31")
        assert result.exit_code == 0, result.output
        assert "the file's hours Thu 2026-12-31 09:00–12:00 (Uudenvuodenaatto) apply again" in (
            result.stdout
        )
        day = in_force(database_url).calendar.day(date(2026, 12, 31))
        assert day.note == "special hours: Uudenvuodenaatto"

    @pytest.mark.parametrize(
        ("given", "said"),
        [
            ("2026-12-24", "no closure or special hours is stored for 2026-12-24"),
            ("2027-03-09T12:00", "no closure or special hours is stored for 2027-03-09T12:00"),
            ("soon", "'soon' is not a stored setting's key, a date"),
        ],
    )
    def test_what_is_not_stored_is_not_removed(self, three: str, given: str, said: str) -> None:
        """The file's own closures (Christmas Eve) are not the CLI's to remove."""
        before = changes(three)
        result = run(three, "calendar", "remove", given)
        assert result.exit_code == 2
        assert said in result.stderr
        assert changes(three) == before

    def test_a_date_with_two_stored_is_ambiguous(self, database_url: str) -> None:
        for start in ("2027-03-09T10:00", "2027-03-09T13:00"):
            run(database_url, "calendar", "close", "--from", start, "--for", "1h", "--reason", "x")
        result = run(database_url, "calendar", "remove", "2027-03-09")
        assert result.exit_code == 2
        assert (
            "give one of: calendar.closures.2027-03-09T10:00, calendar.closures.2027-03-09T13:00"
        ) in result.stderr
        assert len(stored(database_url).values) == 2


class TestShow:
    def test_days_ahead_with_each_exception_and_where_it_comes_from(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """A closure in the file and one stored, two days ahead: the days show them, and the
        list says which is the file's and which was stored, by whom and with what key."""
        day = local_now().date() + timedelta(days=2)
        config = line_file(
            tmp_path,
            f"[[calendar.closures]]\nstart = {day}T09:00:00\nend = {day}T10:00:00\n"
            'reason = "In the file"\n',
        )
        result = run(
            database_url,
            "calendar",
            "close",
            "--from",
            f"{day}T13:00",
            "--for",
            "1h",
            "--reason",
            "Stored",
            config=config,
        )
        assert result.exit_code == 0, result.output
        result = run(database_url, "calendar", "show", "--days", "3", config=config)
        assert result.exit_code == 0, result.output
        assert len(DAY_ROW.findall(result.stdout)) == 3
        assert f"  closed {day} 09:00–10:00 (In the file)\n      file\n" in result.stdout
        assert (
            f"  closed {day} 13:00–14:00 (Stored)\n      stored: change #1 by {changed_by()} at "
        ) in result.stdout
        assert f"; key calendar.closures.{day}T13:00\n" in result.stdout

    def test_an_exception_after_these_days_is_not_listed(
        self, database_url: str, tmp_path: Path
    ) -> None:
        config = without_exceptions(tmp_path)
        later = local_now().date() + timedelta(days=5)
        run(
            database_url,
            "calendar",
            "close",
            "--date",
            str(later),
            "--reason",
            "Later",
            config=config,
        )
        result = run(database_url, "calendar", "show", "--days", "5", config=config)
        assert result.exit_code == 0, result.output
        assert len(DAY_ROW.findall(result.stdout)) == 5
        assert result.stdout.endswith("\nNo closures or special hours in these days.\n")
        result = run(database_url, "calendar", "show", "--days", "6", config=config)
        assert f"  closed {later:%a %Y-%m-%d} all day (Later)\n" in result.stdout


def without_exceptions(tmp_path: Path) -> Path:
    """The example line without the file's closures and special hours."""
    head, rest = EXAMPLE_TEXT.split("[calendar]\n")
    _, tail = rest.split("# Queues (topics).")
    path = tmp_path / "plain.toml"
    path.write_text(f'{head}[calendar]\nholidays = "FI"\n\n# Queues (topics).{tail}', "utf-8")
    return path


def test_a_change_is_kept_as_the_login_that_made_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cli:<login>`, or plain `cli` where the process has no login name."""
    assert changed_by() == f"cli:{getpass.getuser()}"

    def nameless() -> str:
        raise OSError("no login name")

    monkeypatch.setattr(getpass, "getuser", nameless)
    assert changed_by() == "cli"
