"""Working-time arithmetic on the example line's calendar, and across DST switches."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar, Closure
from callflow.errors import CalendarError

HELSINKI = ZoneInfo("Europe/Helsinki")


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=HELSINKI).astimezone(UTC)


@pytest.fixture(scope="module")
def calendar(config: HotlineConfig) -> Calendar:
    return Calendar.from_config(config)


class TestChristmasToEpiphany:
    """2026-12-24 … 2027-01-07: holidays, a closure and a short day."""

    @pytest.mark.parametrize(
        ("day", "hours"),
        [
            (date(2026, 12, 23), [(9, 15)]),
            (date(2026, 12, 24), []),  # Christmas Eve: closure and public holiday
            (date(2026, 12, 25), []),  # Christmas Day
            (date(2026, 12, 26), []),  # Boxing Day, a Saturday
            (date(2026, 12, 28), [(9, 15)]),
            (date(2026, 12, 31), [(9, 12)]),  # New Year's Eve, special hours
            (date(2027, 1, 1), []),  # New Year's Day
            (date(2027, 1, 4), [(9, 15)]),
            (date(2027, 1, 6), []),  # Epiphany, a Wednesday
            (date(2027, 1, 7), [(9, 15)]),
        ],
    )
    def test_hours_of_each_day(self, calendar: Calendar, day: date, hours: list[tuple]) -> None:
        """Each date opens exactly the hours its rules give."""
        spans = calendar.day(day).spans
        assert [(calendar.local(s.start).hour, calendar.local(s.end).hour) for s in spans] == hours

    def test_christmas_eve_morning_next_opening_is_monday(self, calendar: Calendar) -> None:
        """From Christmas Eve the line next opens on Monday the 28th."""
        assert not calendar.is_open(local(2026, 12, 24, 10))
        assert calendar.next_opening(local(2026, 12, 24, 10)) == local(2026, 12, 28, 9)

    def test_new_years_eve_closes_at_noon_and_reopens_after_new_year(
        self, calendar: Calendar
    ) -> None:
        """The short day closes at 12; New Year's Day and the weekend follow."""
        assert calendar.is_open(local(2026, 12, 31, 11, 59))
        assert not calendar.is_open(local(2026, 12, 31, 12))
        assert calendar.next_closing(local(2026, 12, 31, 10)) == local(2026, 12, 31, 12)
        assert calendar.next_opening(local(2026, 12, 31, 12)) == local(2027, 1, 4, 9)

    def test_working_time_over_the_holidays(self, calendar: Calendar) -> None:
        """Dec 28–30 (18 h), Dec 31 (3 h), Jan 4–5 (12 h), Jan 7 (6 h): 39 hours."""
        total = calendar.working_time(local(2026, 12, 24), local(2027, 1, 8))
        assert total == timedelta(hours=39)

    def test_working_time_across_christmas(self, calendar: Calendar) -> None:
        """From Wednesday 14:00 to Monday 10:00 only two open hours pass."""
        assert calendar.working_time(local(2026, 12, 23, 14), local(2026, 12, 28, 10)) == (
            timedelta(hours=2)
        )

    def test_adding_working_time_skips_to_the_next_opening(self, calendar: Calendar) -> None:
        """Two hours from 11:00 on New Year's Eve end at 10:00 on 4 January."""
        assert calendar.add_working_time(local(2026, 12, 31, 11), timedelta(hours=2)) == local(
            2027, 1, 4, 10
        )

    def test_epiphany_is_skipped(self, calendar: Calendar) -> None:
        assert calendar.next_opening(local(2027, 1, 5, 15)) == local(2027, 1, 7, 9)


