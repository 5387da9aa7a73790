"""The simulated advisors: how many of each skill, how long they talk, what they record.

Drawn figures are compared with a margin of several standard deviations of
the draw (see ``SIGMAS``); the seed is fixed, so the tests never flake.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import ReasonCategory, Referral, Resolution
from callflow.errors import ConfigError
from callflow.providers.sim.staff import HANDLE_SPREAD, AdvisorHabits, seats, with_advisors
from callflow.store.outcomes import Coding

SEED = 11
DRAWS = 20_000
SIGMAS = 4
"""A fair draw falls outside four standard deviations about once in 16,000."""

SEEDS_OTHER_REASONS = {
    # The seeds' "Muut syyt" table, in cases (n): booking 112 plus care-place changes 11;
    # cancellations at primary 23 and specialist care 14; contact details 205 plus basic-data
    # changes 6; digital support 76; billing 17 plus payment commitments 5; feedback 19;
    # other 60 plus one multi-service process.
    ReasonCategory.APPOINTMENT_BOOKING: 123,
    ReasonCategory.CANCELLATION: 37,
    ReasonCategory.CONTACT_DETAILS: 211,
    ReasonCategory.DIGITAL_SUPPORT: 76,
    ReasonCategory.BILLING: 22,
    ReasonCategory.FEEDBACK: 19,
    ReasonCategory.OTHER: 61,
}


def share_margin(p: float, n: int) -> float:
    return SIGMAS * math.sqrt(p * (1 - p) / n)


def per_skill(config: HotlineConfig) -> Counter[str]:
    return Counter(
        {
            skill: sum(b.advisors for b in config.staffing if b.skill == skill)
            for skill in config.skills
        }
    )


class TestWithAdvisors:
    @pytest.mark.parametrize("advisors", range(3, 25))
    def test_every_skill_keeps_someone_and_the_total_is_exact(
        self, config: HotlineConfig, advisors: int
    ) -> None:
        planned = with_advisors(config, advisors)
        counts = per_skill(planned)
        assert sum(counts.values()) == advisors
        assert all(counts[skill] >= 1 for skill in config.skills)
        assert len(seats(planned)) == advisors
        assert all(block.advisors > 0 for block in planned.staffing)

    def test_the_plan_as_written_is_kept(self, config: HotlineConfig) -> None:
        """Asking for the number the plan already has changes nothing."""
        planned = sum(b.advisors for b in config.staffing)
        assert with_advisors(config, planned).staffing == config.staffing

    def test_more_advisors_are_shared_in_proportion(self, config: HotlineConfig) -> None:
        """Twice the plan's four is twice each skill: the nurses keep half the seats."""
        doubled = per_skill(with_advisors(config, 8))
        assert doubled == Counter({skill: 2 * count for skill, count in per_skill(config).items()})

    def test_the_rest_of_the_plan_is_unchanged(self, config: HotlineConfig) -> None:
        """Hours, days and languages come from the plan; only head counts change."""
        planned = with_advisors(config, 12)
        shapes = {
            (b.skill, tuple(b.days), str(b.hours), tuple(b.languages)) for b in config.staffing
        }
        assert {
            (b.skill, tuple(b.days), str(b.hours), tuple(b.languages)) for b in planned.staffing
        } <= shapes
        assert planned.queues == config.queues

    @pytest.mark.parametrize("advisors", [2, 1, 0, -1])
    def test_fewer_advisors_than_skills_is_refused(
        self, config: HotlineConfig, advisors: int
    ) -> None:
        """One advisor per skill is the least a line can run on; the error says so."""
        with pytest.raises(ConfigError) as refused:
            with_advisors(config, advisors)
        (problem,) = refused.value.problems
        assert problem.path == "--advisors"
        assert problem.value == advisors
        assert "at least 3" in str(refused.value)
        assert all(skill in str(refused.value) for skill in config.skills)


