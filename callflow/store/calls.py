"""Calls and the event log, written through a journal.

The log is append-only: rows are inserted, never updated, and reports are
computed from it alone. The ``calls`` row is a summary for lookups (and
holds the engine state so a provider can resume a call after a restart).

A live provider writes both in the same transaction as the step that made
them (:class:`DirectJournal`). A simulation writes a day of calls and would
spend most of its time on row-at-a-time inserts, so it keeps them in memory
and writes them in bulk (:class:`BufferedJournal`) — before any store command
of the engine's, and before its batch commits, so what the database holds is
the same either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from callflow.engine.commands import Record
from callflow.engine.state import CallState
from callflow.engine.vocabulary import EventKind
from callflow.store.base import Base
from callflow.store.models import Call, CallEvent

CALLS = Base.metadata.tables[Call.__tablename__]


class CallJournal(Protocol):
    """Where a call's summary row and its events go."""

    def record(
        self,
        session: Session,
        state: CallState,
        records: Sequence[Record],
        now: datetime,
        *,
        provider: str,
        provider_ref: str | None,
    ) -> None:
        """Log *records* for the call and bring its summary row up to *state*."""

    def flush(self, session: Session) -> None:
        """Make everything recorded so far visible to queries in *session*."""


class DirectJournal:
    """Each step's rows in that step's transaction.

    The summary row is written with Core statements on the session's
    connection: an UPDATE, and an INSERT when it changed no row (the call's
    first step). Loading the row into the ORM first would cost a SELECT of
    its engine state and the unit of work's bookkeeping on every step, and
    a live line steps for every key and every prompt that ends.
    """

    def __init__(self, *, keep_flow_state: bool = True) -> None:
        self.keep_flow_state = keep_flow_state

    def record(
        self,
        session: Session,
        state: CallState,
        records: Sequence[Record],
        now: datetime,
        *,
        provider: str,
        provider_ref: str | None,
    ) -> None:
        fields = summary(state, now, records, keep_flow_state=self.keep_flow_state)
        connection = session.connection()
        changed = connection.execute(update(CALLS).where(CALLS.c.id == state.call_id), fields)
        if changed.rowcount == 0:
            row = {"id": state.call_id, "provider": provider, "provider_ref": provider_ref}
            connection.execute(insert(CALLS), {**row, **fields})
        append_events(session, state.call_id, records, now)

    def flush(self, session: Session) -> None:
        session.flush()


class BufferedJournal:
    """Rows held in memory, written with one multi-row statement per table on :meth:`flush`."""

    def __init__(self) -> None:
        self._new: dict[str, dict[str, Any]] = {}
        self._changed: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._written: set[str] = set()

    def record(
        self,
        session: Session,
        state: CallState,
        records: Sequence[Record],
        now: datetime,
        *,
        provider: str,
        provider_ref: str | None,
    ) -> None:
        fields = summary(state, now, records, keep_flow_state=False)
        pending = self._new.get(state.call_id)
        if pending is not None:
            pending.update(fields)
        elif state.call_id in self._changed:
            self._changed[state.call_id].update(fields)
        elif state.call_id not in self._written:
            self._new[state.call_id] = {
                "id": state.call_id,
                "provider": provider,
                "provider_ref": provider_ref,
                "answered_at": None,
                "ended_at": None,
                **fields,
            }
        else:
            self._changed[state.call_id] = fields
        self._events += event_rows(state.call_id, records, now)

    def log(self, rows: Sequence[dict[str, Any]]) -> None:
        """Events from outside a call's steps (an advisor's coding), written with the rest."""
        self._events += rows

    def flush(self, session: Session) -> None:
        """Write what is held; it is let go first, so a failed write is not tried twice."""
        new, changed, events = self._new, self._changed, self._events
        self._new, self._changed, self._events = {}, {}, []
        if new:
            _insert_many(session, Call, list(new.values()))
            self._written.update(new)
        for keys, rows in _grouped(changed).items():
            session.connection().execute(
                update(Call)
                .where(Call.id == bindparam("b_id"))
                .values({key: bindparam(f"b_{key}") for key in keys}),
                rows,
            )
        if events:
            _insert_many(session, CallEvent, events)


def summary(
    state: CallState, now: datetime, records: Sequence[Record], *, keep_flow_state: bool
) -> dict[str, Any]:
    """The summary row's columns for *state*; ``flow_state`` lets a provider resume a call
    after a restart, which a simulation never needs."""
    fields: dict[str, Any] = {
        "started_at": state.started_at,
        "caller_e164": state.caller_e164,
        "withheld": state.withheld,
        "language": state.language,
        "topic": state.topic,
        "queue_entered_at": state.queue_entered_at,
        "outcome": state.outcome,
        "flow_state": state.to_dict() if keep_flow_state else None,
        "updated_at": now,
    }
    for record in records:
        if record.kind is EventKind.ANSWERED:
            fields["answered_at"] = now
        elif record.kind is EventKind.ENDED:
            fields["ended_at"] = now
    return fields


def load_call_state(session: Session, call_id: str) -> CallState | None:
    call = session.get(Call, call_id)
    if call is None or call.flow_state is None:
        return None
    return CallState.from_dict(call.flow_state)


def event_rows(
    call_id: str | None, records: Sequence[Record], at: datetime
) -> list[dict[str, Any]]:
    """Rows for the event log; the event's topic, language and callback id are lifted
    into columns."""
    rows = []
    for record in records:
        data: dict[str, Any] = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in record.data.items()
        }
        rows.append(
            {
                "at": at,
                "kind": record.kind,
                "call_id": call_id,
                "callback_id": data.get("callback_id"),
                "topic": data.get("topic"),
                "language": data.get("language"),
                "data": data,
            }
        )
    return rows


def append_events(
    session: Session, call_id: str | None, records: Sequence[Record], at: datetime
) -> None:
    if records:
        _insert_many(session, CallEvent, event_rows(call_id, records, at))


def _insert_many(
    session: Session, model: type[Call] | type[CallEvent], rows: list[dict[str, Any]]
) -> None:
    """A plain multi-row INSERT on the session's connection: the ORM's bulk path costs
    many times more per row, and these rows need nothing from it. Every row must have
    the same keys."""
    session.connection().execute(insert(model), rows)


def _grouped(changed: dict[str, dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Updates grouped by the columns they set, one executemany per shape."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for call_id, fields in changed.items():
        keys = tuple(sorted(fields))
        # Bound names differ from the columns': an UPDATE reserves those for its SET clause.
        groups.setdefault(keys, []).append(
            {"b_id": call_id, **{f"b_{k}": v for k, v in fields.items()}}
        )
    return groups
