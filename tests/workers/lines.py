"""A line that is always open, for dispatchers running on the wall clock in tests.

Workers decide on the real time of day; a test run at night must still see
them dial. Everything else is the example configuration.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import EXAMPLE_CONFIG

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def always_open_text(**dispatch: str) -> str:
    """The example configuration open around the clock every day, no holidays or
    closures, dialling at any hour; *dispatch* overrides ``[dispatch]`` settings."""
    text = EXAMPLE_CONFIG.read_text()
    for day in DAYS:
        old = f'{day} = ["09:00-15:00"]' if day not in ("saturday", "sunday") else f"{day} = []"
        assert text.count(old) == 1, old
        text = text.replace(old, f'{day} = ["00:00-24:00"]')
    replacements = {
        'holidays = "FI"': 'holidays = ""',
        'allowed_hours = "09:00-14:45"': 'allowed_hours = "00:00-24:00"',
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    for block in ("[[calendar.closures]]", "[[calendar.special_hours]]"):
        while block in text:
            start = text.index(block)
            end = text.index("\n\n", start)
            text = text[:start] + text[end + 2 :]
    for key, value in dispatch.items():
        line = next(line for line in text.splitlines() if line.startswith(f"{key} = "))
        text = text.replace(
            line, f'{key} = "{value}"' if not value.isdigit() else f"{key} = {value}"
        )
    return text


def write_always_open(folder: Path, **dispatch: str) -> Path:
    path = folder / "hotline.toml"
    path.write_text(always_open_text(**dispatch))
    return path
