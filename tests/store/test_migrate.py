"""Migrations produce exactly the schema the models declare, on both databases."""

from __future__ import annotations

import multiprocessing
import re
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Column,
    Enum,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url

from callflow.config.models import HotlineConfig
from callflow.engine.matching import WaitingCaller
from callflow.reports.kpis import compute_report
from callflow.store.migrate import (
    MIGRATIONS,
    current_revision,
    ensure_current,
    head_revision,
    upgrade,
)
from callflow.store.models import Call
from callflow.store.queue_places import waiting
from callflow.store.schema import metadata
from callflow.store.session import Database
from callflow.store.twilio_tables import TwilioCall, TwilioLeg, TwilioStep
from callflow.store.types import UTCDateTime
from tests.reports.eventlog import EventLog, local
from tests.store.helpers import T0


def test_migrated_schema_equals_the_models(database: Database) -> None:
    """Tables, columns, types, nullability, indexes and keys: no difference at all."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_every_enum_check_constraint_lists_exactly_its_values(database: Database) -> None:
    """The CHECK constraints in the database allow exactly the Python enums' values."""
    enums = [
        (table.name, column.type)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Enum)
    ]
    assert enums, "no enum columns found"
    for table, enum in enums:
        definition = _check_definition(database, table, enum.name or "")
        allowed = set(re.findall(r"'([^']+)'", definition))
        assert allowed == set(enum.enums), (table, enum.name)


def _check_definition(database: Database, table: str, name: str) -> str:
    constraint = f"ck_{table}_{name}"
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            return str(
                connection.execute(
                    text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :n"),
                    {"n": constraint},
                ).scalar_one()
            )
        sql = connection.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
        ).scalar_one()
    match = re.search(rf"CONSTRAINT {constraint} CHECK \((.*?)\)\s*[,)]", sql, re.S)
    assert match, f"{constraint} not in {sql}"
    return match.group(1)


def test_the_ledger_records_the_head_and_upgrading_again_changes_nothing(
    database: Database,
) -> None:
    assert current_revision(database) == head_revision()
    tables = set(inspect(database.engine).get_table_names())
    upgrade(database)
    ensure_current(database)
    assert current_revision(database) == head_revision()
    assert set(inspect(database.engine).get_table_names()) == tables


def _downgrade(database: Database, revision: str) -> None:
    with database.engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_a_built_roll_up_survives_the_dropped_calls_revision_both_ways(
    database: Database, config: HotlineConfig
) -> None:
    """0007 widens the call roll-up of a line that has had reports: the next report
    rebuilds it. Going back to 0006 logs the dropped call as abandoned, as it was then."""
    at = local("2026-01-12", "09:00")
    log = EventLog(database)
    log.call(at).topic(at).queued(at).abandoned(at + timedelta(minutes=1), wait_s=60)
    log.call(at).topic(at).queued(at).dropped(at + timedelta(minutes=1), wait_s=60)
    log.save()

    def counts() -> tuple[int, int]:
        day = at.date()
        figures = compute_report(database, config, day, day, now=at + timedelta(days=1))
        return figures["abandoned_queue"], figures["calls_dropped"]

    assert counts() == (1, 1)
    try:
        _downgrade(database, "0006")
        upgrade(database)
        assert counts() == (2, 0)
    finally:
        upgrade(database)


def test_an_empty_sqlite_database_is_migrated_on_first_use(tmp_path: Path) -> None:
    database = Database.connect(f"sqlite:///{tmp_path / 'new' / 'callflow.sqlite3'}")
    assert current_revision(database) is None
    ensure_current(database)
    assert current_revision(database) == head_revision()
    assert "callback_requests" in inspect(database.engine).get_table_names()
    database.close()


def _migrate(url: str) -> None:
    database = Database.connect(url)
    ensure_current(database)
    database.close()


