"""`callflow config check`: every problem in a file, each with its key path and what is allowed.

Each bad file is the shipped example with one thing changed, so each test shows
exactly which problem that one change produces.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from callflow.cli import main
from callflow.config.check import check_data, check_text
from callflow.config.load import DATABASE_ENV
from callflow.config.models import PROMPT_PLACEHOLDERS, HotlineConfig
from callflow.errors import MISSING, Problem
from tests.conftest import EXAMPLE_CONFIG

EXAMPLE_TEXT = EXAMPLE_CONFIG.read_text(encoding="utf-8")

Raw = dict[str, Any]


SV_WHISPER = (
    'whisper = "Återuppringning. Ärende {topic}, språk {language}. '
    'Den som ringde har väntat {minutes} minuter."\n'
)
FI_WHISPER = (
    'whisper = "Takaisinsoitto. Aihe {topic}, kieli {language}. '
    'Soittaja on odottanut {minutes} minuuttia."\n'
)


def edited(*replacements: tuple[str, str]) -> str:
    """The example's text with each ``(old, new)`` replaced; *old* must occur exactly once."""
    text = EXAMPLE_TEXT
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} must occur exactly once in the example"
        text = text.replace(old, new)
    return text


def text_problems(text: str) -> list[Problem]:
    config, problems = check_text(text)
    assert config is None, "a file with problems must not give a configuration"
    return problems


def data_problems(change: Callable[[Raw], object]) -> list[Problem]:
    """Problems of the example parsed to a dict and changed in place by *change*."""
    raw = tomllib.loads(EXAMPLE_TEXT)
    change(raw)
    config, problems = check_data(raw)
    assert config is None, "a file with problems must not give a configuration"
    return problems


def only(problems: list[Problem], path: str) -> Problem:
    """The single problem, which must be at *path*."""
    assert [p.path for p in problems] == [path], [str(p) for p in problems]
    return problems[0]


def paths(problems: list[Problem]) -> list[str]:
    return [p.path for p in problems]


# -- the example -----------------------------------------------------------------------------


class TestExample:
    def test_shipped_example_has_no_problems(self) -> None:
        """The example file a county starts from checks clean."""
        config, problems = check_text(EXAMPLE_TEXT)
        assert problems == []
        assert isinstance(config, HotlineConfig)
        assert config.topic_order == ["health", "social", "other"]
        assert config.language_order == ["fi", "sv", "en"]

    def test_example_as_data_has_no_problems(self) -> None:
        """Checking the parsed example gives the same clean result as checking its text."""
        config, problems = check_data(tomllib.loads(EXAMPLE_TEXT))
        assert problems == []
        assert config is not None
        assert config.menu.fallback_topic == "other"


# -- the file itself --------------------------------------------------------------------------


class TestToml:
    def test_unparseable_toml_gives_line_and_column(self) -> None:
        """A syntax error is reported at its line and column, not as a traceback."""
        text = edited(("max_attempts = 3", "max_attempts = = 3"))
        rows = text.splitlines()
        line = next(n for n, row in enumerate(rows, 1) if row.startswith("max_attempts = = 3"))
        column = len("max_attempts = ") + 1
        problem = only(text_problems(text), f"line {line}, column {column}")
        assert problem.allowed.startswith("not valid TOML: ")
        assert problem.value is MISSING

    def test_unclosed_table_header_gives_its_line(self) -> None:
        """A table header missing its bracket is reported on the header's own line."""
        text = edited(("[menu]", "[menu"))
        line = text.splitlines().index("[menu") + 1
        problem = only(text_problems(text), f"line {line}, column {len('[menu') + 1}")
        assert "not valid TOML" in problem.allowed
        assert "]" in problem.allowed

    def test_unknown_section_lists_the_sections(self) -> None:
        """A top-level table that is not a section is named with the sections allowed."""
        problem = only(data_problems(lambda raw: raw.update(colours={"a": 1})), "colours")
        assert problem.allowed == (
            "unknown section; sections are: calendar, callbacks, connect, dispatch, emergency, "
            "hours, languages, line, menu, provider, "
            "queues, reports, retention, simulation, skills, staffing, survey, web, web_requests"
        )

    @pytest.mark.parametrize("section", ["line", "hours", "menu", "callbacks", "retention"])
    def test_missing_required_section(self, section: str) -> None:
        """Leaving out a required section names that section."""
        problems = data_problems(lambda raw: raw.pop(section))
        problem = next(p for p in problems if p.path == section)
        assert problem.value is MISSING
        assert problem.allowed == "this section is required"
        assert str(problem) == f"{section}: (missing) — this section is required"

    def test_missing_menu_is_the_only_problem(self) -> None:
        """Without [menu] nothing else is reported: the other sections are fine."""
        only(data_problems(lambda raw: raw.pop("menu")), "menu")


# -- [line] ---------------------------------------------------------------------------------


class TestLine:
    def test_invalid_line_number(self) -> None:
        """A number that is not a phone line says how to write one."""
        text = edited(('number = "+358 29 123 4500"', 'number = "12345"'))
        problem = only(text_problems(text), "line.number")
        assert problem.value == "12345"
        assert "write it like '+358 29 123 4500'" in problem.allowed

    def test_unknown_timezone(self) -> None:
        """A timezone that is not an IANA name asks for one."""
        text = edited(('timezone = "Europe/Helsinki"', 'timezone = "Europe/Helsingfors"'))
        problem = only(text_problems(text), "line.timezone")
        assert problem.value == "Europe/Helsingfors"
        assert "unknown timezone" in problem.allowed
        assert "IANA name like 'Europe/Helsinki'" in problem.allowed

    def test_unknown_default_language(self) -> None:
        """A default language that is not configured lists the languages there are."""
        text = edited(('default_language = "fi"', 'default_language = "de"'))
        problem = only(text_problems(text), "line.default_language")
        assert problem.value == "de"
        assert problem.allowed == "one of languages: en, fi, sv"

    def test_missing_required_key(self) -> None:
        """A required key left out of a section is named and called required."""
        problems = data_problems(lambda raw: raw["line"].pop("name"))
        problem = only(problems, "line.name")
        assert problem.value is MISSING
        assert problem.allowed == "this key is required"


