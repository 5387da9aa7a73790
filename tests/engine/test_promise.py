"""Due times of the service promise: same working day (health) and next working day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callflow.config.models import HotlineConfig, PromiseConfig
from callflow.engine.calendar import Calendar
from callflow.engine.promise import DeadlineClass, deadline_class, due_at

HELSINKI = ZoneInfo("Europe/Helsinki")
SAME_DAY = PromiseConfig(
    kind="same_day", cutoff_before_close=timedelta(minutes=30), late_margin=timedelta(hours=2)
)
NEXT_DAY = PromiseConfig(kind="next_working_day")


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=HELSINKI).astimezone(UTC)


@pytest.fixture(scope="module")
def calendar(config: HotlineConfig) -> Calendar:
    return Calendar.from_config(config)


@pytest.mark.parametrize(
    ("requested", "due", "why"),
    [
        (local(2026, 1, 12, 10), local(2026, 1, 12, 15), "in time: by today's closing"),
        (local(2026, 1, 12, 14, 30), local(2026, 1, 12, 15), "exactly at the cutoff"),
        (local(2026, 1, 12, 14, 31), local(2026, 1, 13, 11), "after the cutoff: next opening + 2h"),
        (local(2026, 1, 12, 7), local(2026, 1, 12, 11), "before opening: next opening + 2h"),
        (local(2026, 1, 11, 23, 59), local(2026, 1, 12, 11), "Sunday night: the same deadline"),
        (local(2026, 1, 12, 0, 1), local(2026, 1, 12, 11), "after midnight: the same deadline"),
        (local(2026, 1, 16, 20), local(2026, 1, 19, 11), "Friday evening: Monday 11:00"),
        (local(2026, 12, 24, 10), local(2026, 12, 28, 11), "Christmas Eve: after the holidays"),
        (local(2026, 12, 31, 11, 40), local(2027, 1, 4, 11), "short day, after its cutoff"),
        (local(2026, 12, 31, 11), local(2026, 12, 31, 12), "short day, in time"),
    ],
)
def test_same_day(calendar: Calendar, requested: datetime, due: datetime, why: str) -> None:
    assert due_at(calendar, SAME_DAY, requested) == due, why


def test_same_day_margin_is_cut_at_a_short_days_closing(calendar: Calendar) -> None:
    """A 4-hour margin after the 09:00 opening of a 09–12 day still falls due that day, at 12."""
    long_margin = SAME_DAY.model_copy(update={"late_margin": timedelta(hours=4)})
    assert due_at(calendar, long_margin, local(2027, 6, 23, 20)) == local(2027, 6, 24, 12)


@pytest.mark.parametrize(
    ("requested", "due", "why"),
    [
        (local(2026, 1, 12, 10), local(2026, 1, 13, 15), "Monday: by Tuesday's closing"),
        (local(2026, 1, 16, 10), local(2026, 1, 19, 15), "Friday: by Monday"),
        (local(2026, 1, 17, 10), local(2026, 1, 19, 15), "Saturday: by Monday"),
        (local(2026, 12, 23, 10), local(2026, 12, 28, 15), "before Christmas: after it"),
        (local(2026, 12, 30, 10), local(2026, 12, 31, 12), "next working day is a short day"),
        (local(2027, 3, 25, 14), local(2027, 3, 30, 15), "before Easter: the Tuesday after"),
    ],
)
def test_next_working_day(calendar: Calendar, requested: datetime, due: datetime, why: str) -> None:
    assert due_at(calendar, NEXT_DAY, requested) == due, why


def test_deadline_classes_put_same_day_first() -> None:
    assert deadline_class(SAME_DAY) < deadline_class(NEXT_DAY)
    assert deadline_class(SAME_DAY) > DeadlineClass.ESCALATED
