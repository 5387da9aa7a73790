"""Who calls the simulated line, and when: the seeds' county, drawn from one seed.

Counts drawn from a Poisson process vary, so every comparison of drawn counts
is made over many days, with a margin of several standard deviations; with a
fixed seed the draws are the same on every run, so nothing here is flaky, and
the margins say how far the model may drift before a test notices.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.providers.sim.workload import CLOSED_SHARE, Caller, Workload

SEED = 20260112
DRAWS = 20_000
"""Callers drawn to check a mix: a share p is then known to within σ = √(p(1-p)/n) ≤ 0.0035."""
SIGMAS = 4
"""Margin, in standard deviations, for a drawn share or mean: a fair draw falls outside it
about once in 16,000, and a model off by a couple of points fails."""


@pytest.fixture(scope="module")
def calendar(config: HotlineConfig) -> Calendar:
    return Calendar.from_config(config)


def workload(config: HotlineConfig, calendar: Calendar, seed: int = SEED) -> Workload:
    return Workload(config, calendar, random.Random(seed))


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def working_days(calendar: Calendar, first: date, last: date) -> list[date]:
    return [d for d in days(first, last) if calendar.day(d).is_working_day]


def callers(config: HotlineConfig, calendar: Calendar, n: int = DRAWS) -> list[Caller]:
    """*n* callers' habits, drawn the way a day's arrivals draw them."""
    source = workload(config, calendar)
    at = calendar.at_minute(date(2026, 10, 7), 10 * 60)
    return [source.caller(at) for _ in range(n)]


@pytest.fixture(scope="module")
def drawn(config: HotlineConfig, calendar: Calendar) -> list[Caller]:
    """One large draw of callers shared by the mix tests."""
    return callers(config, calendar)


def assert_share(observed: int, n: int, expected: float) -> None:
    sigma = math.sqrt(expected * (1 - expected) / n)
    assert observed / n == pytest.approx(expected, abs=SIGMAS * sigma)


class TestSeed:
    def test_the_same_seed_draws_the_same_day(
        self, config: HotlineConfig, calendar: Calendar
    ) -> None:
        day = date(2026, 1, 12)
        assert workload(config, calendar, 7).day(day) == workload(config, calendar, 7).day(day)

    def test_another_seed_draws_another_day(
        self, config: HotlineConfig, calendar: Calendar
    ) -> None:
        day = date(2026, 1, 12)
        one, other = workload(config, calendar, 7).day(day), workload(config, calendar, 8).day(day)
        assert [c.arrives_at for c in one] != [c.arrives_at for c in other]


class TestVolume:
    def test_calls_per_day_is_the_ordinary_weekday_average(
        self, config: HotlineConfig, calendar: Calendar
    ) -> None:
        """``calls_per_day = 60`` is what a working week averages outside the peak (a week
        of October, no holidays); Monday takes more, Friday less."""
        source = workload(config, calendar)
        week = list(days(date(2026, 10, 5), date(2026, 10, 9)))
        expected = [source.expected_calls(d) for d in week]
        assert sum(expected) / len(expected) == pytest.approx(config.simulation.calls_per_day)
        assert expected[0] == max(expected) and expected[-1] == min(expected)

    def test_an_ordinary_weekday_takes_50_to_70_calls(
        self, config: HotlineConfig, calendar: Calendar
    ) -> None:
        """The seeds' county: 50–70 calls on a Tuesday, Wednesday or Thursday outside the
        January–February peak and the summer (Mar–May, Sep–Dec), expected and drawn."""
        source = workload(config, calendar)
        ordinary = [
            d
            for d in working_days(calendar, date(2026, 3, 1), date(2026, 12, 31))
            if d.month not in (6, 7, 8) and d.weekday() in (1, 2, 3)
        ]
        expected = [source.expected_calls(d) for d in ordinary]
        assert min(expected) >= 50 and max(expected) <= 70
        counts = [len(source.day(d)) for d in ordinary]
        mean = sum(counts) / len(counts)
        assert 50 <= mean <= 70
        assert mean == pytest.approx(
            sum(expected) / len(expected), abs=SIGMAS * math.sqrt(max(expected) / len(counts))
        )

    def test_a_calls_per_day_given_replaces_the_configured_one(
        self, config: HotlineConfig, calendar: Calendar
    ) -> None:
        day = date(2026, 10, 7)
        default = workload(config, calendar).expected_calls(day)
        doubled = Workload(config, calendar, random.Random(SEED), calls_per_day=120)
        assert doubled.expected_calls(day) == pytest.approx(2 * default)

    def test_monday_is_busier_than_friday(self, config: HotlineConfig, calendar: Calendar) -> None:
        """Expected on every week, and drawn over eight weeks of autumn."""
        source = workload(config, calendar)
        mondays = [date(2026, 9, 7) + timedelta(weeks=w) for w in range(8)]
        fridays = [monday + timedelta(days=4) for monday in mondays]
        for monday, friday in zip(mondays, fridays, strict=True):
            assert source.expected_calls(monday) > source.expected_calls(friday)
        monday_calls = sum(len(source.day(d)) for d in mondays)
        friday_calls = sum(len(source.day(d)) for d in fridays)
        # Poisson totals near 620 and 380: σ of their difference ≈ 32, the gap ≈ 240.
        assert monday_calls > friday_calls + SIGMAS * math.sqrt(monday_calls + friday_calls)

    def test_january_is_busier_than_june(self, config: HotlineConfig, calendar: Calendar) -> None:
        """The winter peak: more calls per working day in January than in June."""
        source = workload(config, calendar)
        assert source.expected_calls(date(2026, 1, 14)) > source.expected_calls(date(2026, 6, 10))
        january = working_days(calendar, date(2026, 1, 1), date(2026, 1, 31))
        june = working_days(calendar, date(2026, 6, 1), date(2026, 6, 30))
        per_day = {}
        for name, month in (("january", january), ("june", june)):
            per_day[name] = sum(len(source.day(d)) for d in month) / len(month)
        # Means over ~20 days of ~75 and ~51 calls: σ of each under 2.
        assert per_day["january"] > per_day["june"] + 10


class TestWhen:
    def test_callers_come_within_two_hours_of_opening_hours(
        self, config: HotlineConfig, calendar: Calendar
    ) -> None:
        source = workload(config, calendar)
        for day in working_days(calendar, date(2026, 9, 1), date(2026, 9, 30)):
            spans = calendar.day(day).spans
            earliest = spans[0].start - timedelta(hours=2)
            latest = spans[-1].end + timedelta(hours=2)
            arrivals = [c.arrives_at for c in source.day(day)]
            assert arrivals == sorted(arrivals)
            assert all(earliest <= at < latest for at in arrivals), day

    def test_a_small_share_calls_while_the_line_is_closed(
        self, config: HotlineConfig, calendar: Calendar
    ) -> None:
        """About 5 % ring before opening or after closing (and hear the closed message)."""
        source = workload(config, calendar)
        arrivals = [
            c.arrives_at
            for day in working_days(calendar, date(2026, 9, 1), date(2026, 11, 30))
            for c in source.day(day)
        ]
        closed = sum(1 for at in arrivals if not calendar.is_open(at))
        assert_share(closed, len(arrivals), CLOSED_SHARE)

    def test_mornings_are_busiest(self, config: HotlineConfig, calendar: Calendar) -> None:
        """More callers in the first open hour than in the last."""
        source = workload(config, calendar)
        hours: Counter[int] = Counter()
        for day in working_days(calendar, date(2026, 9, 1), date(2026, 9, 30)):
            hours.update(calendar.local(c.arrives_at).hour for c in source.day(day))
        assert hours[9] > hours[14] + SIGMAS * math.sqrt(hours[9] + hours[14])

    @pytest.mark.parametrize(
        "day",
        [
            pytest.param(date(2026, 12, 24), id="closure-christmas-eve"),
            pytest.param(date(2026, 12, 25), id="holiday-christmas"),
            pytest.param(date(2026, 1, 6), id="holiday-epiphany"),
            pytest.param(date(2026, 1, 17), id="saturday"),
        ],
    )
    def test_nobody_calls_on_a_closed_day(
        self, config: HotlineConfig, calendar: Calendar, day: date
    ) -> None:
        source = workload(config, calendar)
        assert source.expected_calls(day) == 0
        assert source.day(day) == []

    def test_a_short_day_keeps_its_callers_near_its_hours(
        self, config: HotlineConfig, calendar: Calendar
    ) -> None:
        """New Year's Eve is open 09–12: callers come between 07 and 14, nearly all while
        the line is open."""
        source = workload(config, calendar)
        arrivals = [c.arrives_at for c in source.day(date(2026, 12, 31))]
        assert arrivals
        local = [calendar.local(at).time() for at in arrivals]
        assert all(time(7) <= t < time(14) for t in local)
        open_share = sum(1 for at in arrivals if calendar.is_open(at)) / len(arrivals)
        assert open_share > 0.8


class TestMix:
    def test_languages_follow_the_configured_mix(
        self, config: HotlineConfig, drawn: list[Caller]
    ) -> None:
        counts = Counter(c.language for c in drawn)
        weights = config.simulation.languages
        assert set(counts) == set(weights)
        for language, weight in weights.items():
            assert_share(counts[language], len(drawn), weight / sum(weights.values()))

    def test_topics_follow_the_configured_mix(
        self, config: HotlineConfig, drawn: list[Caller]
    ) -> None:
        counts = Counter(c.topic for c in drawn)
        weights = config.simulation.topics
        assert set(counts) == set(weights)
        for topic, weight in weights.items():
            assert_share(counts[topic], len(drawn), weight / sum(weights.values()))

    def test_some_numbers_are_withheld(self, config: HotlineConfig, drawn: list[Caller]) -> None:
        """About the configured 4 %; everyone else calls from a distinct Finnish mobile."""
        withheld = sum(1 for c in drawn if c.withheld)
        assert_share(withheld, len(drawn), config.simulation.withheld_share)
        workload = Workload(config, Calendar.from_config(config), random.Random(3))
        numbers = [workload.number_of(c) for c in drawn if not c.withheld]
        assert len(set(numbers)) == len(numbers), "nobody has a callback yet: all new callers"
        assert all(n is not None and n.startswith("+35840") and len(n) == 13 for n in numbers)

    def test_callers_take_a_callback_as_configured(
        self, config: HotlineConfig, drawn: list[Caller]
    ) -> None:
        takers = sum(1 for c in drawn if c.takes_callback)
        assert_share(takers, len(drawn), config.simulation.callback_accept_share)

    def test_patience_has_the_configured_mean(
        self, config: HotlineConfig, drawn: list[Caller]
    ) -> None:
        """Exponential patience: its standard deviation equals its mean."""
        mean = config.simulation.mean_patience.total_seconds()
        observed = sum(c.patience.total_seconds() for c in drawn) / len(drawn)
        assert observed == pytest.approx(mean, abs=SIGMAS * mean / math.sqrt(len(drawn)))

    def test_an_empty_mix_spreads_evenly_in_the_default_language(
        self, config: HotlineConfig, calendar: Calendar
    ) -> None:
        plain = config.model_copy(
            update={
                "simulation": config.simulation.model_copy(update={"languages": {}, "topics": {}})
            }
        )
        plain_callers = callers(plain, calendar, 6000)
        assert {c.language for c in plain_callers} == {config.line.default_language}
        counts = Counter(c.topic for c in plain_callers)
        for topic in config.queues:
            assert_share(counts[topic], len(plain_callers), 1 / len(config.queues))


def test_stationary_arrivals_have_the_asked_rate(config: HotlineConfig, calendar: Calendar) -> None:
    """The constant-rate stream queueing theory assumes: 60 an hour over 200 hours."""
    start = datetime.fromisoformat("2026-10-05T00:00:00+00:00")
    arrivals = list(workload(config, calendar).stationary(start, 200, 60))
    assert arrivals == sorted(arrivals)
    assert all(start <= at < start + timedelta(hours=200) for at in arrivals)
    assert len(arrivals) == pytest.approx(12_000, abs=SIGMAS * math.sqrt(12_000))