# -- [hours] and [calendar] -------------------------------------------------------------------


class TestHours:
    def test_misspelt_weekday(self) -> None:
        """A day name that is not a weekday is a problem at its key, not a crash."""
        text = edited(("saturday = []", "saturdays = []"))
        problem = only(text_problems(text), "hours.saturdays")
        assert problem.allowed.startswith("unknown key; allowed: monday, tuesday")

    def test_ranges_in_any_order(self) -> None:
        """Hours written afternoon first are as good as hours written in order."""
        text = edited(('monday = ["09:00-15:00"]', 'monday = ["13:00-15:00", "09:00-12:00"]'))
        config, problems = check_text(text)
        assert problems == [] and config is not None

    def test_overlapping_hours(self) -> None:
        """Two ranges on one day that overlap: the second is named with the one it overlaps."""
        text = edited(('monday = ["09:00-15:00"]', 'monday = ["09:00-12:00", "11:00-15:00"]'))
        problem = only(text_problems(text), "hours.monday[1]")
        assert problem.value == "11:00-15:00"
        assert problem.allowed == "overlaps hours.monday[0] (09:00-12:00); give each hour once"

    def test_inverted_hours(self) -> None:
        """A range that ends before it starts asks for the earlier time first."""
        text = edited(('tuesday = ["09:00-15:00"]', 'tuesday = ["15:00-09:00"]'))
        problem = only(text_problems(text), "hours.tuesday[0]")
        assert problem.value == "15:00-09:00"
        assert "write the earlier time first" in problem.allowed

    def test_not_a_time(self) -> None:
        """A clock time past 24:00 says which times are allowed."""
        text = edited(('wednesday = ["09:00-15:00"]', 'wednesday = ["09:00-25:00"]'))
        problem = only(text_problems(text), "hours.wednesday[0]")
        assert "between 00:00 and 24:00" in problem.allowed

    def test_closed_every_day(self) -> None:
        """A week with no opening at all is refused."""

        def close_all(raw: Raw) -> None:
            raw["hours"] = {day: [] for day in raw["hours"]}

        problem = only(data_problems(close_all), "hours")
        assert problem.allowed == "the line must open on at least one weekday"


class TestCalendar:
    def test_unknown_holidays_country(self) -> None:
        """A holidays country the holidays package does not know asks for one it does."""
        text = edited(('holidays = "FI"', 'holidays = "XX"'))
        problem = only(text_problems(text), "calendar.holidays")
        assert problem.value == "XX"
        assert problem.allowed == "a country code the holidays package knows, such as 'FI'"

    def test_closure_with_both_date_and_span(self) -> None:
        """A closure giving a date and a start/end span must pick one form."""
        text = edited(
            (
                'date = 2026-12-24\nreason = "Jouluaatto"',
                "date = 2026-12-24\nstart = 2026-12-24T08:00:00\nend = 2026-12-24T18:00:00\n"
                'reason = "Jouluaatto"',
            )
        )
        problem = only(text_problems(text), "calendar.closures[0]")
        assert problem.allowed == "give either 'date' or both 'start' and 'end'"

    def test_closure_span_with_offset(self) -> None:
        """A closure written with a UTC offset asks for local time."""
        text = edited(
            ("start = 2027-02-10T12:00:00\n", "start = 2027-02-10T12:00:00+02:00\n"),
            ("end = 2027-02-10T15:00:00\n", "end = 2027-02-10T15:00:00+02:00\n"),
        )
        problem = only(text_problems(text), "calendar.closures[1]")
        assert "without an offset" in problem.allowed

    def test_duplicate_special_hours_date(self) -> None:
        """Special hours given twice for one date name the entry that came first."""
        text = edited(("date = 2027-06-24", "date = 2026-12-31"))
        problem = only(text_problems(text), "calendar.special_hours[1].date")
        assert problem.value == "2026-12-31"
        assert problem.allowed == "already given in calendar.special_hours[0]"

    def test_unknown_key_in_closure(self) -> None:
        """A misspelt key in a closure lists the keys a closure takes."""
        text = edited(('reason = "Jouluaatto"', 'reason = "Jouluaatto"\nreson = "x"'))
        problem = only(text_problems(text), "calendar.closures[0].reson")
        assert problem.allowed == "unknown key; allowed: date, end, reason, start"


# -- [languages] ------------------------------------------------------------------------------


