"""The rules in force in a running process: a change made in one process is in force in
the others, a reload reads the file again, and a broken file changes nothing."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from callflow.config.load import load_config
from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.service.rules import LineRules, RulesInForce, follow_rules, kept_current
from callflow.store.session import Database, OutageLog
from tests.conftest import EXAMPLE_CONFIG

T0 = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)  # Tuesday 10:00 in Helsinki: open
LENGTH = "queues.health.overflow.queue_length"
CLOSED_NOW = {"start": "2026-12-08T10:00:00", "end": "2026-12-08T11:00:00", "reason": "Meeting"}


@pytest.fixture
def line_file(tmp_path: Path) -> Path:
    """A copy of the example the test may edit."""
    copy = tmp_path / "hotline.toml"
    shutil.copy(EXAMPLE_CONFIG, copy)
    return copy


def test_a_change_made_in_one_process_is_in_force_in_another(
    database: Database, config: HotlineConfig
) -> None:
    here, there = LineRules.load(config, database), LineRules.load(config, database)
    heard: list[RulesInForce] = []
    there.on_change(heard.append)
    assert there.calendar.is_open(T0)

    here.change("calendar.closures.2026-12-08T10:00", CLOSED_NOW, by="anna", now=T0)
    assert not here.calendar.is_open(T0), "in force at once where it was made"
    assert there.calendar.is_open(T0), "until the other hears of it"

    assert there.refresh()
    assert not there.calendar.is_open(T0)
    assert [rules.version for rules in heard] == [here.current.version]
    assert not there.refresh(), "nothing new: nothing to do"


def test_an_undo_reaches_the_others_too(database: Database, config: HotlineConfig) -> None:
    here, there = LineRules.load(config, database), LineRules.load(config, database)
    made = here.change(LENGTH, 9, by="anna", now=T0)
    there.refresh()
    assert there.config.queues["health"].overflow.queue_length == 9
    here.undo(made.id, by="pirjo", now=T0)
    there.refresh()
    assert there.config.queues["health"].overflow.queue_length == 3


def test_a_reload_request_reads_every_processs_file_again(
    database: Database, line_file: Path
) -> None:
    config = load_config(line_file)
    here, there = LineRules.load(config, database), LineRules.load(config, database)
    text = line_file.read_text(encoding="utf-8")
    line_file.write_text(
        text.replace("queue_length = 3,", "queue_length = 4,", 1), encoding="utf-8"
    )
    assert there.config.queues["health"].overflow.queue_length == 3, "not until asked"

    here.request_reload(by="cli:root", now=T0)
    there.refresh()
    assert here.config.queues["health"].overflow.queue_length == 4
    assert there.config.queues["health"].overflow.queue_length == 4


def test_a_broken_file_is_refused_whole(database: Database, line_file: Path) -> None:
    config = load_config(line_file)
    rules = LineRules.load(config, database)
    rules.change(LENGTH, 6, by="anna", now=T0)
    text = line_file.read_text(encoding="utf-8")
    broken = text.replace('estimated_wait = "3m"', 'estimated_wait = "soon"', 1)
    line_file.write_text(broken.replace('input_timeout = "6s"', 'input_timeout = "never"'), "utf-8")

    with structlog.testing.capture_logs() as logs:
        assert not rules.reload_file()
    (refused,) = [entry for entry in logs if entry["event"] == "config.reload_refused"]
    assert any("queues.health.overflow.estimated_wait" in p for p in refused["problems"])
    assert any("menu.input_timeout" in p for p in refused["problems"]), "every problem"
    assert rules.config.queues["health"].overflow.queue_length == 6, "what was in force stays"
    assert rules.config.menu.input_timeout.total_seconds() == 6


def test_a_file_edited_under_a_setting_it_no_longer_admits(
    database: Database, line_file: Path
) -> None:
    """A stored emergency message for a queue the edited file no longer has: the reload is
    refused (the file with the settings must pass), and the line runs on."""
    config = load_config(line_file)
    rules = LineRules.load(config, database)
    texts = {"fi": "Häiriö.", "sv": "Störning.", "en": "Outage."}
    rules.change(
        "emergency.other", {"texts": texts, "start": "2026-12-08T09:00:00"}, by="a", now=T0
    )
    text = line_file.read_text(encoding="utf-8")
    line_file.write_text(text.replace("[queues.other]", "[queues.misc]", 1), encoding="utf-8")
    with structlog.testing.capture_logs() as logs:
        assert not rules.reload_file()
    assert [e["event"] for e in logs] == ["config.reload_refused"]
    assert "other" in rules.config.queues


def test_following_hears_another_processs_change_within_two_seconds(
    database: Database, config: HotlineConfig
) -> None:
    """PostgreSQL: its notification; SQLite: the latest change id, read twice a second."""

    async def scenario() -> None:
        follower, maker = LineRules.load(config, database), LineRules.load(config, database)
        changed = asyncio.Event()
        follower.on_change(lambda _rules: loop.call_soon_threadsafe(changed.set))
        loop = asyncio.get_running_loop()
        following = asyncio.create_task(follow_rules(follower, database, OutageLog(FakeClock(T0))))
        await asyncio.sleep(0)  # let it start listening before the change is made
        if database.dialect == "postgresql":
            await _listening(database)
        await asyncio.to_thread(maker.change, LENGTH, 7, by="anna", now=T0)
        await asyncio.wait_for(changed.wait(), 2.0)
        assert follower.config.queues["health"].overflow.queue_length == 7
        following.cancel()

    asyncio.run(scenario())


async def _listening(database: Database) -> None:
    """Until the follower's LISTEN is in place (a notification sent before is lost)."""
    from sqlalchemy import text  # noqa: PLC0415

    async with asyncio.timeout(10):
        while True:
            with database.reading() as session:
                found = session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE query ILIKE 'LISTEN%callflow_line_changes%'"
                    )
                )
            if found:
                return
            await asyncio.sleep(0.05)