class TestEaster2027:
    """Good Friday 26.3 and Easter Monday 29.3 are holidays; the clocks go forward on the Sunday."""

    def test_closed_from_good_friday_to_easter_monday(self, calendar: Calendar) -> None:
        assert calendar.is_open(local(2027, 3, 25, 14))
        for day in (26, 27, 28, 29):
            assert not calendar.day(date(2027, 3, day)).is_working_day
        assert calendar.next_opening(local(2027, 3, 25, 15)) == local(2027, 3, 30, 9)

    def test_opening_after_easter_is_summer_time(self, calendar: Calendar) -> None:
        """09:00 is 07:00 UTC before the switch and 06:00 UTC after it."""
        assert local(2027, 3, 25, 9) == datetime(2027, 3, 25, 7, tzinfo=UTC)
        assert calendar.next_opening(local(2027, 3, 25, 15)) == datetime(2027, 3, 30, 6, tzinfo=UTC)

    def test_working_time_over_easter_is_not_fooled_by_the_clock_change(
        self, calendar: Calendar
    ) -> None:
        """Thursday 14:00 to Tuesday 10:00: two open hours, though 115 wall-clock hours pass."""
        start, end = local(2027, 3, 25, 14), local(2027, 3, 30, 10)
        assert end - start == timedelta(hours=115)
        assert calendar.working_time(start, end) == timedelta(hours=2)


class TestMidsummer2027:
    """Midsummer Eve (Fri 25.6) is a holiday; the day before is a short day."""

    def test_short_day_before_midsummer(self, calendar: Calendar) -> None:
        assert calendar.day(date(2027, 6, 24)).note == "special hours: Juhannusaaton aatto"
        assert calendar.is_open(local(2027, 6, 24, 11, 59))
        assert not calendar.is_open(local(2027, 6, 24, 12))

    def test_next_opening_is_the_monday_after(self, calendar: Calendar) -> None:
        assert not calendar.day(date(2027, 6, 25)).is_working_day
        assert calendar.next_opening(local(2027, 6, 24, 12)) == local(2027, 6, 28, 9)

    def test_working_time_over_midsummer(self, calendar: Calendar) -> None:
        """Thursday 11:00–12:00 and Monday 09:00–10:00."""
        assert calendar.working_time(local(2027, 6, 24, 11), local(2027, 6, 28, 10)) == (
            timedelta(hours=2)
        )


class TestDaylightSaving2027:
    """Spring forward 28.3 03:00→04:00, fall back 31.10 04:00→03:00."""

    @pytest.fixture
    def always_open(self) -> Calendar:
        return Calendar(HELSINKI, {wd: [(0, 1440)] for wd in range(7)})

    def test_spring_forward_day_has_23_open_hours(self, always_open: Calendar) -> None:
        assert always_open.working_time(local(2027, 3, 28), local(2027, 3, 29)) == timedelta(
            hours=23
        )

    def test_fall_back_day_has_25_open_hours(self, always_open: Calendar) -> None:
        assert always_open.working_time(local(2027, 10, 31), local(2027, 11, 1)) == timedelta(
            hours=25
        )

    def test_adding_time_across_the_fall_back_hour(self, always_open: Calendar) -> None:
        """Two open hours from 02:30 end at 03:30 local: 03:00–04:00 happens twice."""
        end = always_open.add_working_time(local(2027, 10, 31, 2, 30), timedelta(hours=2))
        assert end == datetime(2027, 10, 31, 1, 30, tzinfo=UTC)
        assert always_open.local(end).strftime("%H:%M %Z") == "03:30 EET"

    def test_hours_in_the_missing_hour_start_when_the_clock_resumes(self) -> None:
        """Opening at 03:30 on the spring-forward day, a time that never happens, opens at 04:30."""
        calendar = Calendar(HELSINKI, {6: [(3 * 60 + 30, 6 * 60)]})
        span = calendar.day(date(2027, 3, 28)).spans[0]
        assert calendar.local(span.start).strftime("%H:%M") == "04:30"
        assert span.length == timedelta(hours=1, minutes=30)

    def test_example_line_over_the_october_weekend(self, calendar: Calendar) -> None:
        """Friday 14:00 to Monday 10:00 after the switch: two open hours."""
        assert calendar.working_time(local(2027, 10, 29, 14), local(2027, 11, 1, 10)) == (
            timedelta(hours=2)
        )
        assert calendar.next_opening(local(2027, 10, 29, 15)) == datetime(
            2027, 11, 1, 7, tzinfo=UTC
        )