class TestLanguages:
    def test_missing_required_prompt(self) -> None:
        """A language without a required prompt names the missing prompt."""
        text = edited(('goodbye = "Tack för samtalet. Hej då."\n', ""))
        problem = only(text_problems(text), "languages.sv.prompts.goodbye")
        assert problem.value is MISSING
        assert problem.allowed == "every language needs this prompt"

    def test_a_prompt_only_asterisk_plays_is_not_required_of_other_lines(self) -> None:
        """The apology before a failed Asterisk call is sent on: a file written before it
        existed, for the simulator or Twilio, still loads."""
        text = edited(('technical_problem = "Vi ber om ursäkt, vi har ett tekniskt fel."\n', ""))
        config, problems = check_text(text)
        assert problems == []
        assert config is not None

    def test_the_whisper_is_required_in_the_line_s_own_language_only(self) -> None:
        """The advisor hears the whisper in the line's default language: a Swedish or
        English line without one still loads; a Finnish line (the default) without it does
        not."""
        sv = edited((SV_WHISPER, ""))
        config, problems = check_text(sv)
        assert problems == []
        assert config is not None
        fi = edited((FI_WHISPER, ""))
        problem = only(text_problems(fi), "languages.fi.prompts.whisper")
        assert problem.value is MISSING

    def test_prompt_with_unknown_placeholder(self) -> None:
        """A placeholder a prompt cannot use is named with the ones it can."""
        text = edited(
            (
                'queue_position = "Du är nummer {position} i kön."',
                'queue_position = "Du är nummer {place} i kön."',
            )
        )
        problem = only(text_problems(text), "languages.sv.prompts.queue_position")
        assert problem.value == "Du är nummer {place} i kön."
        assert problem.allowed == "unknown placeholder {place}; allowed: {position}"

    def test_placeholder_in_prompt_that_takes_none(self) -> None:
        """A placeholder in a prompt that takes none says that none are allowed."""
        text = edited(
            (
                'goodbye = "Thank you for calling. Goodbye."',
                'goodbye = "Thank you for calling, {name}. Goodbye."',
            )
        )
        problem = only(text_problems(text), "languages.en.prompts.goodbye")
        assert problem.allowed == "unknown placeholder {name}; allowed: none"

    def test_prompt_with_broken_brace(self) -> None:
        """An unclosed brace in a prompt says how to write a literal brace."""
        text = edited(
            (
                'goodbye = "Thank you for calling. Goodbye."',
                'goodbye = "Thank you {for calling. Goodbye."',
            )
        )
        problem = only(text_problems(text), "languages.en.prompts.goodbye")
        assert "broken braces" in problem.allowed
        assert "write {{ or }} for a brace" in problem.allowed

    def test_time_format_with_unknown_field(self) -> None:
        """A time format field that does not exist lists the fields that do."""
        text = edited(('time_format = "{h}:{mm}"', 'time_format = "{hour}:{mm}"'))
        problem = only(text_problems(text), "languages.en.time_format")
        assert problem.allowed == "unknown placeholder; allowed: {h}, {hh}, {mm}"

    def test_duplicate_language_digit(self) -> None:
        """Two languages on one menu digit: the later one is named with the owner."""
        text = edited(('digit = 2\nname = "svenska"', 'digit = 1\nname = "svenska"'))
        problem = only(text_problems(text), "languages.sv.digit")
        assert problem.value == 1
        assert problem.allowed == "already used by languages.fi; each needs its own digit"

    def test_bad_language_code(self) -> None:
        """A language code that is not two or three lower-case letters shows the form."""

        def add_upper_case(raw: Raw) -> None:
            raw["languages"]["FI"] = raw["languages"].pop("fi")
            raw["line"]["default_language"] = "FI"
            for queue in raw["queues"].values():
                queue["names"]["FI"] = queue["names"].pop("fi")
            for block in raw["staffing"]:
                block["languages"] = ["FI" if c == "fi" else c for c in block["languages"]]
            raw["simulation"]["languages"]["FI"] = raw["simulation"]["languages"].pop("fi")
            consent = raw["web_requests"]["consent"]
            consent["FI"] = consent.pop("fi")

        problem = only(data_problems(add_upper_case), "languages.FI")
        assert problem.allowed == "a language code such as 'fi', 'sv' or 'en'"

    def test_every_required_prompt_is_in_the_example(self) -> None:
        """Each language of the example defines every prompt the engine says."""
        raw = tomllib.loads(EXAMPLE_TEXT)
        for language in raw["languages"].values():
            assert set(PROMPT_PLACEHOLDERS) <= set(language["prompts"])


# -- [queues] and [menu] ----------------------------------------------------------------------


