"""The rules in force: the file, with the settings admins stored while the line runs.

The file stays the baseline. A stored setting sets one key of it, named and
written as the file writes it (``queues.health.overflow.queue_length = 5``,
``"4m"`` for a duration), so a setting is checked by the very rules of
``callflow config check`` and a problem names the setting's own key. The keys
that may be set live (:data:`LIVE_KEYS`):

- ``calendar.closures.<start>``: a closure, ``{start, end, reason}`` (local
  times) or ``{date, reason}``; its key is its start (``2026-12-08T10:00``) or
  date, added beside the file's closures;
- ``calendar.special_hours.<date>``: ``{hours, reason}`` for that date, in
  place of the file's for the same date (``hours = []`` closes it; hours on a
  closed day are an extra opening);
- ``emergency.<scope>``: an emergency message (:class:`~.models.EmergencyConfig`)
  for ``line`` or a queue;
- ``queues.<queue>.<threshold>``: one of :data:`QUEUE_KEYS`;
- ``languages.<code>.prompts.<prompt>``: a prompt's text.

A setting whose value is ``None`` is not stored: the file's value (or
nothing) applies again. This module knows no database; the store keeps the
settings and their history (:mod:`callflow.store.line_settings`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callflow.config.check import check_data
from callflow.config.models import PROMPT_PLACEHOLDERS, HotlineConfig, emergency_prompt
from callflow.errors import ConfigError, Problem

QUEUE_KEYS = (
    "overflow.queue_length",
    "overflow.estimated_wait",
    "closing_policy",
    "callbacks.enabled",
    "callbacks.when_closed",
    "callbacks.when_promise_unmeetable",
    "callbacks.alternative_prompt",
)
"""A queue's settings an admin may change while the line runs: when callers are offered
a callback, what happens at closing, and what is said when a promise cannot be kept."""

LIVE_KEYS = (
    "calendar.closures.<start>",
    "calendar.special_hours.<date>",
    "emergency.<scope>",
    *(f"queues.<queue>.{key}" for key in QUEUE_KEYS),
    "languages.<code>.prompts.<prompt>",
)

_DATE = r"\d{4}-\d{2}-\d{2}"
_CLOSURE = re.compile(rf"calendar\.closures\.({_DATE}(T\d{{2}}:\d{{2}})?)")
_SPECIAL = re.compile(rf"calendar\.special_hours\.({_DATE})")
_EMERGENCY = re.compile(r"emergency\.([a-z0-9_]+)")
_QUEUE = re.compile(r"queues\.([a-z0-9_]+)\.(.+)")
_PROMPT = re.compile(r"languages\.([a-z]{2,3})\.prompts\.([a-z0-9_]+)")


def key_problem(key: str, raw_file: Mapping[str, Any]) -> Problem | None:
    """Why *key* cannot be set live, if it cannot: not one of :data:`LIVE_KEYS`, or naming
    a queue or language the file does not have."""
    if _CLOSURE.fullmatch(key) or _SPECIAL.fullmatch(key) or _EMERGENCY.fullmatch(key):
        return None
    queue = _QUEUE.fullmatch(key)
    if queue:
        name, setting = queue.groups()
        if name not in _table(raw_file, "queues"):
            return Problem(key, name, f"unknown queue; queues are: {_listed(raw_file, 'queues')}")
        if setting not in QUEUE_KEYS:
            return Problem(
                key, setting, f"not set while the line runs; a queue's are: {', '.join(QUEUE_KEYS)}"
            )
        return None
    prompt = _PROMPT.fullmatch(key)
    if prompt:
        code = prompt.group(1)
        if code not in _table(raw_file, "languages"):
            return Problem(
                key, code, f"unknown language; languages are: {_listed(raw_file, 'languages')}"
            )
        return None
    return Problem(
        key, key, f"not a setting changed while the line runs; those are: {', '.join(LIVE_KEYS)}"
    )


def setting_problem(key: str, value: Any, raw_file: Mapping[str, Any]) -> Problem | None:
    """Why *key* cannot be set to *value* live, if it cannot, beyond what the checks of the
    whole configuration say: a key that is not live (:func:`key_problem`), a closure or
    special hours whose key does not name its own start or date, a prompt the line does not
    have, or an empty text."""
    problem = key_problem(key, raw_file)
    if problem is not None or value is None:
        return problem
    closure, special, prompt = (
        _CLOSURE.fullmatch(key),
        _SPECIAL.fullmatch(key),
        _PROMPT.fullmatch(key),
    )
    if (closure or special) and not isinstance(value, dict):
        return Problem(key, value, "a table, as the file writes one")
    if closure:
        named = closure.group(1)
        starts = str(value.get("start") or value.get("date") or "")
        if not starts.startswith(named) or ("T" in named) != (value.get("start") is not None):
            return Problem(
                key, starts or value, f"the key names the closure's start or date ({named})"
            )
    if special and value.get("date") is not None and str(value["date"]) != special.group(1):
        return Problem(key, value["date"], f"the key names the date ({special.group(1)})")
    if prompt:
        code, name = prompt.groups()
        known = set(PROMPT_PLACEHOLDERS) | set(
            _table(_table(raw_file, "languages").get(code) or {}, "prompts")
        )
        if name not in known or name.startswith("emergency_"):
            return Problem(key, name, f"the line has no prompt {name!r} in {code}")
        if not isinstance(value, str) or not value.strip():
            return Problem(key, value, "say something: an empty text is silence to a caller")
    return None


def is_about(path: str, key: str) -> bool:
    """Whether a problem at *path* is about the setting (or entry) at *key*."""
    return path == key or path.startswith((f"{key}.", f"{key}["))


def restart_needed(old: HotlineConfig, new: HotlineConfig, path: Path) -> None:
    """Refuse (:class:`ConfigError`) a file read again that changes what a running process
    set up once, at its start — the line's number and zone, its languages and queues,
    skills, staffing, provider, web server, connections — naming each: those need a
    restart, which a reload must not pretend to do."""
    problems = [
        Problem(section, "(changed)", "read once at start: restart callflow to apply it")
        for section in _READ_AT_START
        if _part(old, section) != _part(new, section)
    ]
    if problems:
        raise ConfigError(str(path), problems)


_READ_AT_START = (
    "line",
    "skills",
    "staffing",
    "provider",
    "web",
    "connect",
    "simulation",
    "languages",
    "queues",
)


def _part(config: HotlineConfig, section: str) -> Any:
    """What of *section* a running process took at its start: everything, but the prompts
    and the queues' live settings, which are read as they are used."""
    value = config.model_dump(include={section})[section]
    if section == "languages":
        for language in value.values():
            language.pop("prompts")
    if section == "queues":
        for queue in value.values():
            queue.pop("closing_policy")
            queue.pop("callbacks")
            queue.pop("overflow")
    return value