class TestClosures:
    def test_a_closure_span_cuts_the_day(self, calendar: Calendar) -> None:
        """The training afternoon of 10.2.2027 closes the line at 12:00."""
        assert calendar.is_open(local(2027, 2, 10, 11))
        assert not calendar.is_open(local(2027, 2, 10, 13))
        assert calendar.next_closing(local(2027, 2, 10, 10)) == local(2027, 2, 10, 12)
        assert calendar.day(date(2027, 2, 10)).note == "partly closed: Henkilöstön koulutus"

    def test_a_closure_over_several_days(self) -> None:
        calendar = Calendar(
            HELSINKI,
            {wd: [(540, 900)] for wd in range(5)},
            closures=[Closure(datetime(2027, 7, 5), datetime(2027, 7, 17), "summer break")],
        )
        assert calendar.next_opening(local(2027, 7, 2, 16)) == local(2027, 7, 19, 9)

    def test_a_line_that_never_opens_says_so(self) -> None:
        calendar = Calendar(HELSINKI, {})
        with pytest.raises(CalendarError, match="does not open"):
            calendar.next_opening(local(2027, 1, 1))


class TestTransitions:
    def test_next_openings_and_closings(self, calendar: Calendar) -> None:
        """From Christmas Eve: Monday 28th opens first; the short day closes at 12."""
        found = calendar.transitions(local(2026, 12, 24, 8), 8)
        shown = [(calendar.local(t.at).strftime("%m-%d %H:%M"), t.opens) for t in found]
        assert shown == [
            ("12-28 09:00", True),
            ("12-28 15:00", False),
            ("12-29 09:00", True),
            ("12-29 15:00", False),
            ("12-30 09:00", True),
            ("12-30 15:00", False),
            ("12-31 09:00", True),
            ("12-31 12:00", False),
        ]


class TestTouchingHours:
    @pytest.fixture
    def split_day(self) -> Calendar:
        return Calendar(HELSINKI, {0: [(720, 900), (540, 720)]})

    def test_touching_ranges_are_one_opening(self, split_day: Calendar) -> None:
        """09–12 and 12–15 given apart (in any order) are open 09–15, with no 12:00 closing."""
        (span,) = split_day.day(date(2026, 1, 12)).spans
        assert (split_day.local(span.start).hour, split_day.local(span.end).hour) == (9, 15)
        assert split_day.next_closing(local(2026, 1, 12, 10)) == local(2026, 1, 12, 15)
        found = split_day.transitions(local(2026, 1, 12, 8), 2)
        assert [split_day.local(t.at).hour for t in found] == [9, 15]

    def test_a_line_open_round_the_clock_never_closes(self) -> None:
        always = Calendar(HELSINKI, {wd: [(0, 1440)] for wd in range(7)})
        assert always.next_closing(local(2027, 3, 27, 23, 30)) is None
        assert always.transitions(local(2027, 1, 1), 5) == []

    def test_closing_runs_on_through_midnight(self) -> None:
        """Open 18–24 and 00–06: the night shift closes at 06:00, not at midnight."""
        night = Calendar(HELSINKI, {wd: [(0, 360), (1080, 1440)] for wd in range(7)})
        assert night.next_closing(local(2027, 1, 4, 20)) == local(2027, 1, 5, 6)


class TestDiallingWindow:
    def test_the_first_instant_a_callback_may_be_dialled(self, calendar: Calendar) -> None:
        window = (9 * 60, 14 * 60 + 45)
        assert calendar.first_instant_within(local(2026, 1, 12, 10), window) == local(
            2026, 1, 12, 10
        )
        assert calendar.first_instant_within(local(2026, 1, 12, 14, 50), window) == local(
            2026, 1, 13, 9
        )
        assert calendar.first_instant_within(local(2026, 12, 24, 8), window) == local(
            2026, 12, 28, 9
        )


class TestQuestionsInTurn:
    def test_open_at_answers_each_instant_for_its_own_day(self, config: HotlineConfig) -> None:
        """Asked in any order, each instant gets the span of its own day (or none)."""
        calendar = Calendar.from_config(config)
        monday = calendar.open_span_at(local(2026, 1, 12, 10))
        assert monday is not None and monday.start == local(2026, 1, 12, 9)
        assert calendar.open_span_at(local(2026, 1, 12, 15)) is None
        tuesday = calendar.open_span_at(local(2026, 1, 13, 14, 59))
        assert tuesday is not None and tuesday.start == local(2026, 1, 13, 9)
        assert calendar.open_span_at(local(2026, 1, 12, 14, 59)) == monday
        assert calendar.open_span_at(local(2026, 1, 13, 8, 59)) is None
