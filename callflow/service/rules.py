"""The rules in force in this process, kept current while it runs.

A line's rules are its configuration file with the settings admins stored
laid over it (:mod:`callflow.config.layers`). Every part of a running
process asks :class:`LineRules` for them when it decides — a call at each
step, the dispatcher at each claim — rather than keeping the rules it
started with, so a change is in force from the next decision on and no call
is dropped for it.

A change reaches a process three ways: made in it (in force at once), heard
from another (PostgreSQL ``NOTIFY``, or SQLite's latest change id read every
:data:`SQLITE_POLL_INTERVAL`; see :func:`follow_rules`), or found by the
periodic check under the notifications (:data:`SAFETY_INTERVAL`). A request
to read the files again (``callflow config reload``, or ``SIGHUP`` to this
process) reads this process's file; a file that does not pass every check is
refused whole: its problems are logged, the rules in force stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from callflow.config.layers import baseline_of, is_about, restart_needed, rules_in_force
from callflow.config.load import checked, read_file
from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.flow import FlowContext
from callflow.engine.forecast import RotaCapacity
from callflow.errors import ConfigError
from callflow.service.passes import woken_or_after
from callflow.store.attempts import RetryPolicy, retry_policy
from callflow.store.line_settings import (
    CHANGES_CHANNEL,
    LineChangeView,
    change_setting,
    read_settings,
    reload_asked_since,
    request_reload,
    settings_version,
    undo_change,
)
from callflow.store.listening import listen
from callflow.store.session import Database, OutageLog

log = structlog.get_logger("callflow.rules")

SQLITE_POLL_INTERVAL = 0.5
"""Seconds between reads of the latest change id on SQLite, which has no ``NOTIFY``."""
SAFETY_INTERVAL = 15.0
"""Seconds between checks on PostgreSQL for a change whose notification was lost."""


@dataclass(frozen=True, slots=True)
class RulesInForce:
    """One consistent set of rules: what a decision is taken under, whole."""

    config: HotlineConfig
    calendar: Calendar
    context: FlowContext
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The stored settings in force (all of those stored, but any the file refuses)."""
    version: int = 0
    """The latest stored change these include (0: none)."""

    @classmethod
    def of(
        cls,
        config: HotlineConfig,
        version: int = 0,
        settings: Mapping[str, Any] | None = None,
        *,
        generation: int = 0,
    ) -> RulesInForce:
        calendar = Calendar.from_config(config)
        capacity = RotaCapacity(calendar, config.staffing, config.callbacks.retry.allowed_hours)
        context = FlowContext(config, calendar, capacity, generation)
        return cls(config, calendar, context, settings or {}, version)

    @property
    def generation(self) -> int:
        """Which rules these are in this process: a new number for each new set (a stored
        change, or the file read again), which a call compares with the one it last
        stepped under (:class:`~callflow.engine.events.RulesChanged`)."""
        return self.context.version


Listener = Callable[[RulesInForce], object]


class ReadsRules:
    """What the callback side reads from the rules in force, as it decides: its
    configuration, calendar and retry policy (a closure stored moves its windows)."""

    rules: LineRules

    @property
    def config(self) -> HotlineConfig:
        return self.rules.config

    @property
    def calendar(self) -> Calendar:
        return self.rules.calendar

    @property
    def policy(self) -> RetryPolicy:
        return retry_policy(self.rules.config)


