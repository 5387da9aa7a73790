"""Rules that relate one part of the configuration to another, or to the world outside it.

Each rule takes the sections that validated (``sections``) and the file as
written (``raw``), and returns its problems. References are checked against
``raw`` so an entry that is broken in itself still has its references
checked; rules that need a whole model skip the sections that did not
validate, since those are already reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import holidays

from callflow.config.database_url import database_url_problem, printable_url
from callflow.config.models import (
    ADVISOR_PROMPTS,
    DATE_FORMAT_FIELDS,
    EMERGENCY_SCOPE_LINE,
    PROMPT_PLACEHOLDERS,
    PROVIDER_PROMPTS,
    SURVEY_PROMPTS,
    TIME_FORMAT_FIELDS,
    WEEKDAYS,
    CalendarConfig,
    CallbacksConfig,
    DailyRange,
    EmergencyConfig,
    LanguageConfig,
    PromiseConfig,
    QueueConfig,
    StaffingBlock,
    emergency_prompt,
    placeholders_in,
)
from callflow.errors import MISSING, Problem
from callflow.logging import hide_passwords_in
from callflow.values.durations import format_duration

Sections = dict[str, Any]
Rule = Callable[[Sections, Mapping[str, Any]], list[Problem]]

DATABASE_ENV = "CALLFLOW_DATABASE_URL"


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
    line = raw.get("line")
    default_language = line.get("default_language") if isinstance(line, dict) else None
    for code, language in languages.items():
        if not re.fullmatch(r"[a-z]{2,3}", code):
            problems.append(
                Problem(f"languages.{code}", code, "a language code such as 'fi', 'sv' or 'en'")
            )
        required = PROMPT_PLACEHOLDERS.keys() - PROVIDER_PROMPTS
        if _table(raw, "survey").get("enabled") is not True:
            required -= SURVEY_PROMPTS
        if code != default_language:
            required -= ADVISOR_PROMPTS
        for key in sorted(required):
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
                problems.append(Problem(path, text, str(exc)))
                continue
            for name in sorted(used - allowed):
                shown = ", ".join(f"{{{a}}}" for a in sorted(allowed)) or "none"
                problems.append(
                    Problem(path, text, f"unknown placeholder {{{name}}}; allowed: {shown}")
                )
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
        return [Problem(path, text, f"{exc}; allowed: {shown}")]
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
        problems.extend(_unknown_skill(path, queue, skills))
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


def _unknown_skill(path: str, entry: Mapping[str, Any], skills: list[str] | None) -> list[Problem]:
    skill = entry.get("skill")
    if skills is not None and isinstance(skill, str) and skill not in skills:
        return [Problem(f"{path}.skill", skill, _one_of("skills", skills))]
    return []


def _one_of(section: str, names: Iterable[str]) -> str:
    return f"one of {section}: {', '.join(sorted(names))}"


def _check_staffing(sections: Sections, raw: Mapping[str, Any]) -> list[Problem]:
    problems = []
    given = raw.get("staffing")
    blocks = given if isinstance(given, list) else []
    skills = _skills(raw)
    known_languages = _names(raw, "languages")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        path = f"staffing[{i}]"
        problems.extend(_unknown_skill(path, block, skills))
        codes = block.get("languages")
        if known_languages is not None and isinstance(codes, list):
            for code in codes:
                if code not in known_languages:
                    problems.append(
                        Problem(f"{path}.languages", code, _one_of("languages", known_languages))
                    )
    if problems or len(sections.get("staffing", [])) < len(blocks):
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


def promise_fits_day(promise: PromiseConfig, day_length: timedelta) -> list[str]:
    """Why *promise* cannot work on a day open for *day_length*, if it cannot."""
    problems = []
    if promise.kind == "same_day":
        open_for = format_duration(day_length)
        if promise.late_margin >= day_length:
            problems.append(
                f"late_margin {format_duration(promise.late_margin)} runs past closing "
                f"on a day open {open_for}; make it shorter"
            )
        if promise.cutoff_before_close >= day_length:
            problems.append(
                f"cutoff_before_close {format_duration(promise.cutoff_before_close)} is not "
                f"shorter than a day open {open_for}"
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
    calendar: CalendarConfig | None = sections.get("calendar")
    for i, special in enumerate(calendar.special_hours if calendar else ()):
        if not special.hours:
            continue
        length = _open_length(special.hours)
        for name, queue in queues.items():
            for reason in promise_fits_day(queue.promise, length):
                problems.append(
                    Problem(
                        f"calendar.special_hours[{i}].hours",
                        [str(r) for r in special.hours],
                        f"{reason} (queue {name}'s promise, on {special.date})",
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


def _check_simulation(sections: Sections, raw: Mapping[str, Any]) -> list[Problem]:
    """The simulated callers' mix may only name configured languages and queues."""
    given = raw.get("simulation")
    if not isinstance(given, Mapping):
        return []
    problems = []
    for key, section in (("languages", "languages"), ("topics", "queues")):
        known = raw.get(section)
        mix = given.get(key)
        if not isinstance(mix, Mapping) or not isinstance(known, Mapping):
            continue
        for name, weight in mix.items():
            if name not in known:
                problems.append(
                    Problem(f"simulation.{key}.{name}", weight, _one_of(section, known))
                )
        if mix and not any(isinstance(w, int | float) and w > 0 for w in mix.values()):
            problems.append(Problem(f"simulation.{key}", dict(mix), "at least one weight above 0"))
    scores = given.get("survey_score_weights")
    if isinstance(scores, list) and not any(isinstance(w, int | float) and w > 0 for w in scores):
        problems.append(
            Problem("simulation.survey_score_weights", scores, "at least one weight above 0")
        )
    return problems


