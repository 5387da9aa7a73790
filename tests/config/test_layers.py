"""The file with stored settings laid over it: the keys that may be set live, where each
setting lands, and problems named by the setting that brought them."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from callflow.config.layers import key_problem, lay_over, rules_in_force, setting_problem
from tests.conftest import EXAMPLE_CONFIG


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


CLOSURE = {"start": "2026-12-08T10:00:00", "end": "2026-12-08T11:00:00", "reason": "Meeting"}


def test_a_closure_is_added_beside_the_files(raw: dict[str, Any]) -> None:
    layered = lay_over(raw, {"calendar.closures.2026-12-08T10:00": CLOSURE})
    closures = layered.raw["calendar"]["closures"]
    assert len(closures) == len(raw["calendar"]["closures"]) + 1
    assert closures[-1] == CLOSURE
    assert raw["calendar"]["closures"][-1] != CLOSURE, "the file's table is left as read"


def test_special_hours_replace_the_files_for_that_date(raw: dict[str, Any]) -> None:
    new_years_eve = {"hours": ["09:00-13:00"], "reason": "Longer this year"}
    config, problems = rules_in_force(raw, {"calendar.special_hours.2026-12-31": new_years_eve})
    assert problems == [] and config is not None
    dates = [s.date.isoformat() for s in config.calendar.special_hours]
    assert dates.count("2026-12-31") == 1
    (eve,) = [s for s in config.calendar.special_hours if s.date.isoformat() == "2026-12-31"]
    assert [str(r) for r in eve.hours] == ["09:00-13:00"]


def test_queue_thresholds_and_prompts_are_set(raw: dict[str, Any]) -> None:
    config, problems = rules_in_force(
        raw,
        {
            "queues.health.overflow.queue_length": 6,
            "queues.health.overflow.estimated_wait": "90s",
            "languages.sv.prompts.goodbye": "Hej då.",
        },
    )
    assert problems == [] and config is not None
    assert config.queues["health"].overflow.queue_length == 6
    assert config.queues["health"].overflow.estimated_wait.total_seconds() == 90
    assert config.languages["sv"].prompts["goodbye"] == "Hej då."


def test_a_setting_of_none_leaves_the_files_value(raw: dict[str, Any]) -> None:
    config, _ = rules_in_force(raw, {"queues.health.overflow.queue_length": None})
    assert config is not None
    assert config.queues["health"].overflow.queue_length == 3


def test_an_emergency_message_becomes_a_prompt_of_every_language(raw: dict[str, Any]) -> None:
    texts = {"fi": "Häiriö.", "sv": "Störning.", "en": "An outage."}
    message = {"texts": texts, "mode": "close", "start": "2026-12-08T09:00:00"}
    config, problems = rules_in_force(raw, {"emergency.line": message})
    assert problems == [] and config is not None
    assert {
        code: lang.prompts["emergency_line"] for code, lang in config.languages.items()
    } == texts


def test_a_problem_names_the_settings_key(raw: dict[str, Any]) -> None:
    backwards = CLOSURE | {"end": "2026-12-08T09:00:00"}
    config, problems = rules_in_force(raw, {"calendar.closures.2026-12-08T10:00": backwards})
    assert config is None
    assert [(p.path, p.allowed) for p in problems] == [
        ("calendar.closures.2026-12-08T10:00", "'end' must be after 'start'")
    ]


def test_an_emergency_message_for_an_unknown_queue_is_refused(raw: dict[str, Any]) -> None:
    message = {"texts": {"fi": "a", "sv": "b", "en": "c"}, "start": "2026-12-08T09:00:00"}
    _, problems = rules_in_force(raw, {"emergency.dental": message})
    assert [p.path for p in problems] == ["emergency.dental"]
    assert "health" in problems[0].allowed


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("queues.health.skill", "not set while the line runs"),
        ("queues.dental.closing_policy", "unknown queue; queues are: health, other, social"),
        ("languages.de.prompts.goodbye", "unknown language; languages are: en, fi, sv"),
        ("line.number", "not a setting changed while the line runs"),
        ("calendar.closures.tomorrow", "not a setting changed while the line runs"),
    ],
)
def test_keys_that_cannot_be_set_live(raw: dict[str, Any], key: str, says: str) -> None:
    problem = key_problem(key, raw)
    assert problem is not None and problem.path == key
    assert says in problem.allowed


@pytest.mark.parametrize(
    "key",
    [
        "calendar.closures.2026-12-08T10:00",
        "calendar.closures.2026-12-24",
        "calendar.special_hours.2026-12-31",
        "emergency.line",
        "queues.health.overflow.queue_length",
        "languages.fi.prompts.greeting",
    ],
)
def test_keys_that_can(raw: dict[str, Any], key: str) -> None:
    assert key_problem(key, raw) is None


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        (
            "calendar.closures.2026-12-08T10:00",
            CLOSURE | {"start": "2026-12-09T10:00:00", "end": "2026-12-09T11:00:00"},
            "the key names the closure's start or date (2026-12-08T10:00)",
        ),
        (
            "calendar.closures.2026-12-08",
            CLOSURE,
            "the key names the closure's start or date (2026-12-08)",
        ),
        (
            "calendar.special_hours.2026-12-24",
            {"date": "2026-12-28", "hours": ["09:00-12:00"], "reason": "x"},
            "the key names the date (2026-12-24)",
        ),
        ("languages.fi.prompts.greting", "Hei.", "the line has no prompt 'greting' in fi"),
        ("languages.fi.prompts.emergency_line", "Hei.", "the line has no prompt"),
        ("languages.fi.prompts.greeting", "  ", "an empty text is silence to a caller"),
    ],
)
def test_a_value_that_does_not_fit_its_key_is_refused(
    raw: dict[str, Any], key: str, value: Any, says: str
) -> None:
    problem = setting_problem(key, value, raw)
    assert problem is not None and problem.path == key
    assert says in problem.allowed


def test_a_value_that_fits_its_key_passes(raw: dict[str, Any]) -> None:
    assert setting_problem("calendar.closures.2026-12-08T10:00", CLOSURE, raw) is None
    assert setting_problem("languages.sv.prompts.health_urgent", "Ring 112.", raw) is None
    assert setting_problem("languages.fi.prompts.greeting", None, raw) is None