class LineRules:
    """The rules in force, for everything in this process that decides.

    Made with :meth:`fixed` (a configuration as it is: tests, a what-if run without
    stored settings) or :meth:`load` (a file and a database: the running line).
    """

    def __init__(
        self,
        rules: RulesInForce,
        *,
        path: Path | None = None,
        raw_file: Mapping[str, Any] | None = None,
        database: Database | None = None,
    ) -> None:
        self._current = rules
        self._baseline = rules.config
        self._path = path
        self._raw_file = raw_file
        self._database = database
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        """Refreshes take turns: the newest read always ends up in force."""
        self._read_once = False
        self._stored: Mapping[str, Any] = {}
        self._stored_version = 0

    @classmethod
    def fixed(cls, config: HotlineConfig) -> LineRules:
        return cls(RulesInForce.of(config))

    @classmethod
    def load(cls, config: HotlineConfig, database: Database) -> LineRules:
        """*config* (its file as read, and whatever the process set over it) with the
        settings stored in *database* over it; a setting it does not admit is logged and
        left out, the others applying (the line runs). A reload reads *config*'s file
        again."""
        assert config.source is not None, "a line's rules come from a file"
        raw_file = baseline_of(config)
        rules = cls(
            RulesInForce.of(config), path=config.source, raw_file=raw_file, database=database
        )
        rules.refresh()
        return rules

    # -- reading ---------------------------------------------------------------------------

    @property
    def current(self) -> RulesInForce:
        return self._current

    @property
    def config(self) -> HotlineConfig:
        return self._current.config

    @property
    def calendar(self) -> Calendar:
        return self._current.calendar

    @property
    def baseline(self) -> HotlineConfig:
        """The file's rules alone, as this process read it (no stored setting): what the
        reports take, since a stored calendar change counts only from when it was made
        (:mod:`callflow.reports.timeline`), never for the past."""
        return self._baseline

    @property
    def path(self) -> Path | None:
        """The file the rules come from (None: fixed rules)."""
        return self._path

    @property
    def raw_file(self) -> Mapping[str, Any]:
        """The file as read, which a change is checked over."""
        if self._raw_file is None:
            raise RuntimeError("these rules are fixed: they have no file to change")
        return self._raw_file

    @property
    def stored(self) -> Mapping[str, Any]:
        """The settings last read from the store, whether or not all are in force (a file
        edited under them may refuse some): what there is to take away."""
        return self._stored

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Tell *listener* each new set of rules, in the thread that put it in force (never
        while holding this object's lock); call what this returns to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- changing ----------------------------------------------------------------------------

    def change(self, key: str, value: Any, *, by: str, now: datetime) -> LineChangeView:
        """Store a change (see :func:`~callflow.store.line_settings.change_setting`) and put
        it in force here at once; the other processes hear of it."""
        with self._store().transaction() as session:
            change, _ = change_setting(session, self.raw_file, key, value, by=by, now=now)
        self._refresh_after(change.id)
        return change

    def undo(self, change_id: int, *, by: str, now: datetime) -> LineChangeView:
        with self._store().transaction() as session:
            change, _ = undo_change(session, self.raw_file, change_id, by=by, now=now)
        self._refresh_after(change.id)
        return change

    def request_reload(self, *, by: str, now: datetime) -> int:
        """Ask every process, this one too, to read its file again."""
        with self._store().transaction() as session:
            change_id = request_reload(session, by=by, now=now, note={"path": str(self._path)})
        self._refresh_after(change_id)
        return change_id

    def _refresh_after(self, change_id: int) -> None:
        """The change is stored whatever happens here: a failure to put it in force at once
        is the following's to mend (:func:`follow_rules`), not a refusal."""
        try:
            self.refresh()
        except Exception as exc:
            log.warning("config.not_in_force_yet", change_id=change_id, error=str(exc))

    # -- keeping current ---------------------------------------------------------------------

    def refresh(self) -> bool:
        """Put the latest stored settings in force, reading the file again first if a reload
        was asked for since; whether the rules changed."""
        database = self._store()
        with self._lock:
            with database.reading() as session:
                if settings_version(session) == self._stored_version and self._read_once:
                    return False
                reload_by = reload_asked_since(session, self._stored_version)
                settings = read_settings(session)
            # A reload asked before this process read its file is already in what it read.
            if reload_by is not None and self._read_once:
                self._read_file_again(reason="reload", by=reload_by)
            self._read_once = True
            self._stored_version, self._stored = settings.version, settings.values
            rules = self._put_in_force()
        return self._tell(rules)

    def reload_file(self, *, reason: str = "sighup") -> bool:
        """Read the file again (``SIGHUP``); a broken one changes nothing."""
        with self._lock:
            if not self._read_file_again(reason=reason, by="signal"):
                return False
            rules = self._put_in_force()
        return self._tell(rules)

    def _read_file_again(self, *, reason: str, by: str) -> bool:
        assert self._path is not None
        try:
            raw_file = read_file(self._path)
            baseline = checked(self._path, raw_file)
            checked(self._path, raw_file, self._stored)
            restart_needed(self._baseline, baseline, self._path)
        except ConfigError as exc:
            log.error(
                "config.reload_refused",
                file=str(self._path),
                reason=reason,
                problems=[str(problem) for problem in exc.problems],
                keeping="the rules in force",
            )
            return False
        self._raw_file, self._baseline = raw_file, baseline
        log.info("config.reloaded", file=str(self._path), reason=reason, by=by)
        return True

    def _put_in_force(self) -> RulesInForce | None:
        """The file with the stored settings over it, in force if it differs from what is.
        Settings this file refuses (it was edited under them) are left out, each logged,
        and the rest applies."""
        assert self._path is not None and self._raw_file is not None
        version, settings = self._stored_version, dict(self._stored)
        config, problems = rules_in_force(self._raw_file, settings)
        if config is None:
            refused = {key for key in settings for p in problems if is_about(p.path, key)}
            log.error(
                "config.settings_refused",
                version=version,
                refused=sorted(refused) or sorted(settings),
                problems=[str(problem) for problem in problems],
                keeping="the file's rules for those",
            )
            settings = {k: v for k, v in settings.items() if k not in refused}
            config, _ = rules_in_force(self._raw_file, settings)
            if config is None:
                config, settings = self._baseline, {}
        config = config.model_copy(update={"source": self._path.resolve()})
        current = self._current
        if config == current.config and version == current.version:
            return None
        self._current = rules = RulesInForce.of(
            config, version, settings, generation=current.generation + 1
        )
        if version:
            log.info("config.in_force", version=version)
        return rules

    def _tell(self, rules: RulesInForce | None) -> bool:
        """Tell the listeners of *rules* (None: nothing new); one failing stops no other."""
        if rules is None:
            return False
        for listener in list(self._listeners):
            try:
                listener(rules)
            except Exception:
                log.exception("config.listener_failed", listener=repr(listener))
        return True

    def _store(self) -> Database:
        if self._database is None:
            raise RuntimeError("these rules are fixed: they have no store to follow")
        return self._database


async def follow_rules(rules: LineRules, database: Database, outage: OutageLog) -> None:
    """Keep *rules* current until cancelled: at each notification of a change (PostgreSQL),
    each read of a new change id (SQLite), and at the periodic check."""
    loop = asyncio.get_running_loop()

    async def refresh() -> None:
        try:
            await loop.run_in_executor(None, rules.refresh)
        except Exception as exc:
            outage.report(exc, "rules.refresh_failed")
        else:
            outage.succeeded()

    if database.dialect != "postgresql":
        while True:
            await asyncio.sleep(SQLITE_POLL_INTERVAL)
            await refresh()
    heard = asyncio.Event()
    listener = asyncio.create_task(
        listen(database, CHANGES_CHANNEL, lambda _id: heard.set(), outage)
    )
    try:
        while True:
            await woken_or_after(heard, SAFETY_INTERVAL)
            await refresh()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


@asynccontextmanager
async def following(rules: LineRules, database: Database, outage: OutageLog) -> AsyncIterator[None]:
    """*rules* followed (:func:`follow_rules`) while the block runs."""
    task = asyncio.create_task(follow_rules(rules, database, outage), name="line-rules")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def kept_current(
    rules: LineRules, database: Database, outage: OutageLog
) -> AsyncIterator[None]:
    """*rules* followed while the block runs, and the file read again on ``SIGHUP``: what
    ``callflow serve``, ``web`` and ``worker`` run under (in the main thread, which alone
    may take signals)."""
    loop = asyncio.get_running_loop()

    def hang_up() -> None:
        log.info("config.sighup", file=str(rules.path))
        loop.run_in_executor(None, rules.reload_file)

    async with following(rules, database, outage):
        loop.add_signal_handler(signal.SIGHUP, hang_up)
        log.info("config.following", file=str(rules.path), database=database.dialect)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
