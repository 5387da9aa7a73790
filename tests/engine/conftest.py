"""Fixtures for driving calls through the engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callflow.config.layers import rules_in_force
from callflow.config.load import read_file
from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.events import ExistingCallback
from tests.conftest import EXAMPLE_CONFIG
from tests.engine.caller import Caller
from tests.fakes.queue import FakeQueue

MONDAY_10 = datetime(2026, 1, 12, 10, tzinfo=ZoneInfo("Europe/Helsinki")).astimezone(UTC)

MakeCaller = Callable[..., Caller]

EXAMPLE_FILE = read_file(EXAMPLE_CONFIG)
"""The example line's file as TOML reads it, for settings to be laid over."""


def with_settings(
    settings: Mapping[str, Any], file: Mapping[str, Any] = EXAMPLE_FILE
) -> HotlineConfig:
    """The line of *file* with *settings* (key → value) stored over it, as a running line
    has them: checked by the rules of ``callflow config check``."""
    config, problems = rules_in_force(file, settings)
    assert config is not None and problems == [], problems
    return config


@pytest.fixture(scope="module")
def calendar(config: HotlineConfig) -> Calendar:
    return Calendar.from_config(config)


@pytest.fixture
def call(config: HotlineConfig, calendar: Calendar) -> MakeCaller:
    """Make a caller: ``call(at=..., cfg=..., existing=..., staffed=..., ...)``.

    Keywords other than the first three set the queue's state (see FakeQueue);
    by default four advisors are staffed and planned, none of them free.
    """

    def make(
        at: datetime = MONDAY_10,
        cfg: HotlineConfig | None = None,
        existing: ExistingCallback | None = None,
        **queue: Any,
    ) -> Caller:
        used = cfg or config
        cal = calendar if cfg is None else Calendar.from_config(used)
        defaults: dict[str, Any] = {"staffed": 4, "planned": 4}
        return Caller(used, cal, FakeQueue(cal, **{**defaults, **queue}), at, existing=existing)

    return make
