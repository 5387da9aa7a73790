"""Prompts rendered to the sentences callers hear, in Finnish, Swedish and English."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.prompts import DigitGroups, When, prompt, render_text, round_up

HELSINKI = ZoneInfo("Europe/Helsinki")
MONDAY = date(2026, 1, 12)
HALF_HOUR = timedelta(minutes=30)


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=HELSINKI).astimezone(UTC)


def said(config: HotlineConfig, language: str, when: When) -> str:
    """The ``{when}`` part of a callback confirmation, as heard."""
    return render_text(prompt("pending_exists", language, when=when), config)


class TestPlainPrompts:
    @pytest.mark.parametrize(
        ("key", "language", "params", "text"),
        [
            ("greeting", "fi", {}, "Tervetuloa sosiaali- ja terveyspalvelujen neuvontaan."),
            ("greeting", "sv", {}, "Välkommen till social- och hälsovårdsrådgivningen."),
            ("greeting", "en", {}, "Welcome to the social and health services advice line."),
            ("language_option", "fi", {"digit": 1}, "Suomeksi, paina 1."),
            ("language_option", "sv", {"digit": 2}, "På svenska, tryck 2."),
            ("language_option", "en", {"digit": 3}, "For English, press 3."),
            ("queue_position", "fi", {"position": 3}, "Olet jonossa sijalla 3."),
            ("queue_position", "sv", {"position": 3}, "Du är nummer 3 i kön."),
            ("queue_position", "en", {"position": 3}, "You are number 3 in the queue."),
            (
                "queue_wait_minutes",
                "fi",
                {"minutes": 7},
                "Arvioitu odotusaika on noin 7 minuuttia.",
            ),
            (
                "topic_option",
                "sv",
                {"topic": "Hälsofrågor", "digit": 1},
                "Hälsofrågor, tryck 1.",
            ),
            (
                "topic_option",
                "en",
                {"topic": "health matters", "digit": 1},
                "For health matters, press 1.",
            ),
            (
                "health_urgent",
                "fi",
                {},
                "Jos tarvitset kiireellistä apua, soita päivystysapuun numeroon 116 117. "
                "Hätätilanteessa soita 112.",
            ),
        ],
    )
    def test_prompt_text_in_each_language(
        self,
        config: HotlineConfig,
        key: str,
        language: str,
        params: dict[str, int | str],
        text: str,
    ) -> None:
        """Each prompt is said in the caller's language with its values filled in."""
        assert render_text(prompt(key, language, **params), config) == text

    @pytest.mark.parametrize(
        ("language", "text"),
        [
            (
                "fi",
                "Soitamme numeroon 040 123 4567. Jos numero on oikein, paina 1. "
                "Jos haluat antaa toisen numeron, paina 2.",
            ),
            (
                "sv",
                "Vi ringer till numret 040 123 4567. Om numret är rätt, tryck 1. "
                "Om du vill ge ett annat nummer, tryck 2.",
            ),
            (
                "en",
                "We will call 040 123 4567. If that number is right, press 1. "
                "To give another number, press 2.",
            ),
        ],
    )
    def test_number_is_read_back_in_groups(
        self, config: HotlineConfig, language: str, text: str
    ) -> None:
        """The read-back says the number in groups: 040 123 4567."""
        number = DigitGroups(("040", "123", "4567"))
        assert render_text(prompt("readback", language, number=number), config) == text

    def test_digit_groups_are_spaced(self) -> None:
        """DigitGroups reads as its groups separated by single spaces."""
        assert str(DigitGroups(("09", "123", "456", "78"))) == "09 123 456 78"

    def test_closed_message_names_the_next_opening(self, config: HotlineConfig) -> None:
        """The closed message on a Monday evening says the line opens tomorrow at 9.00."""
        opening = When(local(2026, 1, 13, 9), MONDAY, "at")
        assert render_text(prompt("closed", "fi", next_opening=opening), config) == (
            "Neuvonta on nyt suljettu. Palvelemme arkisin kello 9–15. "
            "Avaamme seuraavan kerran huomenna kello 9.00."
        )