@dataclass(frozen=True, slots=True)
class Layered:
    """The file with the settings laid over it, as the file would write it."""

    raw: dict[str, Any]
    paths: dict[str, str]
    """The path a problem names in :attr:`raw` → the setting's key, where they differ
    (a closure added to the file's list is ``calendar.closures[3]`` there)."""


def lay_over(raw_file: Mapping[str, Any], settings: Mapping[str, Any]) -> Layered:
    """The file *raw_file* (as TOML reads it) with *settings* (key → value) laid over it."""
    raw: dict[str, Any] = copy.deepcopy(dict(raw_file))
    paths: dict[str, str] = {}
    for key in sorted(settings):
        value = settings[key]
        if value is None:
            continue
        special = _SPECIAL.fullmatch(key)
        if _CLOSURE.fullmatch(key):
            closures = _list(raw, "calendar", "closures")
            paths[f"calendar.closures[{len(closures)}]"] = key
            closures.append(value)
        elif special:
            entries = _list(raw, "calendar", "special_hours")
            entry = {**value, "date": special.group(1)}
            same_date = [
                i for i, old in enumerate(entries) if str(old.get("date")) == special.group(1)
            ]
            at = same_date[0] if same_date else len(entries)
            paths[f"calendar.special_hours[{at}]"] = key
            entries[at : at + 1 if same_date else at] = [entry]
        else:
            *parents, last = key.split(".")
            table = raw
            for part in parents:
                table = table.setdefault(part, {})
            table[last] = value
    return Layered(raw, paths)


def baseline_of(config: HotlineConfig) -> dict[str, Any]:
    """*config* as a table the settings can be laid over, as its file would give it: what
    a process started with, including what its code set on top of the file (a test's
    provider, a rehearsal's staffing)."""
    raw = config.model_dump(exclude={"source"})
    spoken = {emergency_prompt(scope) for scope in config.emergency}
    for language in raw["languages"].values():
        language["prompts"] = {k: v for k, v in language["prompts"].items() if k not in spoken}
    return raw


def rules_in_force(
    raw_file: Mapping[str, Any], settings: Mapping[str, Any]
) -> tuple[HotlineConfig | None, list[Problem]]:
    """The configuration *raw_file* gives with *settings* over it, and every problem, each
    named by the setting's key where a setting brought it."""
    layered = lay_over(raw_file, settings)
    config, problems = check_data(layered.raw)
    return config, [_named(problem, layered.paths) for problem in problems]


def _named(problem: Problem, paths: Mapping[str, str]) -> Problem:
    for path, key in paths.items():
        if is_about(problem.path, path):
            return Problem(key + problem.path[len(path) :], problem.value, problem.allowed)
    return problem


def _table(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    return value if isinstance(value, dict) else {}


def _listed(raw: Mapping[str, Any], name: str) -> str:
    return ", ".join(sorted(_table(raw, name))) or "(none)"


def _list(raw: dict[str, Any], section: str, name: str) -> list[Any]:
    table = raw.setdefault(section, {})
    entries = table.setdefault(name, [])
    return entries  # type: ignore[no-any-return]
