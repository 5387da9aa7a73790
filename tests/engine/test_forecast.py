"""Honest estimates: the wait announced in the queue and the time a callback is promised for."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.forecast import (
    HORIZON,
    CapacitySpan,
    QueueSnapshot,
    RotaCapacity,
    estimated_wait,
    expected_callback_start,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
HANDLE = timedelta(minutes=6)


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=HELSINKI).astimezone(UTC)


MONDAY_10 = local(2026, 1, 12, 10)


def snapshot(
    position: int = 1,
    free: int = 0,
    staffed: int = 2,
    mean_handle: timedelta = HANDLE,
    live_load: float = 0.0,
    callbacks_ahead: int = 0,
) -> QueueSnapshot:
    return QueueSnapshot(position, free, staffed, mean_handle, live_load, callbacks_ahead)


def workdays(start_day: int, days: int, advisors: int = 2) -> list[CapacitySpan]:
    """Plain 09–15 spans on consecutive January 2026 dates from *start_day*."""
    return [
        CapacitySpan(local(2026, 1, d, 9), local(2026, 1, d, 15), advisors)
        for d in range(start_day, start_day + days)
    ]


class TestEstimatedWait:
    def test_unknown_when_nobody_is_staffed(self) -> None:
        """With no advisor signed in the wait is unknown, not a made-up number."""
        assert estimated_wait(snapshot(position=1, staffed=0)) is None
        assert estimated_wait(snapshot(position=5, free=0, staffed=0)) is None

    @pytest.mark.parametrize(("position", "free"), [(1, 1), (2, 2), (2, 3), (1, 4)])
    def test_no_wait_when_a_free_advisor_covers_the_place(self, position: int, free: int) -> None:
        """A caller with a free advisor for them waits zero."""
        assert estimated_wait(snapshot(position=position, free=free, staffed=4)) == timedelta(0)

    @pytest.mark.parametrize(
        ("position", "free", "staffed", "wait"),
        [
            (1, 0, 1, timedelta(minutes=6)),
            (1, 0, 2, timedelta(minutes=3)),
            (3, 0, 2, timedelta(minutes=9)),
            (3, 1, 2, timedelta(minutes=6)),  # one free advisor takes the first caller
            (4, 0, 3, timedelta(minutes=8)),
            (10, 0, 4, timedelta(minutes=15)),
        ],
    )
    def test_kth_in_line_waits_k_handle_times_shared_by_the_staff(
        self, position: int, free: int, staffed: int, wait: timedelta
    ) -> None:
        """The k-th caller beyond the free advisors waits k × handle time / staffed."""
        snap = snapshot(position=position, free=free, staffed=staffed)
        assert estimated_wait(snap) == wait

    def test_longer_calls_mean_longer_waits(self) -> None:
        """The estimate scales with the recent handle time."""
        short = estimated_wait(snapshot(position=2, mean_handle=timedelta(minutes=4)))
        long = estimated_wait(snapshot(position=2, mean_handle=timedelta(minutes=8)))
        assert short == timedelta(minutes=4) and long == timedelta(minutes=8)


class TestExpectedCallbackStart:
    def test_soon_when_nothing_is_ahead(self) -> None:
        """No one ahead, no one busy, advisors planned now: the callback can ring now."""
        snap = snapshot(position=1, free=2, staffed=2)
        assert expected_callback_start(MONDAY_10, snap, workdays(12, 1)) == MONDAY_10

    def test_busy_advisors_finish_half_a_call_each_first(self) -> None:
        """Two busy advisors add one handle time of work, shared by the two planned."""
        snap = snapshot(position=1, free=0, staffed=2)
        start = expected_callback_start(MONDAY_10, snap, workdays(12, 1))
        assert start == MONDAY_10 + timedelta(minutes=3)

    @pytest.mark.parametrize(
        ("callbacks_ahead", "advisors", "live_load", "after"),
        [
            (4, 2, 0.0, timedelta(minutes=12)),  # 24 min of work at 2 advisors
            (4, 2, 0.5, timedelta(minutes=16)),  # the live queue keeps half an advisor busy
            (4, 2, 1.0, timedelta(minutes=24)),
            (10, 3, 1.0, timedelta(minutes=30)),
        ],
    )
    def test_backlog_is_served_at_the_capacity_left_after_live_calls(
        self, callbacks_ahead: int, advisors: int, live_load: float, after: timedelta
    ) -> None:
        """Callbacks ahead are worked off at (advisors − live load) per unit of time."""
        snap = snapshot(
            position=1,
            free=advisors,
            staffed=advisors,
            live_load=live_load,
            callbacks_ahead=callbacks_ahead,
        )
        start = expected_callback_start(MONDAY_10, snap, workdays(12, 1, advisors))
        assert start == MONDAY_10 + after

    def test_live_callers_ahead_count_as_work(self) -> None:
        """Each live caller ahead in the queue delays the callback by one handle time."""
        snap = snapshot(position=5, free=2, staffed=2)  # four ahead, nobody busy
        start = expected_callback_start(MONDAY_10, snap, workdays(12, 1))
        assert start == MONDAY_10 + timedelta(minutes=12)

    def test_capacity_before_now_is_not_counted(self) -> None:
        """Only the rest of today's span serves the backlog, not the hour already gone."""
        snap = snapshot(position=1, free=2, staffed=2, callbacks_ahead=100)  # 600 min of work
        start = expected_callback_start(MONDAY_10, snap, workdays(12, 2))
        assert start == local(2026, 1, 12, 15)  # exactly the 5 hours × 2 left today
        snap = snapshot(position=1, free=2, staffed=2, callbacks_ahead=101)
        start = expected_callback_start(MONDAY_10, snap, workdays(12, 2))
        assert start == local(2026, 1, 13, 9, 3)  # the last 6 minutes at two advisors

    def test_rolls_over_to_the_next_span_the_same_day(self) -> None:
        """When the morning's capacity is used up, the afternoon span takes the rest."""
        spans = [
            CapacitySpan(local(2026, 1, 12, 9), local(2026, 1, 12, 11), 1),
            CapacitySpan(local(2026, 1, 12, 12), local(2026, 1, 12, 15), 2),
        ]
        snap = snapshot(position=1, free=1, staffed=1, callbacks_ahead=12)  # 72 min
        start = expected_callback_start(MONDAY_10, snap, spans)
        assert start == local(2026, 1, 12, 12, 6)  # 60 min by 11:00, 12 min at two advisors

    def test_rolls_over_to_the_next_day(self) -> None:
        """A backlog bigger than today's capacity is promised for tomorrow."""
        snap = snapshot(position=1, free=2, staffed=2, callbacks_ahead=150)  # 900 min of work
        start = expected_callback_start(MONDAY_10, snap, workdays(12, 3))
        # 600 advisor-minutes left today, then 300 more at two advisors: 2.5 h into Tuesday
        assert start == local(2026, 1, 13, 11, 30)

    def test_spans_with_no_capacity_left_are_skipped(self) -> None:
        """A span fully taken by live calls adds nothing; the next one serves the callback."""
        spans = [
            CapacitySpan(local(2026, 1, 12, 9), local(2026, 1, 12, 15), 1),
            CapacitySpan(local(2026, 1, 13, 9), local(2026, 1, 13, 15), 3),
        ]
        snap = snapshot(position=1, free=3, staffed=3, live_load=1.0, callbacks_ahead=2)
        start = expected_callback_start(MONDAY_10, snap, spans)
        assert start == local(2026, 1, 13, 9, 6)  # 12 min of work at 3 − 1 advisors

    @pytest.mark.parametrize("live_load", [2.0, 2.5, 5.0])
    def test_live_load_at_or_above_the_staff_means_no_capacity(self, live_load: float) -> None:
        """If live calls keep every advisor busy, no callback time can be promised."""
        snap = snapshot(position=1, free=2, staffed=2, live_load=live_load)
        assert expected_callback_start(MONDAY_10, snap, workdays(12, 5)) is None

    @pytest.mark.parametrize(
        "capacity",
        [
            [],
            workdays(12, 5, advisors=0),
            [CapacitySpan(local(2026, 1, 12, 9), local(2026, 1, 12, 9, 30), 2)],  # in the past
        ],
    )
    def test_no_capacity_means_no_promise(self, capacity: list[CapacitySpan]) -> None:
        """With no advisors planned from now on, no callback time is promised."""
        snap = snapshot(position=1, free=2, staffed=2)
        assert expected_callback_start(MONDAY_10, snap, capacity) is None

    def test_work_beyond_the_capacity_listed_means_no_promise(self) -> None:
        """More work than all the planned capacity: no time is promised."""
        snap = snapshot(position=1, free=2, staffed=2, callbacks_ahead=1000)
        assert expected_callback_start(MONDAY_10, snap, workdays(12, 3)) is None

    def test_nothing_is_promised_beyond_the_horizon(self) -> None:
        """Capacity that only starts 14 days or more from now does not count."""
        assert timedelta(days=14) == HORIZON
        snap = snapshot(position=1, free=2, staffed=2)
        at_horizon = MONDAY_10 + timedelta(days=14)
        late = [CapacitySpan(at_horizon, at_horizon + timedelta(hours=6), 2)]
        assert expected_callback_start(MONDAY_10, snap, late) is None
        just_before = at_horizon - timedelta(minutes=1)
        early = [CapacitySpan(just_before, just_before + timedelta(hours=6), 2)]
        assert expected_callback_start(MONDAY_10, snap, early) == just_before

    def test_an_endless_rota_stops_at_the_horizon(self) -> None:
        """Work that never fits ends at the horizon instead of reading spans forever."""
        read: list[CapacitySpan] = []

        def endless() -> Iterator[CapacitySpan]:
            day = 0
            while True:
                start = local(2026, 1, 12, 9) + timedelta(days=day)
                span = CapacitySpan(start, start + timedelta(hours=6), 1)
                read.append(span)
                yield span
                day += 1

        snap = snapshot(position=1, free=1, staffed=1, callbacks_ahead=10_000)
        assert expected_callback_start(MONDAY_10, snap, endless()) is None
        assert read[-1].start >= MONDAY_10 + HORIZON
        assert len(read) <= HORIZON.days + 2

    def test_a_time_past_the_promise_is_none(self) -> None:
        """Given the promise, a callback that would come after it has no time: the same
        time as without it otherwise."""
        snap = snapshot(position=1, free=2, staffed=2, callbacks_ahead=150)  # Tuesday 11:30
        spans = workdays(12, 3)
        assert expected_callback_start(MONDAY_10, snap, spans, by=local(2026, 1, 12, 15)) is None
        assert expected_callback_start(MONDAY_10, snap, spans, by=local(2026, 1, 13, 11)) is None
        for by in (local(2026, 1, 13, 11, 30), local(2026, 1, 13, 15)):
            start = expected_callback_start(MONDAY_10, snap, spans, by=by)
            assert start == local(2026, 1, 13, 11, 30)

    def test_a_promise_today_reads_no_further_than_tomorrow(self) -> None:
        """A busy line's offer that cannot keep today's promise stops at the first span
        after it, however much capacity is planned beyond."""
        read: list[CapacitySpan] = []

        def rota() -> Iterator[CapacitySpan]:
            for span in workdays(12, 14):
                read.append(span)
                yield span

        snap = snapshot(position=1, free=2, staffed=2, callbacks_ahead=1000)
        assert expected_callback_start(MONDAY_10, snap, rota(), by=local(2026, 1, 12, 15)) is None
        assert len(read) == 2


