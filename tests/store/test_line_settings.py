"""Live settings in the store: every change kept with who, when, old and new; a refused
change stores nothing; an undo is a change of its own."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from callflow.errors import SettingRefused, UnknownChange
from callflow.store.line_settings import (
    RELOAD_KEY,
    LineChange,
    change_setting,
    history,
    read_settings,
    request_reload,
    settings_version,
    undo_change,
)
from callflow.store.session import Database
from tests.conftest import EXAMPLE_CONFIG

T0 = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
LENGTH = "queues.health.overflow.queue_length"


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def changes(database: Database) -> int:
    with database.reading() as session:
        return session.scalar(select(func.count()).select_from(LineChange)) or 0


def test_a_change_is_kept_with_who_when_old_and_new(
    database: Database, raw: dict[str, Any]
) -> None:
    with database.transaction() as session:
        first, config = change_setting(session, raw, LENGTH, 5, by="anna", now=T0)
        second, _ = change_setting(
            session, raw, LENGTH, 7, by="pirjo", now=T0 + timedelta(minutes=1)
        )
    assert config.queues["health"].overflow.queue_length == 5
    assert (first.by, first.at, first.old_value, first.new_value) == ("anna", T0, None, 5)
    assert (second.old_value, second.new_value) == (5, 7)
    with database.reading() as session:
        settings = read_settings(session)
        assert settings.values == {LENGTH: 7}
        assert settings.version == second.id == settings_version(session)
        assert settings.changes[LENGTH].by == "pirjo"


def test_none_takes_a_setting_away(database: Database, raw: dict[str, Any]) -> None:
    with database.transaction() as session:
        change_setting(session, raw, LENGTH, 5, by="anna", now=T0)
        removed, config = change_setting(session, raw, LENGTH, None, by="anna", now=T0)
    assert config.queues["health"].overflow.queue_length == 3  # the file's
    assert (removed.old_value, removed.new_value) == (5, None)
    with database.reading() as session:
        assert read_settings(session).values == {}


def test_a_refused_change_stores_nothing(database: Database, raw: dict[str, Any]) -> None:
    with database.transaction() as session:
        change_setting(session, raw, LENGTH, 5, by="anna", now=T0)
    before = changes(database)
    with pytest.raises(SettingRefused) as refused, database.transaction() as session:
        change_setting(session, raw, LENGTH, -1, by="anna", now=T0)
    assert [p.path for p in refused.value.problems] == [LENGTH]
    assert changes(database) == before
    with database.reading() as session:
        assert read_settings(session).values == {LENGTH: 5}


def test_a_change_is_checked_with_the_others_in_force(
    database: Database, raw: dict[str, Any]
) -> None:
    """Callbacks cannot be switched off for a queue that hands its callers a callback at
    closing; once its closing policy is 'serve' (a setting too), they can."""
    off = "queues.health.callbacks.enabled"
    with pytest.raises(SettingRefused) as refused, database.transaction() as session:
        change_setting(session, raw, off, False, by="a", now=T0)
    assert [(p.path, p.allowed) for p in refused.value.problems] == [
        ("queues.health.closing_policy", "needs callbacks.enabled = true, or use 'serve'")
    ]
    with database.transaction() as session:
        change_setting(session, raw, "queues.health.closing_policy", "serve", by="a", now=T0)
        _, config = change_setting(session, raw, off, False, by="a", now=T0)
    assert not config.queues["health"].callbacks.enabled


def test_an_undo_puts_the_old_value_back_as_a_change(
    database: Database, raw: dict[str, Any]
) -> None:
    with database.transaction() as session:
        change_setting(session, raw, LENGTH, 5, by="anna", now=T0)
        made, _ = change_setting(session, raw, LENGTH, 8, by="anna", now=T0)
    with database.transaction() as session:
        undo, config = undo_change(session, raw, made.id, by="pirjo", now=T0)
    assert (undo.undoes, undo.old_value, undo.new_value, undo.by) == (made.id, 8, 5, "pirjo")
    assert config.queues["health"].overflow.queue_length == 5
    with pytest.raises(UnknownChange), database.transaction() as session:
        undo_change(session, raw, 999, by="pirjo", now=T0)


def test_history_latest_first_by_key_and_page(database: Database, raw: dict[str, Any]) -> None:
    with database.transaction() as session:
        for n in range(1, 5):
            change_setting(session, raw, LENGTH, n, by="anna", now=T0 + timedelta(minutes=n))
        change_setting(session, raw, "languages.fi.prompts.goodbye", "Hei hei.", by="anna", now=T0)
        request_reload(session, by="cli:root", now=T0, note={"path": "hotline.toml"})
    with database.reading() as session:
        latest = history(session, limit=3)
        assert [c.key for c in latest] == [RELOAD_KEY, "languages.fi.prompts.goodbye", LENGTH]
        older = history(session, limit=10, before=latest[-1].id)
        assert [c.new_value for c in older] == [3, 2, 1]
        assert [c.new_value for c in history(session, key_prefix="queues.")] == [4, 3, 2, 1]
