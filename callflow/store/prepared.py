"""Statements run straight on the database driver: compiled once, typed by their columns.

For the statements every call runs: each Twilio webhook reads and writes a
handful of rows, and every call from a known number asks for its open
callback request (:func:`~callflow.store.callbacks.open_callback`). Through
SQLAlchemy's ``Connection.execute`` each statement costs some tens of
microseconds of bookkeeping (a cache key, an execution context, a result
object) on top of the few the driver needs; at hundreds of webhooks a second
that bookkeeping is a large share of what a webhook costs. A :class:`Prepared` statement is
compiled by SQLAlchemy once per database, converts its values with its
columns' own type processors — so an aware datetime, an enum or a JSON
document is stored and read exactly as through SQLAlchemy — and runs on the
driver's connection under the session's, in the session's transaction. A
driver's error is raised as SQLAlchemy's (``IntegrityError``,
``OperationalError``, ...), as ``execute`` would raise it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from typing import Any

from sqlalchemy import Column, Dialect, Select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.sql.schema import ScalarElementColumnDefault

Processor = Callable[[Any], Any]
Row = dict[str, Any]


class Prepared:
    """One statement, run on the driver; compiled for each database and each set of
    parameter names it meets (an INSERT writes the columns it is given, as with
    ``execute``)."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def execute(self, session: Session, params: Mapping[str, Any]) -> None:
        """Run it once with *params*."""
        compiled, cursor = self._start(session, params)
        with closing(cursor):
            compiled.run(cursor, params)

    def execute_many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per row (an INSERT of many rows, all with the same names)."""
        if rows:
            compiled, cursor = self._start(session, rows[0])
            with closing(cursor):
                compiled.run_many(cursor, rows)

    def first(self, session: Session, params: Mapping[str, Any]) -> Row | None:
        """The first row a SELECT finds, by column name, with typed values."""
        compiled, cursor = self._start(session, params)
        with closing(cursor):
            compiled.run(cursor, params)
            found = cursor.fetchone()
            return None if found is None else compiled.row(cursor, found)

    def _start(self, session: Session, params: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        dialect, driver = _driver(session)
        key = (dialect.name, tuple(params))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _Compiled(self._statement, dialect, key[1])
        return compiled, driver.cursor()


_DRIVER = "callflow.prepared.driver"


def _driver(session: Session) -> tuple[Dialect, Any]:
    """The dialect and the driver's connection of *session*'s transaction, looked up once
    per transaction: :meth:`Session.connection` costs more than a statement here."""
    transaction = session.get_transaction()
    known = session.info.get(_DRIVER)
    if known is not None and transaction is not None and known[0] is transaction:
        return known[1], known[2]
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None, "a connection in a transaction has its driver's"
    session.info[_DRIVER] = (session.get_transaction(), connection.dialect, driver)
    return connection.dialect, driver


class _Compiled:
    """A statement's SQL for one database, and how its values go in and come out."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)
        self._dialect = dialect
        self._sql = compiled.string
        binds = {
            name: (bind.key, bind.type.dialect_impl(dialect).bind_processor(dialect))
            for name, bind in compiled.binds.items()
        }
        self._positional = dialect.positional
        names = list(compiled.positiontup or ()) if dialect.positional else list(binds)
        self._binds = [(name, *binds[name]) for name in names]
        """Each parameter's name in the SQL, the value's key and its type's processor, in
        the order a positional driver takes them."""
        self._defaults = {
            column.key: _constant_default(column)
            for column in (*compiled.insert_prefetch, *compiled.update_prefetch)
        }
        """Columns not given whose default SQLAlchemy would fill in (a constant, here)."""
        self._columns: list[tuple[str, Any]] = []
        if isinstance(statement, Select):
            self._columns = [(str(col.key), col.type) for col in statement.selected_columns]
        self._results: list[tuple[str, Processor | None]] | None = None

    def run(self, cursor: Any, params: Mapping[str, Any]) -> None:
        bound = self._bound(params)
        try:
            cursor.execute(self._sql, bound)
        except self._dialect.loaded_dbapi.Error as exc:
            raise self._translated(exc, bound) from exc

    def run_many(self, cursor: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        bound = [self._bound(row) for row in rows]
        try:
            cursor.executemany(self._sql, bound)
        except self._dialect.loaded_dbapi.Error as exc:
            raise self._translated(exc, bound) from exc

    def row(self, cursor: Any, values: Sequence[Any]) -> Row:
        if self._results is None:  # the driver's column types are known once it has run
            self._results = [
                (
                    key,
                    kind.dialect_impl(self._dialect).result_processor(self._dialect, described[1]),
                )
                for (key, kind), described in zip(self._columns, cursor.description, strict=True)
            ]
        return {
            key: value if process is None else process(value)
            for (key, process), value in zip(self._results, values, strict=True)
        }

    def _bound(self, params: Mapping[str, Any]) -> Any:
        if self._defaults:
            params = {**self._defaults, **params}
        values = [
            params[key] if process is None else process(params[key])
            for _, key, process in self._binds
        ]
        if self._positional:
            return values
        return {name: value for (name, _, _), value in zip(self._binds, values, strict=True)}

    def _translated(self, exc: Exception, bound: Any) -> BaseException:
        return DBAPIError.instance(
            self._sql, bound, exc, self._dialect.loaded_dbapi.Error, dialect=self._dialect
        )


def _constant_default(column: Column[Any]) -> Any:
    default = column.default
    if not isinstance(default, ScalarElementColumnDefault):
        raise TypeError(f"{column}: only a constant default is filled in here; give its value")
    return default.arg
