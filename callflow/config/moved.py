"""Keys that have moved, each reported with its new place instead of as an unknown key.

A file written for an earlier release must not start a line that silently
ignores what its admin set (a ``connect_queued = false`` meant to keep a
rehearsal from ringing real advisors), nor fail with a bare "unknown key":
each moved key is a problem naming where it lives now, and the rest of the
file is checked as if it were already gone, so one run lists everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from callflow.errors import Problem

WHISPER_PROMPT = "whisper"

MOVED_KEYS: Mapping[tuple[str, ...], str] = {
    ("provider", "ari", "connect_queued"): "[connect] queued",
    ("provider", "ari", "advisor_ring_timeout"): "[connect] advisor_ring_timeout",
    ("provider", "ari", "resident_ring_timeout"): "[connect] resident_ring_timeout",
    ("provider", "ari", "machine_detection"): "[connect] machine_detection",
    ("provider", "ari", "whisper"): WHISPER_PROMPT,
    ("provider", "twilio", "connect_queued"): "[connect] queued",
    ("provider", "twilio", "connect_interval"): "[connect] interval",
    ("provider", "twilio", "resident_ring_timeout"): "[connect] resident_ring_timeout",
    ("provider", "twilio", "machine_detection"): "[connect] machine_detection",
    ("provider", "twilio", "whisper"): WHISPER_PROMPT,
    ("dispatch", "advisor_ring_timeout"): "[connect] advisor_ring_timeout",
}
"""Each old key (its path in the file) and its new place: a ``[section] key``, or the
whisper prompt (which moved into every language's prompts)."""


def without_moved_keys(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """*raw* without the keys that moved, and a problem for each one it had."""
    kept = dict(raw)
    problems = []
    for path, place in MOVED_KEYS.items():
        *tables, key = path
        table = _table_at(kept, tables)
        if table is None or key not in table:
            continue
        value = table.pop(key)
        problems.append(Problem(".".join(path), value, _moved_to(place, value, raw)))
    return kept, problems


def _table_at(raw: dict[str, Any], tables: list[str]) -> dict[str, Any] | None:
    """The table at *tables* in *raw*, copied along the way so *raw*'s caller's own dict is
    never changed; None if any of it is absent or not a table."""
    current = raw
    for name in tables:
        inner = current.get(name)
        if not isinstance(inner, dict):
            return None
        current[name] = inner = dict(inner)
        current = inner
    return current


def _moved_to(place: str, value: Any, raw: Mapping[str, Any]) -> str:
    if place != WHISPER_PROMPT:
        section, key = place.split(" ")
        return f"moved to {place}: write {key} = {_toml(value)} under {section}"
    line = raw.get("line")
    default = line.get("default_language") if isinstance(line, Mapping) else None
    code = default if isinstance(default, str) else "<default>"
    return (
        f"moved to the prompt `whisper` in [languages.{code}.prompts] (the line's default "
        "language, which the advisor hears), where {topic}, {language} and {minutes} work "
        "as before"
    )


def _toml(value: Any) -> str:
    """*value* as it would be written in the file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string reads the same
    return str(value)
