"""The settings admins change while the line runs, and the history of every change.

``line_settings`` holds the settings in force (key → value, as the file
would write it: :mod:`callflow.config.layers`); ``line_changes`` holds every
change ever made — who, when, the key, the old and the new value — and every
request to read the configuration files again. Its highest id is the
settings' *version*: a process that has seen version *n* has seen every
change up to it. Both are written in one transaction, so the history never
misses a change and a change is never half made.

A change is checked before it is stored, by the rules of ``callflow config
check`` over the file with every setting laid on it (:func:`change_setting`),
under a lock that makes changes take turns, so two admins' changes that are
each sound but not together cannot both land. Undoing a change is a change
of its own (the old value back), kept in the history too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from callflow.config.layers import rules_in_force, setting_problem
from callflow.config.models import HotlineConfig
from callflow.errors import SettingRefused, UnknownChange
from callflow.store.base import Base
from callflow.store.types import BigId, JSONDocument

RELOAD_KEY = "file"
"""The key of a change that asks every process to read its configuration file again."""
LONGEST_KEY = 200
CHANGES_CHANNEL = "callflow_line_changes"
"""PostgreSQL's ``NOTIFY`` channel for a new change (migration 0011)."""
_LOCK_KEY = 0x6C696E65  # "line": one advisory lock id for changes to the settings


class LineSetting(Base):
    """A setting in force, laid over the file's value of the same key."""

    __tablename__ = "line_settings"

    key: Mapped[str] = mapped_column(String(LONGEST_KEY), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONDocument)
    change_id: Mapped[int] = mapped_column(BigId, ForeignKey("line_changes.id"))


class LineChange(Base):
    """One change of a setting (or a request to read the files again), for ever."""

    __tablename__ = "line_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(LONGEST_KEY), index=True)
    old_value: Mapped[Any | None] = mapped_column(JSONDocument, nullable=True)
    new_value: Mapped[Any | None] = mapped_column(JSONDocument, nullable=True)
    undoes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The change this one undid, if it is an undo."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings in force, as of :attr:`version`."""

    version: int
    values: Mapping[str, Any]
    changes: Mapping[str, LineChangeView]
    """The change that set each key: who and when, for ``config check`` and the pages."""


@dataclass(frozen=True, slots=True)
class LineChangeView:
    id: int
    at: datetime
    by: str
    key: str
    old_value: Any
    new_value: Any
    undoes: int | None

    @classmethod
    def of(cls, row: LineChange) -> LineChangeView:
        return cls(row.id, row.at, row.by, row.key, row.old_value, row.new_value, row.undoes)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "by": self.by,
            "key": self.key,
            "old": self.old_value,
            "new": self.new_value,
            "undoes": self.undoes,
        }


def settings_version(session: Session) -> int:
    """The id of the latest change, 0 before the first: cheap enough to ask every second."""
    return session.scalar(select(func.max(LineChange.id))) or 0


def read_settings(session: Session) -> Settings:
    """The settings in force and their version. The version is read first: on PostgreSQL
    each statement sees the latest commits, so a change landing between the two reads
    comes with an older version, and is read again at the next look, never missed."""
    version = settings_version(session)
    rows = session.execute(select(LineSetting, LineChange).join(LineChange)).all()
    return Settings(
        version,
        {setting.key: setting.value for setting, _ in rows},
        {setting.key: LineChangeView.of(change) for setting, change in rows},
    )


def reload_asked_since(session: Session, version: int) -> str | None:
    """Who asked last for the files to be read again after change *version*, if anyone."""
    query = (
        select(LineChange.by)
        .where(LineChange.key == RELOAD_KEY, LineChange.id > version)
        .order_by(LineChange.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def change_setting(
    session: Session,
    raw_file: Mapping[str, Any],
    key: str,
    value: Any,
    *,
    by: str,
    now: datetime,
    undoes: int | None = None,
) -> tuple[LineChangeView, HotlineConfig]:
    """Set *key* to *value* (``None``: back to the file's) and keep the change, once the
    file *raw_file* with every setting and this one passes every check; else raise
    :class:`SettingRefused` with each problem, and nothing is stored. Returns the change
    and the configuration it puts in force."""
    problem = setting_problem(key, value, raw_file)
    if problem is not None:
        raise SettingRefused([problem])
    _take_turns(session)
    current = {row.key: row for row in session.scalars(select(LineSetting))}
    settings = {k: row.value for k, row in current.items()} | {key: value}
    config, problems = rules_in_force(raw_file, settings)
    if config is None:
        raise SettingRefused(problems)
    old = current.get(key)
    change = LineChange(
        at=now,
        by=by,
        key=key,
        old_value=old.value if old is not None else None,
        new_value=value,
        undoes=undoes,
    )
    session.add(change)
    session.flush()
    if value is None:
        if old is not None:
            session.delete(old)
    elif old is None:
        session.add(LineSetting(key=key, value=value, change_id=change.id))
    else:
        old.value, old.change_id = value, change.id
    return LineChangeView.of(change), config


def undo_change(
    session: Session, raw_file: Mapping[str, Any], change_id: int, *, by: str, now: datetime
) -> tuple[LineChangeView, HotlineConfig]:
    """Put back the value change *change_id* replaced, as a change of its own."""
    undone = session.get(LineChange, change_id)
    if undone is None or undone.key == RELOAD_KEY:
        raise UnknownChange(change_id)
    return change_setting(
        session, raw_file, undone.key, undone.old_value, by=by, now=now, undoes=change_id
    )


def request_reload(session: Session, *, by: str, now: datetime, note: Mapping[str, Any]) -> int:
    """Ask every running process to read its configuration file again; the change's id."""
    _take_turns(session)  # ids in the order they commit: none is passed over
    change = LineChange(at=now, by=by, key=RELOAD_KEY, new_value=dict(note))
    session.add(change)
    session.flush()
    return change.id


def history(
    session: Session, *, limit: int = 50, before: int | None = None, key_prefix: str | None = None
) -> list[LineChangeView]:
    """The latest changes first, *limit* of them, older than change *before* if given."""
    query = select(LineChange).order_by(LineChange.id.desc()).limit(limit)
    if before is not None:
        query = query.where(LineChange.id < before)
    if key_prefix:
        query = query.where(LineChange.key.startswith(key_prefix, autoescape=True))
    return [LineChangeView.of(row) for row in session.scalars(query)]


def _take_turns(session: Session) -> None:
    """Changes are checked against every other setting: one at a time. On SQLite every
    write transaction already holds the write lock (``BEGIN IMMEDIATE``); on PostgreSQL an
    advisory lock lasts the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