class TestQueues:
    def test_unknown_fallback_topic(self) -> None:
        """A fallback topic that is not a queue lists the queues."""
        text = edited(('fallback_topic = "other"', 'fallback_topic = "billing"'))
        problem = only(text_problems(text), "menu.fallback_topic")
        assert problem.value == "billing"
        assert problem.allowed == "one of queues: health, other, social"

    def test_unknown_skill_in_queue(self) -> None:
        """A queue naming a skill that is not listed shows the skills."""
        text = edited(
            ('skill = "nurse"\ndefault_handle_time', 'skill = "doctor"\ndefault_handle_time')
        )
        problem = only(text_problems(text), "queues.health.skill")
        assert problem.value == "doctor"
        assert problem.allowed == "one of skills: nurse, service_advisor, social_counsellor"

    def test_queue_name_in_unknown_language(self) -> None:
        """A queue name in a language that is not configured: both sides are reported."""
        text = edited(('en = "health matters"', 'de = "health matters"'))
        problems = text_problems(text)
        assert sorted(paths(problems)) == ["queues.health.names.de", "queues.health.names.en"]
        unknown = next(p for p in problems if p.path == "queues.health.names.de")
        assert unknown.value == "health matters"
        assert unknown.allowed == "one of languages: en, fi, sv"

    def test_queue_missing_a_language(self) -> None:
        """A queue without a name in a configured language names that language."""
        text = edited((', en = "health matters" }', " }"))
        problem = only(text_problems(text), "queues.health.names.en")
        assert problem.value is MISSING
        assert problem.allowed == "the queue needs a name in every language"

    def test_zero_overflow_thresholds(self) -> None:
        """Overflow thresholds of zero are each refused as not above zero."""
        text = edited(
            (
                'queue_length = 3, estimated_wait = "3m"',
                'queue_length = 0, estimated_wait = "0s"',
            )
        )
        problems = text_problems(text)
        assert paths(problems) == [
            "queues.health.overflow.queue_length",
            "queues.health.overflow.estimated_wait",
        ]
        assert problems[0].value == 0
        assert problems[0].allowed == "Input should be greater than 0"
        assert problems[1].value == "0s"
        assert problems[1].allowed == "must be longer than zero"

    def test_duration_that_is_not_a_duration(self) -> None:
        """ "5 minutes" is refused with examples of durations that work."""
        text = edited(('default_handle_time = "9m"', 'default_handle_time = "5 minutes"'))
        problem = only(text_problems(text), "queues.social.default_handle_time")
        assert problem.value == "5 minutes"
        assert problem.allowed == (
            "'5 minutes' is not a duration such as '45s', '5m', '2h', '1h30m' or '30d'"
        )

    def test_duplicate_queue_digit(self) -> None:
        """Two topics on one menu digit: the later one is named with the owner."""
        text = edited(
            ('digit = 2\nskill = "social_counsellor"', 'digit = 1\nskill = "social_counsellor"')
        )
        problem = only(text_problems(text), "queues.social.digit")
        assert problem.allowed == "already used by queues.health; each needs its own digit"

    def test_unknown_key_in_queue_lists_allowed_keys(self) -> None:
        """A misspelt key in a queue lists every key a queue takes."""
        text = edited(('closing_policy = "serve"', 'closing_policy = "serve"\ncolour = "red"'))
        problem = only(text_problems(text), "queues.other.colour")
        assert problem.allowed == (
            "unknown key; allowed: callbacks, closing_policy, default_handle_time, digit, names, "
            "overflow, promise, skill"
        )

    def test_alternative_prompt_not_defined(self) -> None:
        """An alternative prompt missing from the languages is reported for each language."""
        text = edited(
            ('alternative_prompt = "health_urgent"', 'alternative_prompt = "health_emergency"')
        )
        problems = text_problems(text)
        assert set(paths(problems)) == {"queues.health.callbacks.alternative_prompt"}
        assert sorted(p.allowed for p in problems) == [
            "no such prompt in languages.en.prompts",
            "no such prompt in languages.fi.prompts",
            "no such prompt in languages.sv.prompts",
        ]
        assert {p.value for p in problems} == {"health_emergency"}

    def test_alternative_without_a_prompt(self) -> None:
        """Choosing the alternative without naming its prompt asks for the prompt."""
        problems = data_problems(
            lambda raw: raw["queues"]["health"]["callbacks"].pop("alternative_prompt")
        )
        problem = only(problems, "queues.health.callbacks.alternative_prompt")
        assert problem.value is MISSING
        assert "name the prompt" in problem.allowed

    def test_closing_callback_with_callbacks_disabled(self) -> None:
        """Closing into callbacks on a queue that takes none asks to enable them or serve."""

        def disable(raw: Raw) -> None:
            raw["queues"]["social"]["callbacks"]["enabled"] = False

        problem = only(data_problems(disable), "queues.social.closing_policy")
        assert problem.value == "callback"
        assert problem.allowed == "needs callbacks.enabled = true, or use 'serve'"

    def test_unknown_key_in_menu(self) -> None:
        """A misspelt menu key is named and the menu's keys are listed."""
        text = edited(("max_attempts = 3", "max_atempts = 3"))
        problem = only(text_problems(text), "menu.max_atempts")
        assert problem.value == 3
        assert problem.allowed == (
            "unknown key; allowed: announce_interval, fallback_topic, input_timeout, "
            "max_attempts, number_digit_timeout"
        )


SHORT_SPECIAL_DAYS = ("calendar.special_hours[0].hours", "calendar.special_hours[1].hours")


