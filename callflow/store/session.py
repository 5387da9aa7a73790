"""Connecting to the database: SQLite by default, PostgreSQL by URL, the same code for both.

SQLite runs in WAL mode (readers do not block the writer) with a busy
timeout, and every transaction starts with ``BEGIN IMMEDIATE`` so a
transaction that reads and then writes cannot deadlock against another
process doing the same: writers queue at the door instead. A database that
cannot be reached is a :class:`StoreError` said in one line, and loops that
retry log its outage once (:class:`OutageLog`). Printed URLs never show a
password.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
import structlog
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from callflow.config.database_url import database_url_problem, printable_url
from callflow.engine.clock import Clock
from callflow.errors import StoreError
from callflow.logging import hide_passwords_in

log = structlog.get_logger("callflow.store")

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "callflow_read_only"


def make_engine(url: str) -> Engine:
    """An engine for *url*; a SQLite file's folder is created if missing."""
    problem = database_url_problem(url)
    if problem is not None:
        raise StoreError(f"database URL {printable_url(url)!r} cannot be read: {problem}")
    parsed = make_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(url, parsed.database)
        if parsed.get_backend_name() == "postgresql":
            return create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreError(
            f"no driver installed for {parsed.drivername!r}; use sqlite:/// or "
            "postgresql+psycopg://"
        ) from exc
    raise StoreError(
        f"database {parsed.get_backend_name()!r} is not supported; use SQLite or PostgreSQL"
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create {folder} for the SQLite database ({exc.strerror}); "
                "set CALLFLOW_DATABASE_URL or line.data_dir to a writable place"
            ) from exc
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


@contextmanager
def unreachable_as_store_error(engine: Engine) -> Iterator[None]:
    """A database that cannot be reached (or is locked) is a :class:`StoreError`, said plainly."""
    try:
        yield
    except OperationalError as exc:
        said = _said_plainly(engine, exc)
        if said is None:
            raise  # a bug (no such table, a cancelled query) keeps its own error and traceback
        raise said from exc


def _said_plainly(engine: Engine, error: BaseException) -> StoreError | None:
    """*error* as a :class:`StoreError` if it says the database cannot be reached."""
    if not isinstance(error, OperationalError) or not is_unreachable(error):
        return None
    where = hide_passwords_in(engine.url.render_as_string(hide_password=True))
    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    return StoreError(f"database {where} is not available: {reason}")


PG_UNREACHABLE = ("08", "53300", "57P01", "57P02", "57P03")
"""SQLSTATEs of a PostgreSQL out of reach: connection exceptions, too many connections, the
server shutting down or starting (a failed connect has no SQLSTATE at all)."""
SQLITE_UNREACHABLE = ("database is locked", "unable to open database file", "disk i/o error")
"""How SQLite says its file cannot be used now (another writer past the busy timeout, the
file's volume gone)."""


def is_unreachable(error: BaseException) -> bool:
    """Whether *error* says the database cannot be reached now (down, restarting, refusing
    connections, locked): something to wait out, unlike a bug (no such table) or a refused
    change (a deadlock, a cancelled query), which keep their tracebacks."""
    cause = error.__cause__ if isinstance(error, StoreError) else error
    if isinstance(cause, DBAPIError):
        if cause.connection_invalidated:
            return True
        cause = cause.orig
    if isinstance(cause, psycopg.OperationalError):
        return cause.sqlstate is None or cause.sqlstate.startswith(PG_UNREACHABLE)
    if isinstance(cause, sqlite3.OperationalError):
        return str(cause).lower().startswith(SQLITE_UNREACHABLE)
    return False


class OutageLog:
    """Logs a database outage as two lines, ``database.unavailable`` when it begins and
    ``database.available`` when it ends, however many loops keep trying meanwhile.

    The worker's loops retry every second or so; a traceback for each failed try (10 KB
    apiece) would bury every other line for as long as the database is down. Each loop
    reports its failures to :meth:`failed` and its successes to :meth:`succeeded`; one
    instance is shared by all the loops of a process. Safe to call from any thread.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._down_since: datetime | None = None
        self._lock = threading.Lock()

    def failed(self, error: BaseException) -> bool:
        """Note a failed try. True if *error* is the database being unreachable (logged when
        the outage begins, without a traceback); False for any other error, which the caller
        logs as it would have."""
        if not is_unreachable(error):
            return False
        with self._lock:
            began = self._down_since is None
            if began:
                self._down_since = self._clock.now()
        if began:
            text = str(error).strip()
            short = text.splitlines()[0] if text else type(error).__name__
            log.error("database.unavailable", error=hide_passwords_in(short))
        return True

    def report(self, error: BaseException, event: str, **fields: object) -> None:
        """A try failed with *error*: the outage's one line if the database is out of reach,
        else *event* with *fields* and the traceback, as any other failure."""
        if not self.failed(error):
            log.error(event, exc_info=error, **fields)

    def succeeded(self) -> None:
        """Note a try that reached the database; ends the outage if there was one."""
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            down = self._clock.now() - since
            log.info("database.available", down_for_s=round(down.total_seconds(), 1))


class Database:
    """An engine and its sessions; :meth:`transaction` is the one way to change data."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def connect(cls, url: str) -> Database:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed together, or not at all."""
        with unreachable_as_store_error(self.engine), self._sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: on SQLite it does not queue for the write lock."""
        with (
            unreachable_as_store_error(self.engine),
            self.engine.connect().execution_options(**{READ_ONLY: True}) as connection,
            Session(connection) as session,
        ):
            yield session

    def batch(self, *, units_per_commit: int) -> Batch:
        """Many small units of work committed together (see :class:`Batch`)."""
        return Batch(self._sessions, self.engine, units_per_commit)

    def close(self) -> None:
        self.engine.dispose()


class Batch:
    """Units of work that share one transaction, committed every *units_per_commit*.

    A simulator writes a whole day of calls; a commit per call event would
    cost more than the work itself. Each :meth:`unit` still sees every
    earlier unit's writes. If a unit fails, the whole open batch is rolled
    back and the error raised: a batch is for work that can be run again,
    never for a live line.
    """

    def __init__(
        self, sessions: sessionmaker[Session], engine: Engine, units_per_commit: int
    ) -> None:
        self._sessions = sessions
        self._engine = engine
        self._units_per_commit = units_per_commit
        self._session: Session | None = None
        self._units = 0
        self.before_commit: list[Callable[[Session], None]] = []
        """Run with the session just before each commit (write-behind buffers flush here)."""

    def unit(self) -> AbstractContextManager[Session]:
        """One unit of work in the batch's transaction (the context manager is the batch
        itself: a simulated day opens millions of units, and a generator's context
        manager costs more than the little each does)."""
        return self

    def __enter__(self) -> Session:
        if self._session is None:
            with unreachable_as_store_error(self._engine):
                self._session = self._sessions()
                self._session.begin()
        return self._session

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is not None:
            if self._session is not None:
                self._session.rollback()
                self._session.close()
                self._session = None
            said = _said_plainly(self._engine, error)
            if said is not None:
                raise said from error
            return
        self._units += 1
        if self._units >= self._units_per_commit:
            self.commit()

    def commit(self) -> None:
        session, self._session, self._units = self._session, None, 0
        if session is None:
            return
        with unreachable_as_store_error(self._engine):
            try:
                for hook in self.before_commit:
                    hook(session)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
