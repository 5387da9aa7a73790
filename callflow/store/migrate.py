"""Bringing a database to the current schema, with a ledger of what ran.

Migrations are Alembic scripts in ``sql/migrations`` (dialect-neutral, so
one history serves SQLite and PostgreSQL); Alembic's version table is the
ledger. :func:`upgrade` is safe to call on every start and from several
processes at once: PostgreSQL serialises it with an advisory lock, SQLite
with its write lock.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from callflow.errors import MigrationError
from callflow.store.session import Database, unreachable_as_store_error

MIGRATIONS = Path(__file__).resolve().parents[2] / "sql" / "migrations"
_LOCK_KEY = 0x63616C6C  # "call": one advisory lock id for schema changes


def _config(connection: Connection) -> Config:
    if not (MIGRATIONS / "env.py").is_file():
        raise MigrationError(
            f"migration scripts not found in {MIGRATIONS}; install callflow from its source "
            "tree (pip install -e .) so sql/ is beside the package"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(database: Database) -> str | None:
    with unreachable_as_store_error(database.engine), database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def revision_mismatch(database: Database) -> str | None:
    """What keeps this callflow from reading *database* as it is, with what to do, or None
    when its schema is at this code's revision. It only reads, unlike
    :func:`ensure_current`: a command that must not change the database (a diagnostic)
    asks this instead of migrating."""
    found, expected = current_revision(database), head_revision()
    if found == expected:
        return None
    if found is None:
        return (
            f"the database has no schema yet, this callflow expects revision {expected}: "
            "run `callflow db upgrade`"
        )
    if found in _known_revisions():
        return (
            f"the database is at revision {found}, this callflow expects {expected}: "
            "run `callflow db upgrade`"
        )
    return (
        f"the database is at revision {found}, which this callflow (at {expected}) does not "
        "know: a newer callflow upgraded it; use that one"
    )


def _known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}


def upgrade(database: Database, revision: str = "head") -> None:
    """Apply every migration not yet in the ledger."""
    try:
        with database.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            command.upgrade(_config(connection), revision)
    except SQLAlchemyError as exc:
        raise MigrationError(f"could not migrate {database.engine.url!r}: {exc}") from exc


def ensure_current(database: Database) -> None:
    """Migrate before first use; cheap when the database is already current."""
    if current_revision(database) != head_revision():
        upgrade(database)