class TestWhen:
    @pytest.mark.parametrize(
        ("language", "text"),
        [
            ("fi", "tänään kello 14.00 mennessä"),
            ("sv", "i dag före klockan 14.00"),
            ("en", "today by 14:00"),
        ],
    )
    def test_same_day_by(self, config: HotlineConfig, language: str, text: str) -> None:
        """A callback later today is promised by a time: "today by 14.00"."""
        when = When(local(2026, 1, 12, 14), MONDAY, "by")
        assert text in said(config, language, when)

    @pytest.mark.parametrize(
        ("language", "text"),
        [("fi", "tänään kello 14.00"), ("sv", "i dag klockan 14.00"), ("en", "today at 14:00")],
    )
    def test_same_day_at(self, config: HotlineConfig, language: str, text: str) -> None:
        """An event later today is said as "today at 14.00", with no "by"."""
        when = When(local(2026, 1, 12, 14), MONDAY, "at")
        rendered = said(config, language, when)
        assert text in rendered
        assert "mennessä" not in rendered and "före" not in rendered and " by " not in rendered

    @pytest.mark.parametrize(
        ("language", "text"),
        [
            ("fi", "huomenna kello 9.00"),
            ("sv", "i morgon klockan 9.00"),
            ("en", "tomorrow at 9:00"),
        ],
    )
    def test_tomorrow_at(self, config: HotlineConfig, language: str, text: str) -> None:
        """The next day is "tomorrow", and the hour has no leading zero."""
        assert text in said(config, language, When(local(2026, 1, 13, 9), MONDAY, "at"))

    @pytest.mark.parametrize(
        ("language", "text"),
        [
            ("fi", "huomenna kello 9.00 mennessä"),
            ("sv", "i morgon före klockan 9.00"),
            ("en", "tomorrow by 9:00"),
        ],
    )
    def test_tomorrow_by(self, config: HotlineConfig, language: str, text: str) -> None:
        """A deadline tomorrow is "tomorrow by 9.00"."""
        assert text in said(config, language, When(local(2026, 1, 13, 9), MONDAY, "by"))

    @pytest.mark.parametrize(
        ("today", "at", "language", "text"),
        [
            # Monday 12 January → Thursday 15 January
            (MONDAY, local(2026, 1, 15, 9), "fi", "torstaina aamupäivällä"),
            (MONDAY, local(2026, 1, 15, 9), "sv", "på torsdag förmiddag"),
            (MONDAY, local(2026, 1, 15, 9), "en", "on Thursday morning"),
            # Friday 16 January → Monday 19 January
            (date(2026, 1, 16), local(2026, 1, 19, 9), "fi", "maanantaina aamupäivällä"),
            (date(2026, 1, 16), local(2026, 1, 19, 9), "sv", "på måndag förmiddag"),
            (date(2026, 1, 16), local(2026, 1, 19, 9), "en", "on Monday morning"),
            # Monday → tomorrow morning
            (MONDAY, local(2026, 1, 13, 9), "fi", "huomenna aamupäivällä"),
            (MONDAY, local(2026, 1, 13, 9), "sv", "i morgon förmiddag"),
            (MONDAY, local(2026, 1, 13, 9), "en", "tomorrow morning"),
        ],
    )
    def test_morning_names_the_day(
        self, config: HotlineConfig, today: date, at: datetime, language: str, text: str
    ) -> None:
        """A half-day promise names the weekday within the week, and no clock time."""
        rendered = said(config, language, When(at, today, "morning"))
        assert text in rendered
        assert "9.00" not in rendered and "9:00" not in rendered

    @pytest.mark.parametrize(
        ("day", "fi", "en"),
        [
            (date(2026, 1, 14), "keskiviikkona", "on Wednesday"),  # 2 days ahead
            (date(2026, 1, 15), "torstaina", "on Thursday"),
            (date(2026, 1, 16), "perjantaina", "on Friday"),
            (date(2026, 1, 17), "lauantaina", "on Saturday"),
            (date(2026, 1, 18), "sunnuntaina", "on Sunday"),  # 6 days ahead, still a weekday
        ],
    )
    def test_days_within_the_week_are_weekdays(
        self, config: HotlineConfig, day: date, fi: str, en: str
    ) -> None:
        """From Monday, days 2 to 6 ahead are said by weekday name."""
        at = local(day.year, day.month, day.day, 10, 30)
        when = When(at, MONDAY, "by")
        assert f"{fi} kello 10.30 mennessä" in said(config, "fi", when)
        assert f"{en} by 10:30" in said(config, "en", when)

    @pytest.mark.parametrize(
        ("language", "text"),
        [
            ("fi", "15.1. aamupäivällä"),
            ("sv", "den 15.1. förmiddag"),
            ("en", "on 15/1 morning"),
        ],
    )
    def test_a_week_or_more_ahead_uses_the_date(
        self, config: HotlineConfig, language: str, text: str
    ) -> None:
        """Seven days ahead a weekday would be ambiguous: the date is said instead."""
        when = When(local(2026, 1, 15, 9), date(2026, 1, 8), "morning")  # Thursday to Thursday
        rendered = said(config, language, when)
        assert text in rendered
        assert "torstaina" not in rendered and "Thursday" not in rendered

    def test_a_date_far_ahead_keeps_its_time(self, config: HotlineConfig) -> None:
        """A deadline weeks ahead is said with its date and time."""
        when = When(local(2026, 2, 3, 13), MONDAY, "by")
        assert "3.2. kello 13.00 mennessä" in said(config, "fi", when)
        assert "on 3/2 by 13:00" in said(config, "en", when)

    @pytest.mark.parametrize(
        ("at", "fi", "en"),
        [
            (local(2026, 1, 12, 9, 5), "kello 9.05", "at 9:05"),
            (local(2026, 1, 12, 10, 30), "kello 10.30", "at 10:30"),
            (local(2026, 1, 12, 0, 0), "kello 0.00", "at 0:00"),
        ],
    )
    def test_times_have_no_leading_zero(
        self, config: HotlineConfig, at: datetime, fi: str, en: str
    ) -> None:
        """Hours are said as 9.00, not 09.00; minutes always have two digits."""
        when = When(at, MONDAY, "at")
        assert f"tänään {fi}" in said(config, "fi", when)
        assert f"today {en}" in said(config, "en", when)
        assert "09" not in said(config, "fi", when)

    def test_times_are_said_in_helsinki_time(self, config: HotlineConfig) -> None:
        """22:30 UTC on Monday is half past midnight on Tuesday in Helsinki: "tomorrow"."""
        when = When(datetime(2026, 1, 12, 22, 30, tzinfo=UTC), MONDAY, "at")
        assert "huomenna kello 0.30" in said(config, "fi", when)

    def test_summer_time_is_applied(self, config: HotlineConfig) -> None:
        """In June, 06:00 UTC is 9.00 in Helsinki (UTC+3)."""
        when = When(datetime(2026, 6, 15, 6, tzinfo=UTC), date(2026, 6, 15), "at")
        assert "tänään kello 9.00" in said(config, "fi", when)


