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

from callflow.config.models import EmergencyConfig, HotlineConfig, emergency_prompt
from callflow.config.moved import without_moved_keys
from callflow.config.rules import RULES, Sections
from callflow.errors import MISSING, Problem
from callflow.logging import hide_passwords_in

SHOWN_LENGTH = 80
"""A value longer than this (as printed) is cut: the problem's place says where the rest is."""
_SECRET_KEY = re.compile(r"pass(word|wd|phrase)?$|secret|token|credential|api_?key", re.I)
"""Keys whose values are secrets: a misplaced one is named, its value never shown."""


class _Shown:
    """A value as a problem prints it, when that is not the value itself (cut or hidden)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


SECRET = _Shown("(not shown: a secret)")


def check_text(text: str) -> tuple[HotlineConfig | None, list[Problem]]:
    """Parse and check TOML *text*: the configuration if it is sound, and every problem."""
    raw, problem = parse_text(text)
    if raw is None:
        return None, [problem] if problem else []
    return check_data(raw)


def parse_text(text: str) -> tuple[dict[str, Any] | None, Problem | None]:
    """TOML *text* as a table, or why it cannot be read."""
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        return None, _toml_problem(exc)
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively, with no limit of
        # its own; it does not say where it was.
        return None, Problem(
            "file",
            MISSING,
            "nesting too deep: arrays or inline tables inside one another hundreds of "
            "levels deep; no setting needs more than a few",
        )


def check_data(raw: Mapping[str, Any]) -> tuple[HotlineConfig | None, list[Problem]]:
    raw, problems = without_moved_keys(raw)
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
        return None, [_printable(problem) for problem in problems]
    return HotlineConfig(**_with_emergency_prompts(sections)), []


def _with_emergency_prompts(sections: Sections) -> Sections:
    """Each emergency message as a prompt of each language, so every provider says (and
    Asterisk's sound files render) it as any other prompt."""
    messages: dict[str, EmergencyConfig] = sections.get("emergency", {})
    if not messages:
        return sections
    languages = {
        code: language.model_copy(
            update={
                "prompts": language.prompts
                | {
                    emergency_prompt(scope): message.texts[code]
                    for scope, message in messages.items()
                    if code in message.texts
                }
            }
        )
        for code, language in sections["languages"].items()
    }
    return sections | {"languages": languages}


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


# -- what a problem may show ------------------------------------------------------------


def _printable(problem: Problem) -> Problem:
    """*problem* fit to print: a secret-looking key's value hidden (secrets never belong in
    the file, and the output lands in terminals, tickets and CI logs), URL passwords hidden,
    a long value cut."""
    allowed = hide_passwords_in(problem.allowed)
    if _SECRET_KEY.search(re.split(r"[.\[]", problem.path)[-1]):
        return Problem(
            problem.path,
            SECRET,
            f"{allowed}; secrets are read from environment variables, never from this file",
        )
    value = _without_secrets(problem.value, SHOWN_LENGTH)
    shown = repr(value)
    if len(shown) > SHOWN_LENGTH:
        value = _Shown(f"{shown[: SHOWN_LENGTH - 1]}…")
    return Problem(problem.path, value, allowed)


def _without_secrets(value: Any, depth: int) -> Any:
    """*value* with secret-looking keys' values and URL passwords hidden. Past *depth*
    levels the printed value is cut before it gets there, so nothing deeper is looked at."""
    if depth <= 0:
        return value
    if isinstance(value, str):
        return hide_passwords_in(value)
    if isinstance(value, Mapping):
        return {
            key: SECRET if _SECRET_KEY.search(str(key)) else _without_secrets(item, depth - 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_without_secrets(item, depth - 1) for item in value)
    return value


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