@pytest.mark.slow
def test_several_processes_may_migrate_at_once(postgres_url: str) -> None:
    """Four workers starting together against an empty database all come up."""
    name = "callflow_test_race"
    server = create_engine(
        make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with server.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_migrate, args=(url,)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [w.exitcode for w in workers] == [0, 0, 0, 0]
        database = Database.connect(url)
        assert current_revision(database) == head_revision()
        database.close()
    finally:
        with server.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        server.dispose()


PARTIAL_INDEXES = {
    "uq_callback_requests_open_number": "status IN ('pending', 'in_progress')",
    "uq_callback_requests_advisor_assignment": "status = 'in_progress'",
    "ix_callback_requests_claim_order": "status = 'pending'",
    "ix_callback_requests_lease_expiry": "status = 'in_progress'",
    "ix_advisors_claim_order": "ready_at IS NOT NULL",
}


def _normalised(sql: str) -> str:
    """An index predicate with casts, brackets, quoting and case taken out
    (PostgreSQL writes ``x IN (…)`` as ``x = ANY (ARRAY[…])``)."""
    sql = re.sub(r"::[a-z ]+(\[\])?", "", sql.lower())
    sql = re.sub(r"[\s()\"]", "", sql)
    return sql.replace("=anyarray[", "in").replace("]", "")


def test_partial_indexes_keep_their_conditions(database: Database) -> None:
    """Alembic does not compare index conditions; the invariants live in them, so check here."""
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            rows = connection.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                )
            )
            found = {n: d.split(" WHERE ", 1)[1] for n, d in rows if " WHERE " in d}
        else:
            rows = connection.execute(
                text(
                    "SELECT name, sql FROM sqlite_master "
                    "WHERE type = 'index' AND sql LIKE '%WHERE%'"
                )
            )
            found = {n: d.split(" WHERE ", 1)[1] for n, d in rows}
    assert {n: _normalised(d) for n, d in found.items()} == {
        n: _normalised(d) for n, d in PARTIAL_INDEXES.items()
    }


def test_the_queue_places_revision_keeps_twilio_steps_and_places_both_ways(
    database: Database,
) -> None:
    """0008 moves a waiting Twilio caller's place from ``twilio_calls`` to ``queue_places``
    and back. The answered webhook steps stay: on SQLite, with foreign keys on, rebuilding
    ``twilio_calls`` would delete every step with it (their key cascades)."""
    twilio_calls = Table(  # as it is before 0008
        "twilio_calls",
        MetaData(),
        Column("call_sid", String),
        Column("queue_entered_at", UTCDateTime()),
    )
    try:
        _downgrade(database, "0007")
        with database.transaction() as session:
            session.add(
                Call(
                    id="call-1",
                    provider="twilio",
                    provider_ref="CA1",
                    started_at=T0,
                    language="fi",
                    topic="health",
                    updated_at=T0,
                )
            )
            session.flush()
            session.execute(  # the columns it has at 0007, not the model's later ones
                insert(TwilioCall).values(
                    call_sid="CA1",
                    kind=TwilioLeg.INBOUND,
                    call_id="call-1",
                    topic="health",
                    language="fi",
                    status="in-progress",
                    created_at=T0,
                    updated_at=T0,
                )
            )
            session.add(
                TwilioStep(call_sid="CA1", step="0-queue", twiml="<Response/>", created_at=T0)
            )
            session.execute(twilio_calls.update().values(queue_entered_at=T0))

        upgrade(database)
        with database.reading() as session:
            assert session.scalars(select(TwilioStep.step)).all() == ["0-queue"]
            assert waiting(session, "twilio", "health") == [WaitingCaller(T0, "call-1", "fi")]

        _downgrade(database, "0007")
        with database.reading() as session:
            assert session.scalars(select(TwilioStep.step)).all() == ["0-queue"]
            assert session.execute(
                select(twilio_calls.c.call_sid, twilio_calls.c.queue_entered_at)
            ).all() == [("CA1", T0)]
    finally:
        upgrade(database)
