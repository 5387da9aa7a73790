"""Every problem in a configuration file, each with its key path.

Admins check a file before it goes live, so one run must list *all* that is
wrong, not the first thing. Each top-level section is validated on its own;
checks that relate sections run on whichever sections came through, so a
broken ``[line]`` does not hide an unknown skill in ``[queues]``.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import holidays
from pydantic import BaseModel, TypeAdapter, ValidationError

from callflow.config.models import (
    DATE_FORMAT_FIELDS,
    PROMPT_PLACEHOLDERS,
    TIME_FORMAT_FIELDS,
    WEEKDAYS,
    CalendarConfig,
    CallbacksConfig,
    DailyRange,
    HotlineConfig,
    LanguageConfig,
    QueueConfig,
    StaffingBlock,
    placeholders_in,
)
from callflow.engine.durations import format_duration
from callflow.engine.promise import promise_fits_day
from callflow.errors import MISSING, Problem

Sections = dict[str, Any]


def check_text(text: str) -> tuple[HotlineConfig | None, list[Problem]]:
    """Parse and check TOML *text*: the configuration if it is sound, and every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [_toml_problem(exc)]
    return check_data(raw)


def check_data(raw: Mapping[str, Any]) -> tuple[HotlineConfig | None, list[Problem]]:
    problems: list[Problem] = []
    sections: Sections = {}
    fields = HotlineConfig.model_fields
    for key in raw:
        if key not in fields or key == "source":
            allowed = ", ".join(sorted(k for k in fields if k != "source"))
            problems.append(Problem(key, raw[key], f"unknown section; sections are: {allowed}"))
    for name, field in fields.items():
        if name == "source":
            continue
        if name not in raw:
            if field.is_required():
                problems.append(Problem(name, MISSING, "this section is required"))
            continue
        value, section_problems = _validate_section(name, field.annotation, raw[name])
        problems.extend(section_problems)
        if value is not None:
            sections[name] = value
    for check in _CHECKS:
        problems.extend(check(sections, raw))
    if problems:
        return None, problems
    return HotlineConfig(**sections), []


def _validate_section(name: str, annotation: Any, value: Any) -> tuple[Any, list[Problem]]:
    """Validate one section; a table of entries or a list is validated entry by entry,
    so one broken entry does not hide the checks on the others."""
    origin = typing.get_origin(annotation)
    if origin is dict and isinstance(value, dict):
        key_type, item = typing.get_args(annotation)
        good: dict[str, Any] = {}
        problems: list[Problem] = []
        for key, entry in value.items():
            try:
                TypeAdapter(key_type).validate_python(key)
            except ValidationError:
                allowed = ", ".join(typing.get_args(key_type))
                problems.append(Problem(f"{name}.{key}", entry, f"unknown key; allowed: {allowed}"))
                continue
            checked, entry_problems = _validate(f"{name}.{key}", item, entry, (name, key))
            problems += entry_problems
            if checked is not None:
                good[key] = checked
        return good, problems
    if origin is list and isinstance(value, list):
        item = typing.get_args(annotation)[0]
        items: list[Any] = []
        problems = []
        for i, entry in enumerate(value):
            checked, entry_problems = _validate(f"{name}[{i}]", item, entry, (name, i))
            problems += entry_problems
            if checked is not None:
                items.append(checked)
        return items, problems
    return _validate(name, annotation, value, (name,))


def _validate(
    path: str, annotation: Any, value: Any, loc: tuple[Any, ...]
) -> tuple[Any, list[Problem]]:
    try:
        return TypeAdapter(annotation).validate_python(value), []
    except ValidationError as exc:
        return None, _pydantic_problems(exc, loc, annotation)


# -- turning parser errors into problems -----------------------------------------------