class TestSeats:
    def test_every_planned_advisor_gets_a_named_seat(self, config: HotlineConfig) -> None:
        named = seats(config)
        assert [s.advisor_id for s in named] == [
            "nurse-1",
            "nurse-2",
            "social_counsellor-1",
            "service_advisor-1",
        ]
        assert named[1].languages == frozenset({"fi", "en"})

    @pytest.mark.parametrize("advisors", range(4, 16))
    def test_lunch_never_empties_a_skill(self, config: HotlineConfig, advisors: int) -> None:
        """Staggered lunches: a skill with two or more advisors always has one at work."""
        habits = AdvisorHabits(config, random.Random(SEED))
        start = datetime(2026, 1, 12, 7, tzinfo=UTC)
        end = start + timedelta(hours=6)
        lunches: dict[str, list[datetime]] = {}
        for number, seat in enumerate(seats(with_advisors(config, advisors))):
            lunch = habits.lunch_at(start, end, number)
            assert lunch is not None and start < lunch < end
            lunches.setdefault(seat.skill, []).append(lunch)
        for skill, starts in lunches.items():
            if len(starts) > 1:
                assert len(set(starts)) > 1, skill

    def test_a_short_shift_has_no_lunch(self, config: HotlineConfig) -> None:
        habits = AdvisorHabits(config, random.Random(SEED))
        start = datetime(2026, 1, 12, 7, tzinfo=UTC)
        assert habits.lunch_at(start, start + timedelta(hours=4), 0) is None


class TestHandleTimes:
    @pytest.mark.parametrize("topic", ["health", "social", "other"])
    def test_handle_times_have_the_configured_mean(self, config: HotlineConfig, topic: str) -> None:
        """Log-normal around the queue's ``default_handle_time``: most calls shorter than
        the mean, a few much longer."""
        habits = AdvisorHabits(config, random.Random(SEED))
        drawn = [habits.handle_time(topic).total_seconds() for _ in range(DRAWS)]
        mean = config.queues[topic].default_handle_time.total_seconds()
        observed = sum(drawn) / len(drawn)
        assert observed == pytest.approx(mean, abs=SIGMAS * HANDLE_SPREAD * mean / math.sqrt(DRAWS))
        assert sorted(drawn)[DRAWS // 2] < mean
        assert all(t > 0 for t in drawn)

    def test_wrap_up_takes_half_a_minute_to_a_minute_and_a_half(
        self, config: HotlineConfig
    ) -> None:
        habits = AdvisorHabits(config, random.Random(SEED))
        drawn = [habits.wrap_up() for _ in range(1000)]
        assert all(timedelta(seconds=30) <= w <= timedelta(seconds=90) for w in drawn)


@pytest.fixture(scope="module")
def codings(config: HotlineConfig) -> dict[str, list[Coding]]:
    habits = AdvisorHabits(config, random.Random(SEED))
    return {topic: [habits.coding(topic) for _ in range(DRAWS)] for topic in config.queues}


class TestCoding:
    def test_about_half_are_solved_on_first_contact(self, codings: dict[str, list[Coding]]) -> None:
        """Solved on first contact means advice given and nobody referred anywhere."""
        for topic, coded in codings.items():
            solved = [c for c in coded if c.referral is Referral.NONE]
            assert len(solved) / len(coded) == pytest.approx(0.5, abs=share_margin(0.5, DRAWS)), (
                topic
            )
            assert all(c.resolution is Resolution.NO_SERVICE_NEED for c in solved)

    def test_the_rest_are_referred_somewhere(self, codings: dict[str, list[Coding]]) -> None:
        for coded in codings.values():
            referred = [c for c in coded if c.referral is not Referral.NONE]
            assert {c.resolution for c in referred} == {
                Resolution.SIMPLE_NEED,
                Resolution.COMPLEX_CASE,
            }
            assert Counter(c.referral for c in referred).most_common(1)[0][0] is (
                Referral.OWN_SERVICES
            )

    @pytest.mark.parametrize(
        ("topic", "reason"),
        [("health", ReasonCategory.HEALTH), ("social", ReasonCategory.SOCIAL)],
    )
    def test_a_health_or_social_contact_has_that_reason(
        self, codings: dict[str, list[Coding]], topic: str, reason: ReasonCategory
    ) -> None:
        assert {c.reason for c in codings[topic]} == {reason}

    def test_other_contacts_follow_the_seeds_reason_table(
        self, codings: dict[str, list[Coding]]
    ) -> None:
        coded = codings["other"]
        counts = Counter(c.reason for c in coded)
        total = sum(SEEDS_OTHER_REASONS.values())
        assert set(counts) == set(SEEDS_OTHER_REASONS)
        for reason, cases in SEEDS_OTHER_REASONS.items():
            expected = cases / total
            assert counts[reason] / len(coded) == pytest.approx(
                expected, abs=share_margin(expected, len(coded))
            ), reason
