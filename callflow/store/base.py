"""What every table of the store is built on: the declarative base, the naming of
constraints (the same on SQLite and PostgreSQL, so one migration history fits both) and
enum columns checked by the database.

The tables live in modules of their own (:mod:`.models`, :mod:`.twilio_tables`,
:mod:`.report_models`); :mod:`.schema` imports them all, and is what to import for the
whole of ``metadata``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, MetaData
from sqlalchemy.orm import DeclarativeBase

from callflow.store.types import JSONDocument, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def enum_column(enum: type[StrEnum], name: str) -> Enum:
    """A string column holding *enum*'s values, checked by a CHECK constraint on both databases."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum),
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument}  # noqa: RUF012