class TestPromise:
    def test_special_hours_too_short_for_a_promise(self) -> None:
        """A short day by special hours must still fit the promises: a same-day promise
        whose late margin outlasts New Year's Eve's three hours is refused on that date."""
        text = edited(('late_margin = "2h"', 'late_margin = "4h"'))
        problems = text_problems(text)
        assert set(paths(problems)) == set(SHORT_SPECIAL_DAYS)
        problem = problems[0]
        assert problem.value == ["09:00-12:00"]
        assert problem.allowed == (
            "late_margin 4h runs past closing on a day open 3h; make it shorter "
            "(queue health's promise, on 2026-12-31)"
        )

    def test_late_margin_past_closing(self) -> None:
        """A same-day promise whose late margin outlasts the working day is refused."""
        text = edited(('late_margin = "2h"', 'late_margin = "7h"'))
        problems = text_problems(text)
        # The example's two short special days (09:00-12:00) break it too.
        assert set(paths(problems)) == {"queues.health.promise", *SHORT_SPECIAL_DAYS}
        assert problems[0].value == "same_day"
        assert problems[0].allowed == (
            "late_margin 7h runs past closing on a day open 6h; make it shorter "
            "(monday, the shortest usual day)"
        )

    def test_every_reason_is_given_once(self) -> None:
        """A margin and a cutoff that both outlast the day are each reported, once."""
        text = edited(
            (
                'cutoff_before_close = "30m", late_margin = "2h"',
                'cutoff_before_close = "7h", late_margin = "7h"',
            )
        )
        usual = [p for p in text_problems(text) if p.path == "queues.health.promise"]
        assert [p.allowed.split(" ")[0] for p in usual] == ["late_margin", "cutoff_before_close"]

    def test_the_shortest_usual_day_decides(self) -> None:
        """A margin that fits Monday to Thursday but not a short Friday is refused."""
        text = edited(('friday = ["09:00-15:00"]', 'friday = ["09:00-10:30"]'))
        (problem,) = text_problems(text)
        assert problem.path == "queues.health.promise"
        assert problem.allowed.endswith("(friday, the shortest usual day)")

    def test_cutoff_as_long_as_the_day(self) -> None:
        """A same-day cutoff that is not shorter than the working day is refused."""
        text = edited(('cutoff_before_close = "30m"', 'cutoff_before_close = "6h"'))
        problems = text_problems(text)
        assert set(paths(problems)) == {"queues.health.promise", *SHORT_SPECIAL_DAYS}
        assert problems[0].allowed.startswith(
            "cutoff_before_close 6h is not shorter than a day open 6h"
        )

    def test_next_working_day_promise_ignores_margins(self) -> None:
        """A next-working-day promise is not held to same-day margins."""
        config, problems = check_text(
            edited(
                (
                    'promise = { kind = "same_day", cutoff_before_close = "30m", '
                    'late_margin = "2h" }',
                    'promise = { kind = "next_working_day", late_margin = "7h" }',
                )
            )
        )
        assert problems == []
        assert config is not None


# -- [callbacks] and [staffing] ---------------------------------------------------------------


class TestCallbacks:
    def test_retry_policy_longer_than_the_day(self) -> None:
        """Retries that cannot all fit in a day's dialling time say how long they need."""
        text = edited(('attempts = 3, spacing = "30m"', 'attempts = 5, spacing = "2h"'))
        problem = only(text_problems(text), "callbacks.retry")
        assert problem.value == {"attempts": 5, "spacing": "2h"}
        assert problem.allowed == (
            "5 attempts 2h apart need 8h, but monday has only 5h45m of dialling time; "
            "use fewer attempts or shorter spacing"
        )

    def test_retry_hours_outside_opening_hours(self) -> None:
        """Retry hours that never meet the opening hours are refused."""
        text = edited(('allowed_hours = "09:00-14:45"', 'allowed_hours = "16:00-20:00"'))
        problem = only(text_problems(text), "callbacks.retry.allowed_hours")
        assert problem.value == "16:00-20:00"
        assert problem.allowed == "must overlap the opening hours (monday)"

    def test_zero_attempts(self) -> None:
        """A retry policy with no attempts says attempts must be above zero."""
        text = edited(("attempts = 3,", "attempts = 0,"))
        problem = only(text_problems(text), "callbacks.retry.attempts")
        assert problem.allowed == "Input should be greater than 0"


class TestStaffing:
    def test_a_language_nobody_planned_speaks_for_a_queue(self) -> None:
        """English is offered but no planned social counsellor speaks it."""
        text = edited(
            (
                'languages = ["fi", "sv", "en"]\nadvisors = 1\n\n[[staffing]]\ndays = '
                '["monday", "tuesday", "wednesday", "thursday", "friday"]\nhours = '
                '"09:00-15:00"\nskill = "service_advisor"',
                'languages = ["fi", "sv"]\nadvisors = 1\n\n[[staffing]]\ndays = '
                '["monday", "tuesday", "wednesday", "thursday", "friday"]\nhours = '
                '"09:00-15:00"\nskill = "service_advisor"',
            )
        )
        problem = only(text_problems(text), "staffing")
        assert problem.value == "social_counsellor/en"
        assert "queues.social callers choosing en would wait for nobody" in problem.allowed

    def test_unknown_skill_in_staffing(self) -> None:
        """A staffing block with an unknown skill is named by its index."""
        text = edited(('skill = "service_advisor"\nlanguages', 'skill = "receptionist"\nlanguages'))
        problem = only(text_problems(text), "staffing[3].skill")
        assert problem.value == "receptionist"
        assert problem.allowed == "one of skills: nurse, service_advisor, social_counsellor"

    def test_unknown_language_in_staffing(self) -> None:
        """A staffing block with an unknown language names the block and the language."""

        def german(raw: Raw) -> None:
            raw["staffing"][1]["languages"] = ["fi", "de"]

        problem = only(data_problems(german), "staffing[1].languages")
        assert problem.value == "de"
        assert problem.allowed == "one of languages: en, fi, sv"

    def test_unknown_weekday_in_staffing(self) -> None:
        """A misspelt weekday in a staffing block is reported at that day."""

        def typo(raw: Raw) -> None:
            raw["staffing"][0]["days"][0] = "mondy"

        problem = only(data_problems(typo), "staffing[0].days[0]")
        assert problem.value == "mondy"
        assert "'monday'" in problem.allowed
        assert "'sunday'" in problem.allowed


# -- many problems at once ---------------------------------------------------------------------


BROKEN_EVERYWHERE = [
    ('timezone = "Europe/Helsinki"', 'timezone = "Mars/Olympus"'),
    ('monday = ["09:00-15:00"]', 'monday = ["09:00-12:00", "11:00-15:00"]'),
    ('holidays = "FI"', 'holidays = "XX"'),
    # two problems inside one broken queue entry
    (
        'skill = "social_counsellor"\ndefault_handle_time = "9m"',
        'skill = "lawyer"\ndefault_handle_time = "5 minutes"',
    ),
    ("max_attempts = 3", "max_atempts = 3"),
    ('goodbye = "Tack för samtalet. Hej då."\n', ""),
    ('allowed_hours = "09:00-14:45"', 'allowed_hours = "16:00-20:00"'),
    ('skill = "service_advisor"\nlanguages', 'skill = "receptionist"\nlanguages'),
]