def _toml_problem(exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    where = f"line {match.group(1)}, column {match.group(2)}" if match else "file"
    reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
    return Problem(where, MISSING, f"not valid TOML: {reason}")


def _pydantic_problems(
    exc: ValidationError, prefix: tuple[Any, ...], annotation: Any
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        path = _path((*prefix, *loc))
        value = MISSING if error["type"] == "missing" else error.get("input")
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "this key is required"
        elif error["type"] == "extra_forbidden":
            allowed = _keys_at(annotation, loc[:-1])
            message = "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        problems.append(Problem(path, value, message))
    return problems


def _path(loc: Iterable[object]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _keys_at(annotation: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at *loc* (below *annotation*) accepts, for "unknown key" messages."""
    current = annotation
    for part in (*loc, None):
        current = _unwrap(current)
        if part is None:
            break
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(k for k in current.model_fields if k != "source")
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation


# -- checks across sections --------------------------------------------------------------


def _check_hours(sections: Sections, raw: Mapping[str, Any]) -> list[Problem]:
    problems = []
    hours: dict[str, list[DailyRange]] = sections.get("hours", {})
    for day, ranges in hours.items():
        problems.extend(_overlaps(f"hours.{day}", ranges))
    if "hours" in sections and not any(hours.values()):
        problems.append(Problem("hours", {}, "the line must open on at least one weekday"))
    calendar: CalendarConfig | None = sections.get("calendar")
    if calendar is None:
        return problems
    if calendar.holidays and calendar.holidays not in holidays.list_supported_countries():
        problems.append(
            Problem(
                "calendar.holidays",
                calendar.holidays,
                "a country code the holidays package knows, such as 'FI'",
            )
        )
    seen: dict[object, int] = {}
    for i, special in enumerate(calendar.special_hours):
        path = f"calendar.special_hours[{i}]"
        problems.extend(_overlaps(f"{path}.hours", special.hours))
        if special.date in seen:
            problems.append(
                Problem(
                    f"{path}.date",
                    special.date.isoformat(),
                    f"already given in calendar.special_hours[{seen[special.date]}]",
                )
            )
        seen[special.date] = i
    return problems


def _overlaps(path: str, ranges: list[DailyRange]) -> list[Problem]:
    problems = []
    for i, a in enumerate(ranges):
        for j in range(i + 1, len(ranges)):
            if a.overlaps(ranges[j]):
                problems.append(
                    Problem(
                        f"{path}[{j}]",
                        str(ranges[j]),
                        f"overlaps {path}[{i}] ({a}); give each hour once",
                    )
                )
    return problems


def _check_languages(sections: Sections, raw: Mapping[str, Any]) -> list[Problem]:
    problems = []
    languages: dict[str, LanguageConfig] = sections.get("languages", {})
    if raw.get("languages") == {}:
        problems.append(Problem("languages", {}, "at least one language is required"))
    problems.extend(_unique_digits("languages", {k: v.digit for k, v in languages.items()}))
    extra_prompts: set[str] = set()
    for code, language in languages.items():
        if not re.fullmatch(r"[a-z]{2,3}", code):
            problems.append(
                Problem(f"languages.{code}", code, "a language code such as 'fi', 'sv' or 'en'")
            )
        for key in PROMPT_PLACEHOLDERS:
            if key not in language.prompts:
                problems.append(
                    Problem(
                        f"languages.{code}.prompts.{key}",
                        MISSING,
                        "every language needs this prompt",
                    )
                )
        for key, text in language.prompts.items():
            path = f"languages.{code}.prompts.{key}"
            allowed = PROMPT_PLACEHOLDERS.get(key, frozenset())
            try:
                used = placeholders_in(text)
            except ValueError as exc:
                problems.append(
                    Problem(path, text, f"broken braces ({exc}); write {{{{ for a brace")
                )
                continue
            for name in sorted(used - allowed):
                shown = ", ".join(f"{{{a}}}" for a in sorted(allowed)) or "none"
                problems.append(
                    Problem(path, text, f"unknown placeholder {{{name}}}; allowed: {shown}")
                )
            if key not in PROMPT_PLACEHOLDERS:
                extra_prompts.add(key)
        for key, allowed in (
            ("time_format", TIME_FORMAT_FIELDS),
            ("date_format", DATE_FORMAT_FIELDS),
        ):
            problems.extend(
                _format_problems(f"languages.{code}.{key}", getattr(language, key), allowed)
            )
    known = _names(raw, "languages")
    default = _table(raw, "line").get("default_language")
    if known is not None and isinstance(default, str) and default not in known:
        problems.append(Problem("line.default_language", default, _one_of("languages", known)))
    return problems


def _format_problems(path: str, text: str, allowed: frozenset[str]) -> list[Problem]:
    shown = ", ".join(f"{{{a}}}" for a in sorted(allowed))
    try:
        used = placeholders_in(text)
    except ValueError as exc:
        return [Problem(path, text, f"broken braces ({exc}); use {shown}")]
    if used - allowed:
        return [Problem(path, text, f"unknown placeholder; allowed: {shown}")]
    return []


def _unique_digits(section: str, digits: dict[str, int]) -> list[Problem]:
    problems = []
    owner: dict[int, str] = {}
    for name, digit in digits.items():
        if digit in owner:
            problems.append(
                Problem(
                    f"{section}.{name}.digit",
                    digit,
                    f"already used by {section}.{owner[digit]}; each needs its own digit",
                )
            )
        owner.setdefault(digit, name)
    return problems


def _check_queues(sections: Sections, raw: Mapping[str, Any]) -> list[Problem]:
    problems = []
    queues: dict[str, QueueConfig] = sections.get("queues", {})
    languages: dict[str, LanguageConfig] = sections.get("languages", {})
    if raw.get("queues") == {}:
        problems.append(Problem("queues", {}, "at least one queue is required"))
    problems.extend(_unique_digits("queues", {k: v.digit for k, v in queues.items()}))
    skills = _skills(raw)
    known_languages = _names(raw, "languages")
    for name, queue in _table(raw, "queues").items():
        path = f"queues.{name}"
        if not isinstance(queue, dict):
            continue
        skill = queue.get("skill")
        if skills is not None and isinstance(skill, str) and skill not in skills:
            problems.append(Problem(f"{path}.skill", skill, _one_of("skills", skills)))
        names = queue.get("names")
        if known_languages is not None and isinstance(names, dict):
            for code in known_languages:
                if code not in names:
                    problems.append(
                        Problem(
                            f"{path}.names.{code}",
                            MISSING,
                            "the queue needs a name in every language",
                        )
                    )
            for code in names:
                if code not in known_languages:
                    problems.append(
                        Problem(
                            f"{path}.names.{code}",
                            names[code],
                            _one_of("languages", known_languages),
                        )
                    )
    for name, checked in queues.items():
        path = f"queues.{name}"
        alternative = checked.callbacks.alternative_prompt
        if checked.callbacks.when_promise_unmeetable == "alternative" and not alternative:
            problems.append(
                Problem(
                    f"{path}.callbacks.alternative_prompt",
                    MISSING,
                    "name the prompt to say when no callback can keep the promise",
                )
            )
        for code, language in languages.items():
            if alternative and alternative not in language.prompts:
                problems.append(
                    Problem(
                        f"{path}.callbacks.alternative_prompt",
                        alternative,
                        f"no such prompt in languages.{code}.prompts",
                    )
                )
        if checked.closing_policy == "callback" and not checked.callbacks.enabled:
            problems.append(
                Problem(
                    f"{path}.closing_policy",
                    "callback",
                    "needs callbacks.enabled = true, or use 'serve'",
                )
            )
    known_queues = _names(raw, "queues")
    fallback = _table(raw, "menu").get("fallback_topic")
    if known_queues is not None and isinstance(fallback, str) and fallback not in known_queues:
        problems.append(Problem("menu.fallback_topic", fallback, _one_of("queues", known_queues)))
    return problems


def _table(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    return value if isinstance(value, dict) else {}


def _names(raw: Mapping[str, Any], name: str) -> list[str] | None:
    """Names declared under a table section, valid or not; None if the section is absent."""
    value = raw.get(name)
    return list(value) if isinstance(value, dict) else None


def _skills(raw: Mapping[str, Any]) -> list[str] | None:
    value = raw.get("skills")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _one_of(section: str, names: Iterable[str]) -> str:
    return f"one of {section}: {', '.join(sorted(names))}"


def _check_staffing(sections: Sections, raw: Mapping[str, Any]) -> list[Problem]:
    problems = []
    blocks = raw.get("staffing")
    skills = _skills(raw)
    known_languages = _names(raw, "languages")
    for i, block in enumerate(blocks if isinstance(blocks, list) else []):
        if not isinstance(block, dict):
            continue
        path = f"staffing[{i}]"
        skill = block.get("skill")
        if skills is not None and isinstance(skill, str) and skill not in skills:
            problems.append(Problem(f"{path}.skill", skill, _one_of("skills", skills)))
        codes = block.get("languages")
        if known_languages is not None and isinstance(codes, list):
            for code in codes:
                if code not in known_languages:
                    problems.append(
                        Problem(f"{path}.languages", code, _one_of("languages", known_languages))
                    )
    given = blocks if isinstance(blocks, list) else []
    if problems or len(sections.get("staffing", [])) < len(given):
        return problems  # a broken plan is reported above; what it would leave unserved is noise
    return _unserved(sections, skills or [])


def _unserved(sections: Sections, skills: list[str]) -> list[Problem]:
    """Every queue must be planned for in every language it is offered in: callback times
    are promised from the plan, so without it no callback could ever be offered."""
    blocks: list[StaffingBlock] = sections.get("staffing", [])
    queues: dict[str, QueueConfig] = sections.get("queues", {})
    languages: dict[str, LanguageConfig] = sections.get("languages", {})
    if not blocks:
        if any(q.callbacks.enabled for q in queues.values()):
            return [
                Problem(
                    "staffing",
                    MISSING,
                    "callback times are promised from the planned "
                    "staffing; add [[staffing]] blocks, or set callbacks.enabled = false "
                    "in every queue",
                )
            ]
        return []
    problems = []
    for name, queue in queues.items():
        if queue.skill not in skills:
            continue  # reported as an unknown skill
        for code in languages:
            if not any(b.skill == queue.skill and code in b.languages for b in blocks):
                problems.append(
                    Problem(
                        "staffing",
                        f"{queue.skill}/{code}",
                        f"no [[staffing]] block plans a {queue.skill} who speaks {code}, so "
                        f"queues.{name} callers choosing {code} would wait for nobody; "
                        f"add '{code}' to such a block",
                    )
                )
    return problems


def _check_promises_and_retries(sections: Sections, raw: Mapping[str, Any]) -> list[Problem]:
    """Promises and the retry policy must fit every usual working day."""
    problems = []
    hours: dict[str, list[DailyRange]] = sections.get("hours", {})
    days = {day: ranges for day, ranges in hours.items() if ranges}
    queues: dict[str, QueueConfig] = sections.get("queues", {})
    if days:
        shortest, length = min(
            ((day, _open_length(ranges)) for day, ranges in days.items()), key=lambda d: d[1]
        )
        for name, queue in queues.items():
            for reason in promise_fits_day(queue.promise, length):
                problems.append(
                    Problem(
                        f"queues.{name}.promise",
                        queue.promise.kind,
                        f"{reason} ({shortest}, the shortest usual day)",
                    )
                )
    callbacks: CallbacksConfig | None = sections.get("callbacks")
    if callbacks is None or not days:
        return problems
    retry = callbacks.retry
    needed = retry.spacing * (retry.attempts - 1)
    for day in WEEKDAYS:
        if day not in days:
            continue
        usable = sum((_intersection(r, retry.allowed_hours) for r in days[day]), timedelta(0))
        if usable <= timedelta(0):
            problems.append(
                Problem(
                    "callbacks.retry.allowed_hours",
                    str(retry.allowed_hours),
                    f"must overlap the opening hours ({day})",
                )
            )
            break
        if needed >= usable:
            problems.append(
                Problem(
                    "callbacks.retry",
                    {"attempts": retry.attempts, "spacing": format_duration(retry.spacing)},
                    f"{retry.attempts} attempts {format_duration(retry.spacing)} apart need "
                    f"{format_duration(needed)}, but {day} has only {format_duration(usable)} "
                    "of dialling time; use fewer attempts or shorter spacing",
                )
            )
            break
    return problems


def _open_length(ranges: list[DailyRange]) -> timedelta:
    """From the day's first opening to its last closing, whatever order the ranges are in."""
    return timedelta(
        minutes=max(r.end_minute for r in ranges) - min(r.start_minute for r in ranges)
    )


def _intersection(a: DailyRange, b: DailyRange) -> timedelta:
    start, end = max(a.start_minute, b.start_minute), min(a.end_minute, b.end_minute)
    return timedelta(minutes=max(end - start, 0))


_CHECKS = (
    _check_hours,
    _check_languages,
    _check_queues,
    _check_staffing,
    _check_promises_and_retries,
)
