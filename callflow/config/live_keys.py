"""Live settings as keys and values, built from what a person gives: one place, so the
command line, the admin API and the admin pages cannot disagree on a key.

A setting is one key of the configuration file and its value as the file writes it
(:mod:`callflow.config.layers`): a closure is keyed by its start (to the minute) or its
date, special hours by their date, an emergency message by its scope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

CLOSURE_PREFIX = "calendar.closures."
SPECIAL_PREFIX = "calendar.special_hours."


@dataclass(frozen=True, slots=True)
class Setting:
    """One live setting: its key and its value, as the file would write them."""

    key: str
    value: Any


def closure(start: datetime, end: datetime, reason: str) -> Setting:
    """Closed from *start* to *end* (the line's local time); its key is its start, to the
    minute."""
    return Setting(
        f"{CLOSURE_PREFIX}{start:%Y-%m-%dT%H:%M}",
        {"start": _local(start), "end": _local(end), "reason": reason},
    )


def day_closure(day: date, reason: str) -> Setting:
    """Closed all of *day*."""
    return Setting(
        f"{CLOSURE_PREFIX}{day.isoformat()}", {"date": day.isoformat(), "reason": reason}
    )


def special_hours(day: date, hours: Sequence[str], reason: str) -> Setting:
    """*hours* (``"09:00-12:00"``; none: closed) in place of the usual ones on *day*."""
    return Setting(f"{SPECIAL_PREFIX}{day.isoformat()}", {"hours": list(hours), "reason": reason})


def emergency(
    scope: str,
    texts: Mapping[str, str],
    *,
    mode: str,
    after_hours_offer: bool,
    start: datetime,
    end: datetime | None,
) -> Setting:
    """An emergency message for *scope* (``line`` or a queue), said from *start* until *end*
    (local time; none: until it is switched off)."""
    value: dict[str, Any] = {
        "texts": dict(texts),
        "mode": mode,
        "after_hours_offer": after_hours_offer,
        "start": _local(start),
    }
    if end is not None:
        value["end"] = _local(end)
    return Setting(emergency_key(scope), value)


def queue_key(queue: str, name: str) -> str:
    """The key of *queue*'s setting *name* (one of :data:`~callflow.config.layers.QUEUE_KEYS`)."""
    return f"queues.{queue}.{name}"


def prompt_key(language: str, prompt: str) -> str:
    return f"languages.{language}.prompts.{prompt}"


def emergency_key(scope: str) -> str:
    return f"emergency.{scope}"


def _local(at: datetime) -> str:
    """A local time as the file writes it (an offset, if given, is kept: the checks refuse
    it with their own words)."""
    return at.isoformat(timespec="seconds")