BROKEN_EVERYWHERE_PATHS = {
    "line.timezone",
    "hours.monday[1]",
    "calendar.holidays",
    "queues.social.skill",
    "queues.social.default_handle_time",
    "menu.max_atempts",
    "languages.sv.prompts.goodbye",
    "callbacks.retry.allowed_hours",
    "staffing[3].skill",
}


class TestEveryProblemListed:
    def test_one_run_lists_every_problem(self) -> None:
        """One check of a file broken in many sections lists every problem, not the first."""
        problems = text_problems(edited(*BROKEN_EVERYWHERE))
        assert set(paths(problems)) == BROKEN_EVERYWHERE_PATHS
        assert len(problems) == len(BROKEN_EVERYWHERE_PATHS)

    def test_broken_section_does_not_hide_cross_checks(self) -> None:
        """A broken [line] still lets the unknown default language and queue skill show."""
        text = edited(
            ('number = "+358 29 123 4500"', 'number = "not a number"'),
            ('default_language = "fi"', 'default_language = "de"'),
            ('skill = "nurse"\ndefault_handle_time', 'skill = "doctor"\ndefault_handle_time'),
        )
        assert sorted(paths(text_problems(text))) == [
            "line.default_language",
            "line.number",
            "queues.health.skill",
        ]


# -- the command -----------------------------------------------------------------------------


NO_DATABASE = "sqlite:////nonexistent/callflow.sqlite3"
"""Where the line's database is said to be: nowhere, so no stored setting of a machine's own
line shows in what these tests read."""


def run_check(*args: str) -> Any:
    return CliRunner().invoke(main, ["config", "check", *args], env={DATABASE_ENV: NO_DATABASE})


WEEK_ROW = re.compile(r"^  \w{3} \d{4}-\d{2}-\d{2}  ", re.MULTILINE)
TRANSITION_ROW = re.compile(r"^  (opens |closes)  (\w{3} \d{4}-\d{2}-\d{2} \d{2}:\d{2})", re.M)


class TestCommand:
    def test_valid_file_shows_week_and_transitions(self) -> None:
        """A sound file exits 0 with OK, the effective week and the next ten openings/closings."""
        result = run_check(str(EXAMPLE_CONFIG), "--at", "2026-01-12T10:00")
        assert result.exit_code == 0, result.output
        assert f"{EXAMPLE_CONFIG}: OK" in result.stdout
        week = result.stdout.split("Effective week")[1].split("Next 10")[0]
        assert len(WEEK_ROW.findall(week)) == 7
        assert len(TRANSITION_ROW.findall(result.stdout)) == 10
        assert result.stderr == ""

    def test_christmas_week_shows_holidays_and_next_opening(self) -> None:
        """Checked on 23 Dec after closing, Christmas and New Year show and Monday opens first."""
        result = run_check("--config", str(EXAMPLE_CONFIG), "--at", "2026-12-23T16:00")
        assert result.exit_code == 0, result.output
        out = result.stdout
        assert "OK" in out
        assert "Thu 2026-12-24  closed  (closed: Jouluaatto)" in out
        assert "Fri 2026-12-25  closed  (public holiday: Joulupäivä)" in out
        assert "special hours: Uudenvuodenaatto" in out
        assert "Fri 2027-01-01        public holiday: Uudenvuodenpäivä" in out
        week = out.split("Effective week")[1].split("Next 10")[0]
        assert len(WEEK_ROW.findall(week)) == 7
        transitions = TRANSITION_ROW.findall(out)
        assert len(transitions) == 10
        assert transitions[0] == ("opens ", "Mon 2026-12-28 09:00")
        assert ("closes", "Thu 2026-12-31 12:00") in transitions

    def test_config_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without a file argument the check reads $CALLFLOW_CONFIG."""
        monkeypatch.setenv("CALLFLOW_CONFIG", str(EXAMPLE_CONFIG))
        result = run_check("--at", "2026-01-12T10:00")
        assert result.exit_code == 0, result.output
        assert f"{EXAMPLE_CONFIG}: OK" in result.stdout

    def test_invalid_file_lists_every_problem_and_exits_2(self, tmp_path: Path) -> None:
        """A broken file exits 2 and lists each problem's key path on stderr."""
        broken = tmp_path / "broken.toml"
        broken.write_text(edited(*BROKEN_EVERYWHERE), encoding="utf-8")
        result = run_check(str(broken))
        assert result.exit_code == 2
        assert result.stdout == ""
        assert (
            f"error: configuration {broken} has {len(BROKEN_EVERYWHERE_PATHS)} problem(s):"
            in result.stderr
        )
        listed = {line.strip().split(":")[0] for line in result.stderr.splitlines()[1:]}
        assert listed == BROKEN_EVERYWHERE_PATHS
        assert "Traceback" not in result.output

    def test_unparseable_file_exits_2(self, tmp_path: Path) -> None:
        """A file that is not TOML exits 2 naming the line and column."""
        broken = tmp_path / "broken.toml"
        broken.write_text("[line\nname = 1\n", encoding="utf-8")
        result = run_check(str(broken))
        assert result.exit_code == 2
        assert "line 1, column 6: (missing) — not valid TOML" in result.stderr

    def test_missing_file_exits_2_and_says_how_to_choose(self, tmp_path: Path) -> None:
        """A missing file exits 2 and says to use --config or $CALLFLOW_CONFIG."""
        result = run_check("--config", str(tmp_path / "nowhere.toml"))
        assert result.exit_code == 2
        assert "nowhere.toml" in result.stderr
        assert "--config" in result.stderr
        assert "CALLFLOW_CONFIG" in result.stderr
        assert result.stdout == ""


