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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from callflow.engine.commands import Record
from callflow.engine.state import CallState, Phase
from callflow.engine.vocabulary import EventKind
from callflow.store.base import Base
from callflow.store.models import Call, CallEvent
from callflow.store.prepared import Prepared

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

    def write_call(self, session: Session, call_id: str) -> None:
        """Make call *call_id*'s summary row visible to queries in *session*: a callback
        request is about to refer to it."""


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

    def write_call(self, session: Session, call_id: str) -> None:
        """Nothing to do: every row is written when recorded."""


class BufferedJournal:
    """Rows held in memory, written with one multi-row statement per table on :meth:`flush`.

    A call's summary row is worked out at the flush from the last state recorded for it: a
    call steps dozens of times between flushes, and only its last row is written. (A
    handler steps a fresh copy of the state at each event, and records it last once the
    event is done with it.)"""

    def __init__(self) -> None:
        self._calls: dict[str, _HeldCall] = {}
        self._events: list[dict[str, Any]] = []
        self._written: set[str] = set()
        """Calls with a row in the database, until they end: a line simulated for months
        must not remember every call it ever had."""

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
        held = self._calls.get(state.call_id)
        if held is None:
            held = self._calls[state.call_id] = _HeldCall(state, now, provider, provider_ref)
        held.state, held.updated_at = state, now
        held.moments.update(_moments(records, now))
        self._events += event_rows(state.call_id, records, now)

    def write_call(self, session: Session, call_id: str) -> None:
        """Write the call's row now if it has none yet; its events, and the rest, wait for
        :meth:`flush` (the batch's commit)."""
        held = self._calls.get(call_id)
        if held is None or call_id in self._written:
            return
        _insert_many(session, Call, [self._new_row(call_id, held)])
        self._written.add(call_id)

    def log(self, rows: Sequence[dict[str, Any]]) -> None:
        """Events from outside a call's steps (an advisor's coding), written with the rest."""
        self._events += rows

    def flush(self, session: Session) -> None:
        """Write what is held; it is let go first, so a failed write is not tried twice."""
        calls, events = self._calls, self._events
        self._calls, self._events = {}, []
        new: list[dict[str, Any]] = []
        changed: dict[str, dict[str, Any]] = {}
        for call_id, held in calls.items():
            if call_id in self._written:
                changed[call_id] = {**_summary_of(held.state, held.updated_at), **held.moments}
            else:
                new.append(self._new_row(call_id, held))
        if new:
            _insert_many(session, Call, new)
            self._written.update(row["id"] for row in new)
        self._written -= {
            call_id for call_id, held in calls.items() if held.state.phase is Phase.ENDED
        }
        for keys, rows in _grouped(changed).items():
            session.connection().execute(
                update(Call)
                .where(Call.id == bindparam("b_id"))
                .values({key: bindparam(f"b_{key}") for key in keys}),
                rows,
            )
        if events:
            _insert_many(session, CallEvent, events)

    @staticmethod
    def _new_row(call_id: str, held: _HeldCall) -> dict[str, Any]:
        return {
            "id": call_id,
            "provider": held.provider,
            "provider_ref": held.provider_ref,
            "answered_at": None,
            "ended_at": None,
            **_summary_of(held.state, held.updated_at),
            **held.moments,
        }


@dataclass(slots=True)
class _HeldCall:
    """A call's summary row as far as it is known, until the journal's next flush."""

    state: CallState
    updated_at: datetime
    provider: str
    provider_ref: str | None
    moments: dict[str, datetime] = field(default_factory=dict)
    """``answered_at`` and ``ended_at``, once recorded since the last flush."""


def summary(
    state: CallState, now: datetime, records: Sequence[Record], *, keep_flow_state: bool
) -> dict[str, Any]:
    """The summary row's columns for *state*; ``flow_state`` lets a provider resume a call
    after a restart, which a simulation never needs."""
    fields = _summary_of(state, now)
    fields["flow_state"] = state.to_dict() if keep_flow_state else None
    return fields | _moments(records, now)


def _moments(records: Sequence[Record], now: datetime) -> dict[str, datetime]:
    """``answered_at`` and ``ended_at`` for what *records* say happened *now*."""
    moments = {}
    for record in records:
        if record.kind is EventKind.ANSWERED:
            moments["answered_at"] = now
        elif record.kind is EventKind.ENDED:
            moments["ended_at"] = now
    return moments


def _summary_of(state: CallState, now: datetime) -> dict[str, Any]:
    """The summary row's columns every step sets (``flow_state`` as None)."""
    return {
        "started_at": state.started_at,
        "caller_e164": state.caller_e164,
        "withheld": state.withheld,
        "language": state.language,
        "topic": state.topic,
        "queue_entered_at": state.queue_entered_at,
        "outcome": state.outcome,
        "flow_state": None,
        "updated_at": now,
    }


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


_INSERTS = {model: Prepared(insert(model)) for model in (Call, CallEvent)}


def _insert_many(
    session: Session, model: type[Call] | type[CallEvent], rows: list[dict[str, Any]]
) -> None:
    """A multi-row INSERT on the driver (:mod:`~callflow.store.prepared`): SQLAlchemy's
    own executemany costs more per row than the database does, and a simulated day
    writes hundreds of thousands. Every row must have the same keys."""
    _INSERTS[model].execute_many(session, rows)


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