@pytest.fixture(scope="module")
def rota(config: HotlineConfig) -> RotaCapacity:
    return RotaCapacity(
        Calendar.from_config(config), config.staffing, config.callbacks.retry.allowed_hours
    )


def hours(rota: RotaCapacity, spans: list[CapacitySpan]) -> list[tuple[str, str, str, int]]:
    """Spans as (local date, start, end, advisors) for reading."""
    out = []
    for span in spans:
        start, end = rota.calendar.local(span.start), rota.calendar.local(span.end)
        out.append((f"{start:%Y-%m-%d}", f"{start:%H:%M}", f"{end:%H:%M}", span.advisors))
    return out


class TestRotaCapacity:
    @pytest.mark.parametrize(("language", "advisors"), [("fi", 2), ("sv", 1), ("en", 1)])
    def test_monday_nurses_per_language(
        self, rota: RotaCapacity, language: str, advisors: int
    ) -> None:
        """Monday's nurses work 09:00–14:45 (the dial window): two in Finnish, one in sv/en."""
        first = next(iter(rota.spans("nurse", language, local(2026, 1, 12))))
        assert hours(rota, [first]) == [("2026-01-12", "09:00", "14:45", advisors)]

    def test_weekends_have_no_capacity(self, rota: RotaCapacity) -> None:
        """From Friday noon the next capacity after Friday is Monday morning."""
        spans = list(islice(rota.spans("nurse", "fi", local(2026, 1, 16, 12)), 2))
        assert hours(rota, spans) == [
            ("2026-01-16", "12:00", "14:45", 2),
            ("2026-01-19", "09:00", "14:45", 2),
        ]

    def test_from_saturday_the_first_capacity_is_monday(self, rota: RotaCapacity) -> None:
        """Nothing is planned on Saturday or Sunday."""
        first = next(iter(rota.spans("nurse", "fi", local(2026, 1, 17, 10))))
        assert hours(rota, [first]) == [("2026-01-19", "09:00", "14:45", 2)]

    def test_a_week_of_capacity(self, rota: RotaCapacity) -> None:
        """Five weekdays in a row, each 09:00–14:45, in order."""
        spans = list(islice(rota.spans("nurse", "sv", local(2026, 1, 12)), 6))
        assert [h[0] for h in hours(rota, spans)] == [
            "2026-01-12",
            "2026-01-13",
            "2026-01-14",
            "2026-01-15",
            "2026-01-16",
            "2026-01-19",
        ]
        assert {(h[1], h[2], h[3]) for h in hours(rota, spans)} == {("09:00", "14:45", 1)}

    def test_an_earlier_instant_after_a_later_one_has_the_whole_span(
        self, config: HotlineConfig
    ) -> None:
        """Capacity is kept per open span, whole: from 12:00 it is 12:00–14:45, and asked
        afterwards from 09:30 it is 09:30–14:45, not what was left at noon."""
        fresh = RotaCapacity(
            Calendar.from_config(config), config.staffing, config.callbacks.retry.allowed_hours
        )
        noon = next(iter(fresh.spans("nurse", "fi", local(2026, 1, 12, 12))))
        morning = next(iter(fresh.spans("nurse", "fi", local(2026, 1, 12, 9, 30))))
        assert hours(fresh, [noon, morning]) == [
            ("2026-01-12", "12:00", "14:45", 2),
            ("2026-01-12", "09:30", "14:45", 2),
        ]

    def test_after_the_dial_window_capacity_is_tomorrows(self, rota: RotaCapacity) -> None:
        """At 14:50 no callback can be dialled today; capacity resumes tomorrow at 09:00."""
        first = next(iter(rota.spans("nurse", "fi", local(2026, 1, 12, 14, 50))))
        assert hours(rota, [first]) == [("2026-01-13", "09:00", "14:45", 2)]

    def test_public_holidays_have_no_capacity(self, rota: RotaCapacity) -> None:
        """Epiphany (Tuesday 6 January 2026) is skipped: the line is closed."""
        spans = list(islice(rota.spans("nurse", "fi", local(2026, 1, 5, 16)), 2))
        assert [h[0] for h in hours(rota, spans)] == ["2026-01-07", "2026-01-08"]

    def test_without_a_dial_window_capacity_covers_the_opening_hours(
        self, rota: RotaCapacity, config: HotlineConfig
    ) -> None:
        """With no dial window the capacity runs to closing time, 15:00."""
        plain = RotaCapacity(rota.calendar, config.staffing)
        first = next(iter(plain.spans("nurse", "fi", local(2026, 1, 12))))
        assert hours(rota, [first]) == [("2026-01-12", "09:00", "15:00", 2)]

    def test_the_rota_feeds_the_callback_estimate(self, rota: RotaCapacity) -> None:
        """Two Finnish-speaking nurses and 20 callbacks ahead: a callback around 11:00."""
        snap = snapshot(position=1, free=2, staffed=2, callbacks_ahead=20)  # 120 min of work
        capacity = rota.spans("nurse", "fi", MONDAY_10)
        assert expected_callback_start(MONDAY_10, snap, capacity) == local(2026, 1, 12, 11)

    @pytest.mark.parametrize(
        ("at", "planned"),
        [
            (local(2026, 1, 12, 9), 4),
            (local(2026, 1, 12, 10), 4),
            (local(2026, 1, 12, 14, 59), 4),
            (local(2026, 1, 12, 8, 59), 0),
            (local(2026, 1, 12, 15), 0),
            (local(2026, 1, 17, 10), 0),  # Saturday
            (local(2026, 1, 18, 10), 0),  # Sunday
        ],
    )
    def test_blocks_at_an_instant(self, rota: RotaCapacity, at: datetime, planned: int) -> None:
        """blocks_at returns the staffing blocks whose days and hours cover the instant."""
        assert len(rota.blocks_at(at)) == planned

    def test_a_skill_nobody_with_the_language_has_gives_no_capacity(
        self, rota: RotaCapacity
    ) -> None:
        """No planned advisor speaks it: no capacity and no promise, rather than an error."""
        start = datetime(2026, 1, 12, 8, tzinfo=UTC)
        assert list(rota.spans("nurse", "de", start)) == []
        snapshot = QueueSnapshot(
            position=1,
            free=0,
            staffed=0,
            mean_handle=timedelta(minutes=6),
            live_load=0.0,
            callbacks_ahead=0,
        )
        assert expected_callback_start(start, snapshot, rota.spans("nurse", "de", start)) is None

    def test_blocks_at_returns_the_planned_blocks(
        self, rota: RotaCapacity, config: HotlineConfig
    ) -> None:
        """On Monday at ten the four weekday blocks are planned, as configured."""
        blocks = rota.blocks_at(MONDAY_10)
        assert blocks == list(config.staffing)
        assert [(b.skill, b.languages) for b in blocks] == [
            ("nurse", ["fi", "sv"]),
            ("nurse", ["fi", "en"]),
            ("social_counsellor", ["fi", "sv", "en"]),
            ("service_advisor", ["fi", "sv", "en"]),
        ]