class TestValuesThatWouldFailLater:
    """Values that parse but would break while a caller is listening are refused now."""

    def test_a_range_written_as_a_table_must_fit_a_day(self) -> None:
        text = edited(
            ('tuesday = ["09:00-15:00"]', "tuesday = [{start_minute=540, end_minute=5000}]")
        )
        problem = only(text_problems(text), "hours.tuesday[0]")
        assert "within one day" in problem.allowed

    def test_a_format_in_a_prompt_is_refused(self) -> None:
        text = edited(
            (
                'queue_position = "Olet jonossa sijalla {position}."',
                'queue_position = "Olet jonossa sijalla {position:d}."',
            )
        )
        problem = only(text_problems(text), "languages.fi.prompts.queue_position")
        assert "has a format; write plain {position}" in problem.allowed

    def test_region_codes_must_be_real(self) -> None:
        text = edited(('allowed_regions = ["FI"]', 'allowed_regions = ["fi"]'))
        problem = only(text_problems(text), "callbacks.allowed_regions")
        assert "'fi' is not a region code" in problem.allowed

    def test_callbacks_need_a_staffing_plan(self) -> None:
        """Without a plan no callback time could be promised, so none would ever be offered."""
        raw = tomllib.loads(EXAMPLE_TEXT)
        del raw["staffing"]
        config, problems = check_data(raw)
        assert config is None
        assert [(p.path, p.allowed.split(";")[0]) for p in problems] == [
            ("staffing", "callback times are promised from the planned staffing")
        ]


class TestSimulation:
    def test_the_mix_may_only_name_configured_languages_and_queues(self) -> None:
        def misspell(raw: Raw) -> None:
            raw["simulation"]["languages"]["de"] = 0.1
            raw["simulation"]["topics"]["helth"] = 0.5

        problems = {str(p) for p in data_problems(misspell)}
        assert problems == {
            "simulation.languages.de: 0.1 — one of languages: en, fi, sv",
            "simulation.topics.helth: 0.5 — one of queues: health, other, social",
        }

    def test_a_mix_of_only_zero_weights_is_refused(self) -> None:
        def zero(raw: Raw) -> None:
            raw["simulation"]["topics"] = {"health": 0, "social": 0}

        problem = only(data_problems(zero), "simulation.topics")
        assert problem.allowed == "at least one weight above 0"


# -- keys that moved --------------------------------------------------------------------------

PROVIDER_SECTIONS = {
    "provider.ari": (
        '\n[provider.ari]\nurl = "http://127.0.0.1:8088"\nusername = "hotline"\n'
        'trunk = "PJSIP/{number}@trunk"\n'
    ),
    "provider.twilio": (
        '\n[provider.twilio]\npublic_url = "https://hotline.example.fi"\n'
        'voices = { fi = { voice = "Polly.Suvi", language = "fi-FI" } }\n'
    ),
}
WHISPER_MOVED = (
    "moved to the prompt `whisper` in [languages.fi.prompts] (the line's default language, "
    "which the advisor hears), where {topic}, {language} and {minutes} work as before"
)
MOVED = [
    ("provider.ari", "connect_queued", "false", False, "[connect] queued", "queued = false"),
    (
        "provider.ari",
        "advisor_ring_timeout",
        '"25s"',
        "25s",
        "[connect] advisor_ring_timeout",
        'advisor_ring_timeout = "25s"',
    ),
    (
        "provider.ari",
        "resident_ring_timeout",
        '"40s"',
        "40s",
        "[connect] resident_ring_timeout",
        'resident_ring_timeout = "40s"',
    ),
    (
        "provider.ari",
        "machine_detection",
        "false",
        False,
        "[connect] machine_detection",
        "machine_detection = false",
    ),
    ("provider.twilio", "connect_queued", "false", False, "[connect] queued", "queued = false"),
    (
        "provider.twilio",
        "connect_interval",
        '"5s"',
        "5s",
        "[connect] interval",
        'interval = "5s"',
    ),
    (
        "provider.twilio",
        "resident_ring_timeout",
        '"40s"',
        "40s",
        "[connect] resident_ring_timeout",
        'resident_ring_timeout = "40s"',
    ),
    (
        "provider.twilio",
        "machine_detection",
        "true",
        True,
        "[connect] machine_detection",
        "machine_detection = true",
    ),
]


def with_old_key(tmp_path: Path, section: str, key: str, written: str) -> Path:
    """The example file with *key* = *written* where earlier releases read it."""
    if section == "dispatch":
        text = edited(('purge_at = "02:00"', f'{key} = {written}\npurge_at = "02:00"'))
    else:
        text = EXAMPLE_TEXT + PROVIDER_SECTIONS[section] + f"{key} = {written}\n"
    path = tmp_path / "old.toml"
    path.write_text(text, encoding="utf-8")
    return path


