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
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from callflow.config.models import HotlineConfig
from callflow.config.rules import RULES, Sections
from callflow.errors import MISSING, Problem


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
    for rule in RULES:
        problems.extend(rule(sections, raw))
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
