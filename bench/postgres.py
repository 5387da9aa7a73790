"""The benchmarks' own PostgreSQL databases, made and dropped on the server named by
``$CALLFLOW_BENCH_POSTGRES`` (never any other address than the one it gives)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_SERVER = os.environ.get(
    "CALLFLOW_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def bench_database(name: str) -> Iterator[str]:
    """A fresh, empty database *name*; its URL. Dropped afterwards whatever happens."""
    server = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(POSTGRES_SERVER).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        server.dispose()


def plain_dsn(url: str) -> str:
    """The SQLAlchemy URL as libpq wants it, for psycopg on its own."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