class TestMovedKeys:
    """A key an earlier release read elsewhere exits 2 naming its new place, never the
    "unknown key" a typo gets, and nothing else in the file is reported for it."""

    @pytest.mark.parametrize(
        ("section", "key", "written", "value", "place", "fix"),
        [
            *MOVED,
            (
                "dispatch",
                "advisor_ring_timeout",
                '"25s"',
                "25s",
                "[connect] advisor_ring_timeout",
                'advisor_ring_timeout = "25s"',
            ),
        ],
    )
    def test_a_moved_key_names_its_new_place(
        self,
        tmp_path: Path,
        section: str,
        key: str,
        written: str,
        value: object,
        place: str,
        fix: str,
    ) -> None:
        path = with_old_key(tmp_path, section, key, written)
        result = run_check(str(path))
        assert result.exit_code == 2, result.output
        assert f"error: configuration {path} has 1 problem(s):" in result.stderr
        expected = f"{section}.{key}: {value!r} — moved to {place}: write {fix} under [connect]"
        assert expected in result.stderr

    @pytest.mark.parametrize("section", ["provider.ari", "provider.twilio"])
    def test_the_whisper_moved_into_the_prompts(self, tmp_path: Path, section: str) -> None:
        text = '"Aihe {topic}, kieli {language}, {minutes} min."'
        result = run_check(str(with_old_key(tmp_path, section, "whisper", text)))
        assert result.exit_code == 2, result.output
        assert "has 1 problem(s):" in result.stderr
        assert (
            f"{section}.whisper: 'Aihe {{topic}}, kieli {{language}}, {{minutes}} min.' — "
            f"{WHISPER_MOVED}"
        ) in result.stderr

    def test_the_whisper_prompt_takes_its_three_placeholders(self) -> None:
        text = edited(("kieli {language}. Soittaja", "kieli {language}, {caller}. Soittaja"))
        problem = only(text_problems(text), "languages.fi.prompts.whisper")
        assert problem.allowed == (
            "unknown placeholder {caller}; allowed: {language}, {minutes}, {topic}"
        )

    def test_a_moved_key_hides_no_other_problem(self) -> None:
        text = edited(
            ('purge_at = "02:00"', 'advisor_ring_timeout = "25s"\npurge_at = "02:00"'),
            ("max_attempts = 3", "max_atempts = 3"),
        )
        assert paths(text_problems(text)) == ["dispatch.advisor_ring_timeout", "menu.max_atempts"]

    def test_the_file_as_given_is_left_as_it_was(self) -> None:
        """Checking takes the moved keys out of a copy: a caller's parsed file is theirs."""
        raw = tomllib.loads(EXAMPLE_TEXT + PROVIDER_SECTIONS["provider.ari"] + "whisper = 'x'\n")
        check_data(raw)
        assert raw["provider"]["ari"]["whisper"] == "x"


class TestConnect:
    def test_the_section_is_read(self) -> None:
        text = edited(("queued = true ", "queued = false "), ('interval = "2s"', 'interval = "5s"'))
        config, problems = check_text(text)
        assert problems == [] and config is not None
        assert (config.connect.queued, config.connect.interval) == (False, timedelta(seconds=5))

    def test_a_line_without_it_connects_as_before(self) -> None:
        raw = tomllib.loads(EXAMPLE_TEXT)
        del raw["connect"]
        config, problems = check_data(raw)
        assert problems == [] and config is not None
        assert config.connect.queued and config.connect.machine_detection
        assert config.connect.advisor_ring_timeout == timedelta(seconds=20)

    def test_an_unknown_key_lists_the_sections_keys(self) -> None:
        problem = only(
            text_problems(edited(('interval = "2s"', 'intervall = "2s"'))), "connect.intervall"
        )
        assert problem.allowed == (
            "unknown key; allowed: advisor_ring_timeout, interval, machine_detection, queued, "
            "resident_ring_timeout"
        )


class TestWebRequestsAndSurvey:
    def test_a_web_request_queue_must_take_callbacks(self) -> None:
        """A queue that takes no callbacks cannot take web requests: they are callbacks."""

        def disable(raw: Raw) -> None:
            raw["queues"]["other"]["callbacks"]["enabled"] = False
            raw["web_requests"]["queues"] = ["health", "other"]

        problem = only(data_problems(disable), "web_requests.queues.other")
        assert problem.allowed == "queues.other takes no callbacks (callbacks.enabled)"

    def test_an_unknown_web_request_queue_names_the_queues(self) -> None:
        problem = only(
            data_problems(lambda raw: raw["web_requests"].update(queues=["dental"])),
            "web_requests.queues.dental",
        )
        assert problem.allowed == "one of queues: health, other, social"

    def test_the_consent_is_asked_in_every_language(self) -> None:
        """A resident who reads Swedish must read what they agree to in Swedish."""
        problem = only(
            data_problems(lambda raw: raw["web_requests"]["consent"].pop("sv")),
            "web_requests.consent.sv",
        )
        assert problem.allowed == "the page asks consent in every language of the line"

    def test_the_survey_prompts_are_needed_only_when_the_survey_is_on(self) -> None:
        def without_question(raw: Raw) -> None:
            del raw["languages"]["en"]["prompts"]["survey_question"]

        def on_without_question(raw: Raw) -> None:
            without_question(raw)
            raw["survey"]["enabled"] = True

        config, problems = check_data(_changed(without_question))
        assert config is not None and problems == []
        problem = only(data_problems(on_without_question), "languages.en.prompts.survey_question")
        assert problem.allowed == "every language needs this prompt"


def _changed(change: Callable[[Raw], object]) -> Raw:
    raw = tomllib.loads(EXAMPLE_TEXT)
    change(raw)
    return raw
