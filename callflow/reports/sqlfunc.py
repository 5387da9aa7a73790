"""Epoch microseconds of an instant, the same integer on SQLite and PostgreSQL.

Report arithmetic is done on whole microseconds since 1970 so both databases
give identical sums, differences and comparisons: no floating point, no
``julianday`` (which keeps only milliseconds), no time zone rules in SQL.

SQLite keeps a stored instant as naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``
(see :class:`callflow.store.types.UTCDateTime`): whole seconds from
``strftime('%s')`` on the first 19 characters, microseconds from the last six.
Instants inside event data are ISO strings written by ``datetime.isoformat``
(``YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM``): the offset is kept for ``strftime``
and the optional fraction read apart, because SQLite rounds fractions to
milliseconds (and a fraction of .9999996 would round into the next second).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

MICROSECONDS = 1_000_000


class epoch_us(FunctionElement[int]):  # noqa: N801 - reads as the SQL function it is
    """Microseconds since 1970 of a stored timestamp column or expression."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_us"


class iso_epoch_us(FunctionElement[int]):  # noqa: N801
    """Microseconds since 1970 of an ISO 8601 text with an offset (from event data)."""

    type = BigInteger()
    inherit_cache = True
    name = "iso_epoch_us"


def _argument(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    (argument,) = element.clauses
    return str(compiler.process(argument, **kw))


@compiles(epoch_us, "sqlite")
def _epoch_us_sqlite(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    x = _argument(element, compiler, **kw)
    return (
        f"(CAST(strftime('%s', substr({x}, 1, 19)) AS INTEGER) * {MICROSECONDS}"
        f" + CAST(substr({x}, 21, 6) AS INTEGER))"
    )


@compiles(epoch_us, "postgresql")
def _epoch_us_postgresql(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    x = _argument(element, compiler, **kw)
    return f"CAST(EXTRACT(EPOCH FROM {x}) * {MICROSECONDS} AS BIGINT)"


@compiles(iso_epoch_us, "sqlite")
def _iso_epoch_us_sqlite(element: iso_epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    x = _argument(element, compiler, **kw)
    return (
        f"(CAST(strftime('%s', substr({x}, 1, 19) || substr({x}, -6)) AS INTEGER)"
        f" * {MICROSECONDS}"
        f" + CASE WHEN substr({x}, 20, 1) = '.' THEN CAST(substr({x}, 21, 6) AS INTEGER)"
        " ELSE 0 END)"
    )


@compiles(iso_epoch_us, "postgresql")
def _iso_epoch_us_postgresql(element: iso_epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    x = _argument(element, compiler, **kw)
    return f"CAST(EXTRACT(EPOCH FROM CAST({x} AS TIMESTAMPTZ)) * {MICROSECONDS} AS BIGINT)"


class not_for_lookup(FunctionElement[Any]):  # noqa: N801
    """The column's own value, marked so SQLite's planner will not pick an index for it
    (SQLite's unary ``+``): a percentile should walk the index of the values it ranks,
    not sort a whole period found by date. Other databases see the plain column."""

    inherit_cache = True
    name = "not_for_lookup"

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(not_for_lookup)
def _not_for_lookup(element: not_for_lookup, compiler: SQLCompiler, **kw: Any) -> str:
    return _argument(element, compiler, **kw)


@compiles(not_for_lookup, "sqlite")
def _not_for_lookup_sqlite(element: not_for_lookup, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{_argument(element, compiler, **kw)}"
