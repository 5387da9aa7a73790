"""The line's calendar as it stood at each moment: what the reports measure working time by.

The file's calendar is the baseline for all time: an edited file changes the
past too, and the roll-up is rebuilt for it. A calendar change stored while
the line runs (``line_changes`` under ``calendar.``: a closure, special
hours; :mod:`callflow.config.layers`) is in force from the moment it was
made, as it was on the line: a closure added today for yesterday 10–11
leaves yesterday as it was; one added at 10:00 for 10:00–11:00 closes the
line from 10:00. So the calendar in force at an instant is the file's with
the calendar settings as they stood then, and a day's opening spans are
pieced together from the calendars in force during it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from pydantic import ValidationError
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from callflow.config.layers import lay_over
from callflow.config.models import CalendarConfig, HotlineConfig
from callflow.engine.calendar import HORIZON_DAYS, Calendar, Span
from callflow.errors import CalendarError
from callflow.store.line_settings import LineChange

CALENDAR_KEYS = "calendar."
"""The prefix of the stored settings that change the calendar (closures, special hours)."""

log = structlog.get_logger("callflow.reports")


def local_midnight(tz: ZoneInfo, day: date) -> datetime:
    """The UTC instant at which local date *day* begins."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def latest_calendar_change(session: Session) -> int:
    """The id of the latest stored calendar change (0: none): cheap enough for every report."""
    latest = select(func.max(LineChange.id)).where(_calendar_change())
    return session.scalar(latest) or 0


@dataclass(frozen=True, slots=True)
class _Version:
    since: datetime | None
    """When it came into force (``None``: the file's, from the beginning)."""
    calendar: Calendar


@dataclass(frozen=True, slots=True)
class _Change:
    id: int
    at: datetime


class CalendarTimeline:
    """The calendar in force at each moment, from the file and the stored calendar changes."""

    def __init__(
        self, config: HotlineConfig, versions: Sequence[_Version], changes: Sequence[_Change]
    ) -> None:
        self.config = config
        """The file's configuration: the baseline, for all time."""
        self._versions = tuple(versions)
        self._changes = tuple(changes)

    @classmethod
    def read(cls, session: Session, config: HotlineConfig) -> CalendarTimeline:
        """*config*'s calendar — the file's, without the stored settings laid over it — then
        each calendar change stored in *session*'s database, from the moment it was made."""
        rows = session.execute(
            select(LineChange.id, LineChange.at, LineChange.key, LineChange.new_value)
            .where(_calendar_change())
            .order_by(LineChange.at, LineChange.id)
        ).all()
        baseline = {"calendar": config.calendar.model_dump(mode="json")}
        versions = [_Version(None, Calendar.from_config(config))]
        settings: dict[str, Any] = {}
        for change_id, at, key, value in rows:
            before = settings.get(key)
            settings[key] = value
            try:
                calendar = CalendarConfig.model_validate(
                    lay_over(baseline, settings).raw["calendar"]
                )
            except ValidationError as exc:
                # Checked when stored, so only a value from another release lands here: the
                # report goes on under the calendar as it was before.
                log.warning(
                    "report.calendar_change_skipped",
                    change=change_id,
                    key=key,
                    problems=[error["msg"] for error in exc.errors()],
                )
                settings[key] = before
                continue
            in_force = config.model_copy(update={"calendar": calendar})
            versions.append(_Version(at, Calendar.from_config(in_force)))
        return cls(config, versions, [_Change(row.id, row.at) for row in rows])

    @property
    def last_change(self) -> int:
        """The id of the latest calendar change in this timeline (0: none)."""
        return max((change.id for change in self._changes), default=0)

    def changed_after(self, change_id: int) -> datetime | None:
        """The earliest moment from which the changes stored after change *change_id* are in
        force (``None``: there are none): the calendar before it is as it was without them."""
        return min((c.at for c in self._changes if c.id > change_id), default=None)

    def local_date(self, at: datetime) -> date:
        return self._versions[0].calendar.local_date(at)

    def spans(self, day: date) -> list[Span]:
        """The line's opening spans on local date *day*, each moment of it under the calendar
        then in force; spans that meet where one calendar gave way to the next are one."""
        tz = self._versions[0].calendar.tz
        day_start, day_end = local_midnight(tz, day), local_midnight(tz, day + timedelta(days=1))
        untils = [version.since for version in self._versions[1:]] + [None]
        pieces: list[Span] = []
        for version, until in zip(self._versions, untils, strict=True):
            if (until is not None and until <= day_start) or (
                version.since is not None and version.since >= day_end
            ):
                continue
            for span in version.calendar.day(day).spans:
                start = span.start if version.since is None else max(span.start, version.since)
                end = span.end if until is None else min(span.end, until)
                if start >= end:
                    continue
                if pieces and pieces[-1].end == start:
                    pieces[-1] = Span(pieces[-1].start, end)
                else:
                    pieces.append(Span(start, end))
        return pieces

    def next_working_day(self, day: date) -> date:
        """The first date after *day* on which the line opens."""
        for offset in range(1, HORIZON_DAYS):
            candidate = day + timedelta(days=offset)
            if self.spans(candidate):
                return candidate
        raise CalendarError(f"the line does not open within {HORIZON_DAYS} days of {day}")


def _calendar_change() -> ColumnElement[bool]:
    return LineChange.key.startswith(CALENDAR_KEYS, autoescape=True)
