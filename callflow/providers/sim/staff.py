"""The simulated advisors: who works when, how long a conversation takes, what they record.

Handle times are log-normal around each queue's configured mean (most
calls short, a few long), wrap-up is the minute or so an advisor needs to
write the contact down, and everyone on a long shift takes one lunch break,
staggered so the line is never left empty by it. The outcome coding follows
the seeds: the reason mix of the "other" queue as the county recorded it,
and about half of the questions solved on first contact.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from callflow.config.models import HotlineConfig, StaffingBlock
from callflow.engine.vocabulary import ReasonCategory, Referral, Resolution
from callflow.errors import ConfigError, Problem
from callflow.providers.sim.draws import weighted_choice
from callflow.store.outcomes import Coding

HANDLE_SPREAD = 0.5
"""Coefficient of variation of handle times."""
WRAP_UP = (timedelta(seconds=30), timedelta(seconds=90))
LUNCH = timedelta(minutes=30)
LUNCH_FROM_SHIFT_LENGTH = timedelta(hours=5)

OTHER_REASONS = (
    (ReasonCategory.APPOINTMENT_BOOKING, 25.8),
    (ReasonCategory.CANCELLATION, 7.7),
    (ReasonCategory.CONTACT_DETAILS, 44.4),
    (ReasonCategory.DIGITAL_SUPPORT, 16.0),
    (ReasonCategory.BILLING, 4.7),
    (ReasonCategory.FEEDBACK, 4.0),
    (ReasonCategory.OTHER, 12.8),
)
"""The seeds' "other reasons" table (bookings with care-place changes, cancellations of
both kinds, contact details with basic-data changes, billing with payment commitments)."""
REFERRALS = (
    (Referral.OWN_SERVICES, 60),
    (Referral.THIRD_SECTOR, 10),
    (Referral.PRIVATE, 8),
    (Referral.OTHER_COUNTY, 6),
    (Referral.OCCUPATIONAL_HEALTH, 10),
    (Referral.OTHER, 6),
)
"""Where the half not solved on first contact is sent; the seeds name the places, not
the shares, so these are an assumption (mostly the county's own services)."""
RESOLUTIONS = ((Resolution.SIMPLE_NEED, 70), (Resolution.COMPLEX_CASE, 30))
SOLVED_ON_FIRST_CONTACT = 0.5

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Seat:
    """One advisor in the plan: a skill, languages, and the block whose hours they work."""

    advisor_id: str
    skill: str
    languages: frozenset[str]
    block: StaffingBlock


def seats(config: HotlineConfig) -> list[Seat]:
    """Every advisor the staffing plan asks for, named by skill and number."""
    numbered: dict[str, int] = {}
    planned = []
    for block in config.staffing:
        for _ in range(block.advisors):
            numbered[block.skill] = numbered.get(block.skill, 0) + 1
            planned.append(
                Seat(
                    f"{block.skill}-{numbered[block.skill]}",
                    block.skill,
                    frozenset(block.languages),
                    block,
                )
            )
    return planned


def with_advisors(config: HotlineConfig, advisors: int) -> HotlineConfig:
    """The same plan with *advisors* people in it: every skill keeps at least one, the rest
    are shared out in proportion to the plan. Forecasts and the simulated line both use
    the result, so "one advisor more" changes what callers are told as well."""
    skills = sorted(
        {b.skill for b in config.staffing}, key=[b.skill for b in config.staffing].index
    )
    if advisors < len(skills):
        raise ConfigError(
            "--advisors",
            [
                Problem(
                    "--advisors",
                    advisors,
                    f"at least {len(skills)}: one per skill ({', '.join(skills)})",
                )
            ],
        )
    planned = {s: sum(b.advisors for b in config.staffing if b.skill == s) for s in skills}
    per_skill = _shares(planned, advisors, minimum=1)
    blocks = []
    for skill in skills:
        own = [b for b in config.staffing if b.skill == skill]
        per_block = _shares({i: b.advisors for i, b in enumerate(own)}, per_skill[skill], minimum=0)
        kept = [(b, per_block[i]) for i, b in enumerate(own) if per_block[i]]
        # Fewer people, the same languages: what only the dropped blocks spoke goes to the
        # first block kept.
        spoken = {code for b, _ in kept for code in b.languages}
        unspoken = [c for b in own for c in b.languages if c not in spoken]
        (first, count), rest = kept[0], kept[1:]
        languages = list(dict.fromkeys([*first.languages, *unspoken]))
        blocks.append(first.model_copy(update={"advisors": count, "languages": languages}))
        blocks += [b.model_copy(update={"advisors": n}) for b, n in rest]
    return config.model_copy(update={"staffing": blocks})


def _shares(weights: dict[K, int], total: int, *, minimum: int) -> dict[K, int]:
    """*total* split in proportion to *weights* (largest remainders), each at least *minimum*."""
    given = {k: minimum for k in weights}
    left = total - minimum * len(weights)
    whole = sum(weights.values())
    exact = {k: left * w / whole for k, w in weights.items()}
    for k, value in exact.items():
        given[k] += math.floor(value)
    remainder = total - sum(given.values())
    for k in sorted(weights, key=lambda k: exact[k] - math.floor(exact[k]), reverse=True)[
        :remainder
    ]:
        given[k] += 1
    return given


class AdvisorHabits:
    """Draws handle times, wrap-ups, lunch times and codings from one seeded generator."""

    def __init__(self, config: HotlineConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng

    def handle_time(self, topic: str) -> timedelta:
        mean = self.config.queues[topic].default_handle_time.total_seconds()
        sigma = math.sqrt(math.log(1 + HANDLE_SPREAD**2))
        mu = math.log(mean) - sigma**2 / 2
        return timedelta(seconds=self.rng.lognormvariate(mu, sigma))

    def wrap_up(self) -> timedelta:
        low, high = WRAP_UP
        return low + (high - low) * self.rng.random()

    def lunch_at(self, shift_start: datetime, shift_end: datetime, seat: int) -> datetime | None:
        """A lunch break in the middle of a long shift, staggered by seat."""
        if shift_end - shift_start < LUNCH_FROM_SHIFT_LENGTH:
            return None
        middle = shift_start + (shift_end - shift_start) / 2
        return middle - LUNCH + (seat % 3) * LUNCH

    def coding(self, topic: str) -> Coding:
        rng = self.rng
        # A health or social queue's contacts are of that reason; any other queue's are
        # spread like the seeds' "other".
        known = {r.value: r for r in (ReasonCategory.HEALTH, ReasonCategory.SOCIAL)}
        reason = known.get(topic) or weighted_choice(rng, OTHER_REASONS)
        if rng.random() < SOLVED_ON_FIRST_CONTACT:
            return Coding(reason, Referral.NONE, Resolution.NO_SERVICE_NEED)
        return Coding(reason, weighted_choice(rng, REFERRALS), weighted_choice(rng, RESOLUTIONS))
