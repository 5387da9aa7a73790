"""The callback time a caller is told: worked out once for callers who ask with the same
inputs, anew when any input (backlog, staffing, load, the instant) or the rules change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.expectations import REMEMBERED_EXPECTATIONS, CallbackExpectations
from callflow.engine.forecast import CapacitySpan, QueueSnapshot
from callflow.engine.turn import FlowContext

HELSINKI = ZoneInfo("Europe/Helsinki")


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=HELSINKI).astimezone(UTC)


MONDAY_10 = local(2026, 1, 12, 10)
WAITING = QueueSnapshot(
    position=3,
    free=0,
    staffed=2,
    mean_handle=timedelta(minutes=6),
    live_load=0.1,
    callbacks_ahead=7,
)
"""An hour of work ahead (ten handle times) at 1.9 advisors' pace: a callback by 11.00."""


class CountedRota:
    """*advisors* planned in every open hour, and a count of the walks over them."""

    def __init__(self, calendar: Calendar, advisors: int = 2) -> None:
        self.calendar = calendar
        self.advisors = advisors
        self.walks = 0

    def spans(self, skill: str, language: str, start: datetime) -> Iterator[CapacitySpan]:
        self.walks += 1
        for span in self.calendar.spans_from(start):
            yield CapacitySpan(span.start, span.end, self.advisors)


@pytest.fixture
def rota(config: HotlineConfig) -> CountedRota:
    return CountedRota(Calendar.from_config(config))


@pytest.fixture
def expectations(config: HotlineConfig, rota: CountedRota) -> CallbackExpectations:
    return FlowContext(config, rota.calendar, rota).expectations


def test_callers_with_the_same_inputs_share_one_answer(
    expectations: CallbackExpectations, rota: CountedRota
) -> None:
    """The second caller asking at the same instant, with the queue the same to them, is
    told what the first was, without the rota being walked again."""
    first = expectations.at("health", "fi", MONDAY_10, WAITING)
    again = expectations.at("health", "fi", MONDAY_10, replace(WAITING))
    assert again == first
    assert first == (local(2026, 1, 12, 11), local(2026, 1, 12, 15))
    assert rota.walks == 1


def test_a_longer_backlog_gives_a_later_time(
    expectations: CallbackExpectations, rota: CountedRota
) -> None:
    assert expectations.at("health", "fi", MONDAY_10, WAITING)[0] == local(2026, 1, 12, 11)
    longer = replace(WAITING, callbacks_ahead=30)
    assert expectations.at("health", "fi", MONDAY_10, longer)[0] == local(2026, 1, 12, 12)
    assert rota.walks == 2


@pytest.mark.parametrize(
    "changed",
    [
        replace(WAITING, staffed=1),  # an advisor signed out
        replace(WAITING, free=1),  # one became free
        replace(WAITING, live_load=1.5),  # more live calls
        replace(WAITING, mean_handle=timedelta(minutes=12)),  # longer calls
        replace(WAITING, position=13),  # further back in the queue
    ],
)
def test_any_change_of_the_queue_is_worked_out_anew(
    config: HotlineConfig,
    expectations: CallbackExpectations,
    rota: CountedRota,
    changed: QueueSnapshot,
) -> None:
    """Whatever changed, the answer is the one worked out from nothing."""
    before = expectations.at("health", "fi", MONDAY_10, WAITING)
    after = expectations.at("health", "fi", MONDAY_10, changed)
    fresh = CountedRota(rota.calendar)
    assert after == FlowContext(config, fresh.calendar, fresh).expectations.at(
        "health", "fi", MONDAY_10, changed
    )
    assert after != before
    assert rota.walks == 2


def test_a_later_instant_is_worked_out_again(
    expectations: CallbackExpectations, rota: CountedRota
) -> None:
    """Past 14:30 a request is due by eleven the next morning, and the hour of work runs
    into it."""
    assert expectations.at("health", "fi", MONDAY_10, WAITING)[0] == local(2026, 1, 12, 11)
    late = expectations.at("health", "fi", local(2026, 1, 12, 14, 40), WAITING)
    assert late == (local(2026, 1, 13, 9, 30), local(2026, 1, 13, 11))
    assert rota.walks == 2


def test_each_queue_and_language_has_its_own_answer(
    expectations: CallbackExpectations, rota: CountedRota
) -> None:
    """The health queue promises the same day; the social queue the next working day."""
    health = expectations.at("health", "fi", MONDAY_10, WAITING)
    social = expectations.at("social", "fi", MONDAY_10, WAITING)
    expectations.at("health", "sv", MONDAY_10, WAITING)
    assert health[1] == local(2026, 1, 12, 15)
    assert social[1] == local(2026, 1, 13, 15)
    assert rota.walks == 3


def test_new_rules_give_new_answers(config: HotlineConfig, rota: CountedRota) -> None:
    """Rules in force come with a new context, whose answers are its own: the rota planned
    for them, not the one the old answer was worked out from."""
    old = FlowContext(config, rota.calendar, rota)
    assert old.expectations.at("health", "fi", MONDAY_10, WAITING)[0] == local(2026, 1, 12, 11)
    thinner = CountedRota(rota.calendar, advisors=1)
    new = FlowContext(config, rota.calendar, thinner, old.version + 1)
    said = new.expectations.at("health", "fi", MONDAY_10, WAITING)[0]
    assert said == local(2026, 1, 12, 11, 30)
    assert thinner.walks == 1


def test_answers_kept_are_bounded(expectations: CallbackExpectations, rota: CountedRota) -> None:
    """Callers ask at ever new instants: once the bound is reached the oldest answers are
    let go (asked again, they are worked out again) rather than kept for ever."""
    instants = [MONDAY_10 + timedelta(seconds=s) for s in range(REMEMBERED_EXPECTATIONS + 1)]
    for at in instants:
        expectations.at("health", "fi", at, WAITING)
    expectations.at("health", "fi", instants[-1], WAITING)
    assert rota.walks == len(instants)
    expectations.at("health", "fi", instants[0], WAITING)
    assert rota.walks == len(instants) + 1
