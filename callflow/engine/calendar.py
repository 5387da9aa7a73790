"""Opening hours, holidays and closures, and working-time arithmetic on them.

Rules are written in local wall-clock time (09:00–15:00 in Europe/Helsinki);
arithmetic is done on UTC instants, so a day of 23 or 25 hours and a holiday
in between come out right without special cases. Precedence for a date: a
whole-day closure, then special hours, then a public holiday, then the usual
week; closure spans are cut out of whatever remains.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

from callflow.config.models import WEEKDAYS, HotlineConfig
from callflow.errors import CalendarError

HORIZON_DAYS = 400
"""How far ahead to look for an opening before declaring the line never opens."""

MinuteRange = tuple[int, int]
"""Minutes after local midnight, start inclusive, end exclusive; 1440 closes the day."""


@dataclass(frozen=True, slots=True)
class Span:
    """An open period, as UTC instants, start inclusive and end exclusive."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Day:
    """What one local date looks like: its open spans and why it differs, if it does."""

    date: date
    spans: tuple[Span, ...]
    note: str | None = None

    @property
    def is_working_day(self) -> bool:
        return bool(self.spans)


@dataclass(frozen=True, slots=True)
class Closure:
    """Closed from ``start`` to ``end`` (local wall-clock, naive)."""

    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Transition:
    at: datetime
    opens: bool
    note: str | None


