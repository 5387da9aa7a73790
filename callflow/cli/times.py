"""Reading local times from the command line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from callflow.engine.clock import as_utc

F = TypeVar("F", bound=Callable[..., Any])

FIRST_YEAR, LAST_YEAR = 2000, 2099


class LocalTime(click.ParamType):  # type: ignore[type-arg]
    """An ISO time; without an offset it is taken in the line's timezone (resolved later)."""

    name = "ISO-TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(
                f"{value!r} is not a time like 2026-01-12T10:00 or 2026-01-12T10:00+02:00",
                param,
                ctx,
            )
        if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
            self.fail(f"{value!r} is outside the years {FIRST_YEAR}–{LAST_YEAR}", param, ctx)
        return parsed


def local_time_option(name: str, *, help: str) -> Callable[[F], F]:
    return click.option(name, type=LocalTime(), default=None, help=help)


def in_line_zone(at: datetime | None, timezone: str) -> datetime | None:
    """*at* as a UTC instant; a time without an offset is the line's local time."""
    if at is None:
        return None
    if at.tzinfo is None:
        zone = ZoneInfo(timezone)
        local = at.replace(tzinfo=zone)
        if as_utc(local).astimezone(zone).replace(tzinfo=None) != at:
            raise click.BadParameter(
                f"{at:%Y-%m-%d %H:%M} does not happen in {timezone} (the clocks go forward "
                "then); pick another time",
                param_hint="--at",
            )
        at = local
    return as_utc(at)


class LocalDate(click.ParamType):  # type: ignore[type-arg]
    """A local date written ``2026-01-12``."""

    name = "DATE"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> date:
        if isinstance(value, date):
            return value
        try:
            parsed = date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date like 2026-01-12", param, ctx)
        if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
            self.fail(f"{value!r} is outside the years {FIRST_YEAR}–{LAST_YEAR}", param, ctx)
        return parsed
