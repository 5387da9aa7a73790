"""Durations as admins write them in the configuration: 45s, 5m, 2h, 1h30m, 30d."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from callflow.values.durations import DURATION_HELP, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("45s", timedelta(seconds=45)),
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("30d", timedelta(days=30)),
        ("0s", timedelta(0)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("2h1d", timedelta(days=1, hours=2)),  # parts in any order add up
        ("1m60s", timedelta(minutes=2)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("5 m", timedelta(minutes=5)),
        (" 5m ", timedelta(minutes=5)),
    ],
)
def test_durations_are_read(text: str, delta: timedelta) -> None:
    """Each unit and any combination of them reads to the intended length."""
    assert parse_duration(text) == delta


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(hours=24), "1d"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(days=30), "30d"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "1d2h3m4s"),
    ],
)
def test_durations_are_written_in_their_shortest_form(delta: timedelta, text: str) -> None:
    """format_duration uses the largest units, largest first, and nothing that is zero."""
    assert format_duration(delta) == text


@pytest.mark.parametrize(
    "delta",
    [
        timedelta(0),
        timedelta(seconds=1),
        timedelta(seconds=59),
        timedelta(seconds=61),
        timedelta(minutes=90),
        timedelta(hours=23, minutes=59, seconds=59),
        timedelta(days=90),
        timedelta(days=400, hours=5, seconds=7),
    ],
)
def test_formatted_durations_read_back_to_the_same_value(delta: timedelta) -> None:
    """What format_duration writes, parse_duration reads back unchanged."""
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize("text", ["45s", "5m", "2h", "1h30m", "30d", "1d2h3m4s"])
def test_written_durations_survive_a_round_trip(text: str) -> None:
    """A duration already in its shortest form is written back exactly as given."""
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "5",  # no unit
        "m",  # no number
        "5x",
        "1w",
        "1H",
        "-5m",
        "1.5h",
        "5mm",
        "h1",
        "1h30",  # a trailing number without a unit
        "5 minutes",
        "30m,",
    ],
)
def test_bad_durations_are_refused_with_the_accepted_forms(text: str) -> None:
    """A malformed duration raises ValueError quoting it and showing the forms that work."""
    with pytest.raises(ValueError, match=re.escape(DURATION_HELP)) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert message.startswith(repr(text))
    assert "'1h30m'" in message


def test_an_absurdly_long_duration_is_a_value_error() -> None:
    """A billion days is refused with a message, not an OverflowError."""
    with pytest.raises(ValueError, match="longer than any duration"):
        parse_duration("1000000000d")