class Calendar:
    """Answers "open at t?", "next opening after t?" and "working time between a and b"."""

    def __init__(
        self,
        tz: ZoneInfo,
        week: Mapping[int, Sequence[MinuteRange]],
        holidays: Mapping[date, str] | None = None,
        special: Mapping[date, tuple[Sequence[MinuteRange], str]] | None = None,
        closures: Sequence[Closure] = (),
    ) -> None:
        self.tz = tz
        self._week = {wd: tuple(sorted(week.get(wd, ()))) for wd in range(7)}
        self._holidays: Mapping[date, str] = holidays if holidays is not None else {}
        self._special = dict(special or {})
        self._closures = tuple(closures)
        self._days: dict[date, Day] = {}
        self._closings: dict[datetime, datetime | None] = {}
        self._last_open: Span | None = None
        """The open span last asked about: every step asks whether the line is open, and
        nearly always it is the same span as the step before."""

    @classmethod
    def from_config(cls, config: HotlineConfig) -> Calendar:
        tz = ZoneInfo(config.line.timezone)
        week = {
            WEEKDAYS.index(name): [(r.start_minute, r.end_minute) for r in ranges]
            for name, ranges in config.hours.items()
        }
        special = {
            s.date: ([(r.start_minute, r.end_minute) for r in s.hours], s.reason)
            for s in config.calendar.special_hours
        }
        closures = []
        for c in config.calendar.closures:
            if c.date is not None:
                start = datetime(c.date.year, c.date.month, c.date.day)
                closures.append(Closure(start, start + timedelta(days=1), c.reason))
            elif c.start is not None and c.end is not None:
                closures.append(Closure(c.start, c.end, c.reason))
        holidays = None
        if config.calendar.holidays:
            holidays = public_holidays(config.calendar.holidays, config.line.default_language)
        return cls(tz, week, holidays, special, closures)

    # -- one day ---------------------------------------------------------------

    def day(self, d: date) -> Day:
        """The open spans of local date *d*, with every rule applied."""
        cached = self._days.get(d)
        if cached is None:
            cached = self._days[d] = self._compute_day(d)
        return cached

    def _compute_day(self, d: date) -> Day:
        day_start = datetime(d.year, d.month, d.day)
        day_end = day_start + timedelta(days=1)
        for closure in self._closures:
            if closure.start <= day_start and closure.end >= day_end:
                return Day(d, (), f"closed: {closure.reason}")
        note: str | None = None
        if d in self._special:
            ranges, reason = self._special[d]
            note = f"special hours: {reason}"
        elif d in self._holidays:
            return Day(d, (), f"public holiday: {self._holidays[d]}")
        else:
            ranges = self._week[d.weekday()]
        spans = _merged(Span(self.at_minute(d, a), self.at_minute(d, b)) for a, b in ranges)
        for closure in self._closures:
            if closure.start < day_end and closure.end > day_start:
                cut = Span(self._local(closure.start), self._local(closure.end))
                spans = _subtract(spans, cut)
                note = f"partly closed: {closure.reason}"
        return Day(d, tuple(spans), note)

    def at_minute(self, d: date, minute: int) -> datetime:
        """The UTC instant of *minute* after local midnight of *d* (1440 is the next midnight)."""
        if minute == 1440:
            d, minute = d + timedelta(days=1), 0
        local = datetime(d.year, d.month, d.day, minute // 60, minute % 60, tzinfo=self.tz)
        return local.astimezone(UTC)

    def _local(self, naive: datetime) -> datetime:
        return naive.replace(tzinfo=self.tz).astimezone(UTC)

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    # -- questions about instants -----------------------------------------------

    def open_span_at(self, at: datetime) -> Span | None:
        last = self._last_open
        if last is not None and last.start <= at < last.end:
            return last
        for span in self.day(self.local_date(at)).spans:
            if span.start <= at < span.end:
                self._last_open = span
                return span
        return None

    def is_open(self, at: datetime) -> bool:
        return self.open_span_at(at) is not None

    def spans_from(self, at: datetime) -> Iterator[Span]:
        """Open spans that end after *at*, in order, the first clipped to start at *at*."""
        first = self.local_date(at)
        for offset in range(HORIZON_DAYS):
            for span in self.day(first + timedelta(days=offset)).spans:
                if span.end > at:
                    yield Span(max(span.start, at), span.end)
        raise CalendarError(f"the line does not open within {HORIZON_DAYS} days of {at:%Y-%m-%d}")

    def next_opening(self, at: datetime) -> datetime:
        """The first instant strictly after *at* at which the line opens."""
        first = self.local_date(at)
        for offset in range(HORIZON_DAYS):
            for span in self.day(first + timedelta(days=offset)).spans:
                if span.start > at:
                    return span.start
        raise CalendarError(f"the line does not open within {HORIZON_DAYS} days of {at:%Y-%m-%d}")

    def next_closing(self, at: datetime) -> datetime | None:
        """When the line next closes: the end of the open period at (or after) *at*,
        running on through midnight when the next day opens as this one closes.
        None for a line that stays open to the horizon."""
        span = self.open_span_at(at)
        if span is None:
            span = next(self.spans_from(at))
        if span.end not in self._closings:
            # Remembered: on a line open around the clock the answer takes the whole horizon.
            self._closings[span.end] = self._closing_from(span.end)
        return self._closings[span.end]

    def _closing_from(self, end: datetime) -> datetime | None:
        try:
            for following in self.spans_from(end):
                if following.start > end:
                    break
                end = following.end
        except CalendarError:
            return None
        return end

    def within_window(self, span: Span, window: MinuteRange) -> Span | None:
        """The part of *span* inside the daily *window* (minutes after local midnight)."""
        day = self.local_date(span.start)
        start = max(span.start, self.at_minute(day, window[0]))
        end = min(span.end, self.at_minute(day, window[1]))
        return Span(start, end) if start < end else None

    def first_instant_within(self, at: datetime, window: MinuteRange) -> datetime:
        """*at* if the line is open then and it is inside the daily *window*, else the
        next instant that is."""
        for span in self.spans_from(at):
            inside = self.within_window(span, window)
            if inside is not None:
                return inside.start
        raise AssertionError("unreachable: spans_from raises at its horizon")

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Open time between two instants (zero if *end* is not after *start*)."""
        total = timedelta(0)
        if end <= start:
            return total
        for span in self.spans_from(start):
            if span.start >= end:
                break
            total += min(span.end, end) - span.start
        return total

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The instant at which *amount* of open time has passed since *start*."""
        for span in self.spans_from(start):
            if amount <= span.length:
                return span.start + amount
            amount -= span.length
        raise AssertionError("unreachable: spans_from raises at its horizon")

    def closing_of(self, d: date) -> datetime | None:
        """When local date *d*'s last open span ends, or None if closed all day."""
        spans = self.day(d).spans
        return spans[-1].end if spans else None

    def next_working_day(self, d: date) -> date:
        """The first date after *d* on which the line opens."""
        for offset in range(1, HORIZON_DAYS):
            candidate = d + timedelta(days=offset)
            if self.day(candidate).is_working_day:
                return candidate
        raise CalendarError(f"the line does not open within {HORIZON_DAYS} days of {d}")

    def transitions(self, after: datetime, count: int) -> list[Transition]:
        """The next *count* openings and closings after *after*, each with its day's note.

        A closing that is also an opening (midnight on a line open round the clock)
        is no transition at all.
        """
        found: list[Transition] = []
        first = self.local_date(after)
        for offset in range(HORIZON_DAYS):
            day = self.day(first + timedelta(days=offset))
            for span in day.spans:
                if found and not found[-1].opens and found[-1].at == span.start:
                    found.pop()  # open straight on
                else:
                    found.append(Transition(span.start, True, day.note))
                found.append(Transition(span.end, False, day.note))
            found = [t for t in found if t.at > after]
            if len(found) > count:
                return found[:count]
        # A line open to the horizon has no closing we can name.
        return [t for t in found[:count] if t.opens or t.at < found[-1].at] if found else []


def _merged(spans: Iterable[Span]) -> list[Span]:
    """Spans in order, touching or overlapping ones joined: 09–12 and 12–15 are 09–15."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start <= merged[-1].end:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


def _subtract(spans: list[Span], cut: Span) -> list[Span]:
    kept = []
    for span in spans:
        if cut.end <= span.start or cut.start >= span.end:
            kept.append(span)
            continue
        if span.start < cut.start:
            kept.append(Span(span.start, cut.start))
        if cut.end < span.end:
            kept.append(Span(cut.end, span.end))
    return kept


_HOLIDAY_LANGUAGES = {"fi": "fi", "sv": "sv_FI", "en": "en_US"}


def public_holidays(country: str, language: str) -> Mapping[date, str]:
    """Public holidays from the ``holidays`` package, named in *language* when it can."""
    supported = holidays.country_holidays(country).supported_languages
    name_language = _HOLIDAY_LANGUAGES.get(language)
    if name_language not in supported:
        name_language = None
    table: Mapping[date, str] = holidays.country_holidays(country, language=name_language)
    return table
