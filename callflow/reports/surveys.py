"""The recommendation question's figures: answers, response rate and NPS, per queue, channel
and week.

Read straight from the ``surveys`` table (a row per question asked, with its score once
answered), one grouped statement per report: the rows of a period are few beside its
events, and the table is indexed by ``asked_at``. A survey belongs to the period by the
local date it was *asked* (a callback dialled on Wednesday for Monday's request counts
on Wednesday). Local dates become UTC instants here, in Python, so the statement only
compares stored instants and both databases count alike; the database counts, and Python
only divides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, case, func, literal, select

from callflow.engine.vocabulary import Channel
from callflow.reports.timeline import local_midnight
from callflow.store.models import Survey

PROMOTER_FROM = 9
"""Scores 9 and 10 are promoters."""
DETRACTOR_UP_TO = 6
"""Scores 0 to 6 are detractors; 7 and 8 are passives, counted in the answers only."""


@dataclass(frozen=True)
class Week:
    """A local ISO week (Monday to Sunday) of the period, cut to the period's ends."""

    label: str  # "2026-W03"
    first: date
    last: date


def weeks_of(start: date, end: date) -> list[Week]:
    """The weeks *start*..*end* touches, in order."""
    weeks = []
    first = start
    while first <= end:
        last = min(first + timedelta(days=6 - first.weekday()), end)
        year, number, _ = first.isocalendar()
        weeks.append(Week(f"{year}-W{number:02d}", first, last))
        first = last + timedelta(days=1)
    return weeks


@dataclass(frozen=True)
class Tally:
    """Questions asked, answered, and the answers that were promoters and detractors."""

    asked: int = 0
    answered: int = 0
    promoters: int = 0
    detractors: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.asked + other.asked,
            self.answered + other.answered,
            self.promoters + other.promoters,
            self.detractors + other.detractors,
        )

    def measures(self, min_responses: int) -> dict[str, Any]:
        """The report's four survey keys for this group."""
        return {
            "surveys_asked": self.asked,
            "survey_responses": self.answered,
            "survey_response_rate": self.answered / self.asked if self.asked else None,
            "nps": net_promoter_score(
                self.promoters, self.detractors, self.answered, min_responses
            ),
        }


def net_promoter_score(
    promoters: int, detractors: int, responses: int, min_responses: int
) -> float | None:
    """The share of promoters minus the share of detractors, in points (−100…100), to one
    decimal with halves rounded away from zero, from exact integers (both databases alike);
    None for fewer than *min_responses* answers, which say nothing about the service."""
    if responses == 0 or responses < min_responses:
        return None
    exact = Decimal(100 * (promoters - detractors)) / Decimal(responses)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class SurveyFigures:
    """The period's surveys counted per (week index, queue, channel)."""

    weeks: list[Week]
    groups: Mapping[tuple[int, str | None, Channel], Tally]

    @classmethod
    def read(
        cls,
        connection: Connection,
        timezone: str,
        start: date,
        end: date,
        queue: str | None,
    ) -> SurveyFigures:
        weeks = weeks_of(start, end)
        groups = {
            (int(row.week), row.topic, Channel(row.channel)): Tally(
                int(row.asked), int(row.answered), int(row.promoters), int(row.detractors)
            )
            for row in connection.execute(_counted(ZoneInfo(timezone), weeks, end, queue))
        }
        return cls(weeks, groups)

    def total(self) -> Tally:
        return _sum(self.groups.values())

    def by_queue(self) -> dict[str | None, Tally]:
        return self._by(lambda week, topic, channel: topic)

    def by_channel(self) -> dict[Channel, Tally]:
        return self._by(lambda week, topic, channel: channel)

    def by_week(self) -> dict[Week, Tally]:
        """Every week of the period, those without a question asked too."""
        found = self._by(lambda week, topic, channel: week)
        return {week: found.get(index, Tally()) for index, week in enumerate(self.weeks)}

    def _by(self, key: Any) -> dict[Any, Tally]:
        sums: dict[Any, Tally] = {}
        for group, tally in self.groups.items():
            name = key(*group)
            sums[name] = sums.get(name, Tally()) + tally
        return sums


def _sum(tallies: Iterable[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total += tally
    return total


def _counted(tz: ZoneInfo, weeks: list[Week], end: date, queue: str | None) -> Select[Any]:
    """(week, topic, channel, asked, answered, promoters, detractors) for the period's
    surveys; the week is the index of the first week boundary the question came before."""
    starts = [local_midnight(tz, week.first) for week in weeks]
    period_end = local_midnight(tz, end + timedelta(days=1))
    conditions = [Survey.asked_at >= starts[0], Survey.asked_at < period_end]
    if queue is not None:
        conditions.append(Survey.topic == queue)
    week: Any = literal(0)
    if len(starts) > 1:
        week = case(
            *((Survey.asked_at < boundary, index) for index, boundary in enumerate(starts[1:])),
            else_=len(starts) - 1,
        )
    # Grouped outside: PostgreSQL would see the CASE's bound instants in the GROUP BY as
    # other parameters, so as another expression.
    asked = (
        select(week.label("week"), Survey.topic, Survey.channel, Survey.score)
        .where(*conditions)
        .subquery("asked")
    )
    score = asked.c.score

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    return select(
        asked.c.week,
        asked.c.topic,
        asked.c.channel,
        func.count().label("asked"),
        count(score.is_not(None)).label("answered"),
        count(score >= PROMOTER_FROM).label("promoters"),
        count(score <= DETRACTOR_UP_TO).label("detractors"),
    ).group_by(asked.c.week, asked.c.topic, asked.c.channel)