class TestRoundUp:
    @pytest.mark.parametrize(
        ("at", "rounded"),
        [
            (datetime(2026, 1, 12, 10, 0, tzinfo=UTC), datetime(2026, 1, 12, 10, 0, tzinfo=UTC)),
            (datetime(2026, 1, 12, 10, 30, tzinfo=UTC), datetime(2026, 1, 12, 10, 30, tzinfo=UTC)),
            (datetime(2026, 1, 12, 10, 1, tzinfo=UTC), datetime(2026, 1, 12, 10, 30, tzinfo=UTC)),
            (
                datetime(2026, 1, 12, 10, 0, 0, 1, tzinfo=UTC),
                datetime(2026, 1, 12, 10, 30, tzinfo=UTC),
            ),
            (
                datetime(2026, 1, 12, 10, 29, 59, tzinfo=UTC),
                datetime(2026, 1, 12, 10, 30, tzinfo=UTC),
            ),
            (datetime(2026, 1, 12, 10, 31, tzinfo=UTC), datetime(2026, 1, 12, 11, 0, tzinfo=UTC)),
            (datetime(2026, 1, 12, 23, 45, tzinfo=UTC), datetime(2026, 1, 13, 0, 0, tzinfo=UTC)),
        ],
    )
    def test_rounded_up_to_the_half_hour(self, at: datetime, rounded: datetime) -> None:
        """Times are promised on the half hour: 10:01 becomes 10:30, 10:00 stays."""
        assert round_up(at, HALF_HOUR) == rounded

    def test_other_steps(self) -> None:
        """A 15-minute step rounds 10:01 to 10:15; a whole hour rounds it to 11:00."""
        at = datetime(2026, 1, 12, 10, 1, tzinfo=UTC)
        assert round_up(at, timedelta(minutes=15)) == datetime(2026, 1, 12, 10, 15, tzinfo=UTC)
        assert round_up(at, timedelta(hours=1)) == datetime(2026, 1, 12, 11, tzinfo=UTC)

    @pytest.mark.parametrize(
        "start",
        [
            datetime(2026, 1, 12, 7, 0, tzinfo=UTC),  # winter, UTC+2
            datetime(2026, 3, 29, 0, 0, tzinfo=UTC),  # the spring DST switch
            datetime(2026, 6, 15, 6, 0, tzinfo=UTC),  # summer, UTC+3
            datetime(2026, 10, 25, 0, 0, tzinfo=UTC),  # the autumn DST switch
        ],
    )
    def test_rounded_times_are_whole_half_hours_in_helsinki(self, start: datetime) -> None:
        """Whatever the season, a rounded time is :00 or :30 on a Helsinki clock."""
        for minutes in range(0, 24 * 60, 7):
            at = start + timedelta(minutes=minutes, seconds=13)
            rounded = round_up(at, HALF_HOUR)
            assert at <= rounded < at + HALF_HOUR
            helsinki = rounded.astimezone(HELSINKI)
            assert (helsinki.minute, helsinki.second, helsinki.microsecond) in {
                (0, 0, 0),
                (30, 0, 0),
            }
