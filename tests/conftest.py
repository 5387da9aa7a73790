"""Shared fixtures: the example configuration, and real databases on SQLite and PostgreSQL.

PostgreSQL tests run against the server at ``$CALLFLOW_TEST_POSTGRES`` (default
127.0.0.1:5432, user postgres). Without a server they are skipped, except
under ``CI=true``, where they fail: CI must prove both databases.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import structlog
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sse_starlette.sse import AppStatus

from callflow.config.load import load_config
from callflow.config.models import HotlineConfig
from callflow.engine.clock import SystemClock
from callflow.store import sign_ins
from callflow.store.migrate import upgrade
from callflow.store.queues import sync_queues
from callflow.store.schema import metadata
from callflow.store.session import Database

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "config" / "hotline.toml"
POSTGRES_SERVER = os.environ.get(
    "CALLFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"

# Runs a small pytest session inside a test (tests/fakes/test_ari_docs.py).
pytest_plugins = ["pytester"]


# -- the same process-wide state for every test ---------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``slow_on_postgresql`` runs on SQLite in the fast lane and on
    PostgreSQL with the slow ones: each web app a test builds costs a few hundred
    milliseconds, and what differs between the databases is tested below the face."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgresql = callspec is not None and callspec.params.get("database_url") == "postgresql"
        if on_postgresql and item.get_closest_marker("slow_on_postgresql"):
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What import and collection built lives as long as the run: out of the collector's sight.

    Each full garbage collection would walk those objects again (the modules, SQLAlchemy's
    and FastAPI's models, every collected test); frozen, tests/web and tests/store spend a
    third less time collecting garbage.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def same_global_state() -> Iterator[None]:
    """Each test leaves logging, the environment and the working directory as it found them.

    A command run in-process configures structlog for the rest of the process (its level
    filter then swallows the lines a later test captures), uvicorn sets its loggers' levels,
    a stopped server sets sse-starlette's process-wide "shutting down" flag (every later
    live page in the process would end at once), and a test may set a variable or change
    directory without monkeypatch. Restored after
    every test, so the suite passes in any order (pytest-randomly shuffles it).
    """
    structlog_config = structlog.get_config()
    processors = list(structlog_config["processors"])  # capture_logs edits the list in place
    loggers = {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name, logger in _loggers().items()
    }
    environ = dict(os.environ)
    cwd = Path.cwd()
    yield
    structlog.configure(**{**structlog_config, "processors": processors})
    structlog.contextvars.clear_contextvars()
    for name, logger in _loggers().items():
        level, handlers, propagate, disabled = loggers.get(name, (logging.NOTSET, [], True, False))
        if logger.level != level:  # setLevel empties every logger's cache: seconds a suite
            logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate, logger.disabled = propagate, disabled
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    os.chdir(cwd)
    AppStatus.should_exit = False


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id still, at its cheapest: the line's own setting (checked in
    tests/store/test_sign_ins.py) costs a tenth of a second a password, and the pages'
    tests set and check hundreds."""
    monkeypatch.setattr(sign_ins, "_hasher", PasswordHasher.from_parameters(CHEAPEST))


def _loggers() -> dict[str, logging.Logger]:
    """The root logger and every named one created so far."""
    named = logging.root.manager.loggerDict.items()
    return {"": logging.root} | {n: lg for n, lg in named if isinstance(lg, logging.Logger)}


# -- configuration --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def config() -> HotlineConfig:
    return load_config(EXAMPLE_CONFIG)


# -- databases ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "callflow.sqlite3"
    database = Database.connect(f"sqlite:///{path}")
    upgrade(database)
    database.close()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL test database for this test session."""
    server = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    name = f"callflow_test_{os.getpid()}"
    try:
        with server.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(text(f"CREATE DATABASE {name}"))
    except OperationalError as exc:
        server.dispose()
        message = f"PostgreSQL at {POSTGRES_SERVER} is unreachable: {exc.orig}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    url = make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    database = Database.connect(url)
    upgrade(database)
    database.close()
    yield url
    with server.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    server.dispose()


def _empty_postgres(url: str) -> None:
    """Every row deleted and every id sequence restarted, as before the first test.

    What ``TRUNCATE … RESTART IDENTITY`` did, in a tenth of the time on the few rows a test
    leaves (TRUNCATE makes new files for every table: some 50 ms before each test), in one
    round trip and without an engine of its own (its first connection asks the server a
    dozen questions).
    """
    tables = reversed(metadata.sorted_tables)  # rows that refer to others go first
    deletes = "".join(f'DELETE FROM "{table.name}"; ' for table in tables)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:  # commits as it closes
        connection.execute(deletes + _RESTART_SEQUENCES)


_RESTART_SEQUENCES = """
DO $$ DECLARE s record; BEGIN
    FOR s IN SELECT schemaname, sequencename FROM pg_sequences LOOP
        EXECUTE format('ALTER SEQUENCE %I.%I RESTART', s.schemaname, s.sequencename);
    END LOOP;
END $$;
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each kind."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "callflow.sqlite3"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def database(database_url: str, config: HotlineConfig) -> Iterator[Database]:
    """A migrated database with the example configuration's queues."""
    database = Database.connect(database_url)
    with database.transaction() as session:
        sync_queues(session, config, SystemClock().now())
    yield database
    database.close()