def _check_web_requests(sections: Sections, raw: Mapping[str, Any]) -> list[Problem]:
    """Web requests go to queues that take callbacks, and the page asks consent in every
    language of the line: a resident who chose Swedish must read what they agree to. (A
    consent in a language the line lacks is kept for the day it has it, as a prompt is.)"""
    given = _table(raw, "web_requests")
    problems = []
    queues: dict[str, QueueConfig] = sections.get("queues", {})
    known = _names(raw, "queues")
    for name in given.get("queues", []) if isinstance(given.get("queues"), list) else []:
        path = f"web_requests.queues.{name}"
        if known is not None and name not in known:
            problems.append(Problem(path, name, _one_of("queues", known)))
        elif name in queues and not queues[name].callbacks.enabled:
            problems.append(
                Problem(path, name, f"queues.{name} takes no callbacks (callbacks.enabled)")
            )
    languages = _names(raw, "languages")
    consent = given.get("consent")
    consent = consent if isinstance(consent, Mapping) else {}
    if given.get("enabled") is True:
        for code in sorted(set(languages or ()) - consent.keys()):
            problems.append(
                Problem(
                    f"web_requests.consent.{code}",
                    MISSING,
                    "the page asks consent in every language of the line",
                )
            )
    return problems


def _check_database_url(_sections: Sections, raw: Mapping[str, Any]) -> list[Problem]:
    """``line.database_url`` must be a URL the store can read, and carry no password:
    secrets come from the environment, since a configuration file is copied, shared and
    committed. A URL with a password goes whole into the environment variable instead."""
    line = raw.get("line")
    url = line.get("database_url") if isinstance(line, Mapping) else None
    if not isinstance(url, str):
        return []
    path = "line.database_url"
    problem = database_url_problem(url)
    if problem is not None:
        return [Problem(path, printable_url(url), problem)]
    if hide_passwords_in(url) != url:
        return [
            Problem(
                path,
                printable_url(url),
                "a password does not belong in this file; put the whole URL in the "
                f"environment variable {DATABASE_ENV} and leave line.database_url out",
            )
        ]
    return []


def _check_emergency(sections: Sections, raw: Mapping[str, Any]) -> list[Problem]:
    """An emergency message names the line or a known queue and is said in every language
    of the line: a caller who chose Swedish must not hear only Finnish on a bad day."""
    problems = []
    messages: dict[str, EmergencyConfig] = sections.get("emergency", {})
    queues = _names(raw, "queues")
    languages = _names(raw, "languages")
    for scope in _table(raw, "emergency"):
        if scope != EMERGENCY_SCOPE_LINE and queues is not None and scope not in queues:
            problems.append(
                Problem(
                    f"emergency.{scope}",
                    scope,
                    f"'{EMERGENCY_SCOPE_LINE}' or a queue; {_one_of('queues', queues)}",
                )
            )
    for scope, message in messages.items():
        for code in sorted(set(languages or ()) - message.texts.keys()):
            problems.append(
                Problem(
                    f"emergency.{scope}.texts.{code}",
                    MISSING,
                    "the message must be said in every language of the line",
                )
            )
        for code, text in message.texts.items():
            path = f"emergency.{scope}.texts.{code}"
            if languages is not None and code not in languages:
                problems.append(Problem(path, code, _one_of("languages", languages)))
                continue
            try:
                used = placeholders_in(text)
            except ValueError as exc:
                problems.append(Problem(path, text, str(exc)))
                continue
            if used:
                problems.append(Problem(path, text, "an emergency message takes no placeholders"))
        for code, language in sections.get("languages", {}).items():
            if emergency_prompt(scope) in language.prompts:
                problems.append(
                    Problem(
                        f"languages.{code}.prompts.{emergency_prompt(scope)}",
                        language.prompts[emergency_prompt(scope)],
                        f"this prompt is the emergency message's; set it under [emergency.{scope}]",
                    )
                )
    return problems


RULES: tuple[Rule, ...] = (
    _check_hours,
    _check_languages,
    _check_queues,
    _check_staffing,
    _check_promises_and_retries,
    _check_simulation,
    _check_database_url,
    _check_emergency,
    _check_web_requests,
)