def test_sighup_reads_the_file_again(database: Database, line_file: Path) -> None:
    config = load_config(line_file)
    rules = LineRules.load(config, database)
    text = line_file.read_text(encoding="utf-8")
    line_file.write_text(
        text.replace("queue_length = 3,", "queue_length = 5,", 1), encoding="utf-8"
    )

    async def scenario() -> None:
        reloaded = asyncio.Event()
        loop = asyncio.get_running_loop()
        rules.on_change(lambda _rules: loop.call_soon_threadsafe(reloaded.set))
        async with kept_current(rules, database, OutageLog(FakeClock(T0))):
            os.kill(os.getpid(), signal.SIGHUP)
            await asyncio.wait_for(reloaded.wait(), 5.0)

    asyncio.run(scenario())
    assert rules.config.queues["health"].overflow.queue_length == 5


def test_the_baseline_is_the_files_alone(database: Database, line_file: Path) -> None:
    """What the reports take: a stored change is not in it; the file read again is."""
    config = load_config(line_file)
    rules = LineRules.load(config, database)
    rules.change("calendar.closures.2026-12-08T10:00", CLOSED_NOW, by="anna", now=T0)
    assert len(rules.config.calendar.closures) == len(rules.baseline.calendar.closures) + 1
    text = line_file.read_text(encoding="utf-8")
    line_file.write_text(text.replace("queue_length = 3,", "queue_length = 4,", 1), "utf-8")
    assert rules.reload_file()
    assert rules.baseline.queues["health"].overflow.queue_length == 4
    assert rules.baseline.calendar.closures == config.calendar.closures


def test_settings_a_file_refused_are_back_once_the_file_is_mended(
    database: Database, line_file: Path
) -> None:
    """A line started on a file edited under a stored setting leaves that one out (the
    others stay in force, and it is still there to take away); started again on the
    mended file, it is in force again."""
    config = load_config(line_file)
    LineRules.load(config, database).change(
        "calendar.special_hours.2026-12-09",
        {"hours": ["09:00-11:30"], "reason": "Training"},
        by="anna",
        now=T0,
    )
    LineRules.load(config, database).change(LENGTH, 6, by="anna", now=T0)
    good = line_file.read_text(encoding="utf-8")
    line_file.write_text(good.replace('late_margin = "2h"', 'late_margin = "165m"'), "utf-8")

    with structlog.testing.capture_logs() as logs:
        rules = LineRules.load(load_config(line_file), database)
    (refused,) = [e for e in logs if e["event"] == "config.settings_refused"]
    assert refused["refused"] == ["calendar.special_hours.2026-12-09"]
    assert set(rules.current.settings) == {LENGTH}, "the rest stays in force"
    assert set(rules.stored) == {LENGTH, "calendar.special_hours.2026-12-09"}

    line_file.write_text(good, "utf-8")
    restarted = LineRules.load(load_config(line_file), database)
    assert set(restarted.current.settings) == set(restarted.stored) == set(rules.stored)


def test_a_file_changing_what_is_set_up_at_start_is_refused(
    database: Database, line_file: Path
) -> None:
    rules = LineRules.load(load_config(line_file), database)
    text = line_file.read_text(encoding="utf-8")
    line_file.write_text(text.replace('skill = "nurse"', 'skill = "social_counsellor"', 1), "utf-8")
    with structlog.testing.capture_logs() as logs:
        assert not rules.reload_file()
    (refused,) = [e for e in logs if e["event"] == "config.reload_refused"]
    assert refused["problems"] == [
        "queues: '(changed)' — read once at start: restart callflow to apply it"
    ]
    assert rules.config.queues["health"].skill == "nurse"


def test_each_new_set_of_rules_has_a_new_generation(database: Database, line_file: Path) -> None:
    """Calls compare generations: a file read again must reach them as a change would."""
    rules = LineRules.load(load_config(line_file), database)
    first = rules.current.generation
    rules.change(LENGTH, 6, by="anna", now=T0)
    changed = rules.current.generation
    text = line_file.read_text(encoding="utf-8")
    line_file.write_text(text.replace('input_timeout = "6s"', 'input_timeout = "7s"'), "utf-8")
    assert rules.reload_file()
    assert first < changed < rules.current.generation


def test_a_listener_failing_stops_no_other(database: Database, config: HotlineConfig) -> None:
    rules = LineRules.load(config, database)
    heard: list[int] = []

    def broken(_rules: RulesInForce) -> None:
        raise RuntimeError("Event loop is closed")

    stop = rules.on_change(broken)
    rules.on_change(lambda new: heard.append(new.version))
    with structlog.testing.capture_logs() as logs:
        made = rules.change(LENGTH, 6, by="anna", now=T0)
    assert heard == [made.id]
    assert "config.listener_failed" in [e["event"] for e in logs]
    stop()
    rules.change(LENGTH, 7, by="anna", now=T0)
    assert len(heard) == 2
