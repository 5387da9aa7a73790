"""Durations written the way admins write them: ``90s``, ``5m``, ``2h``, ``1h30m``, ``90d``."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*(d|h|m|s)")
_WHOLE = re.compile(r"\s*(?:\d+\s*[dhms]\s*)+")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}

DURATION_HELP = "a duration such as '45s', '5m', '2h', '1h30m' or '30d'"


def parse_duration(text: str) -> timedelta:
    """Parse ``text``; raise ``ValueError`` naming the accepted forms."""
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not {DURATION_HELP}")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is longer than any duration callflow can use") from None


def format_duration(delta: timedelta) -> str:
    """The shortest form :func:`parse_duration` reads back to the same value."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
