"""Calls and the event log.

The log is append-only: rows are inserted, never updated, and reports are
computed from it alone. The ``calls`` row is a summary for lookups (and
holds the engine state so a provider can resume a call after a restart).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from callflow.engine.commands import Record
from callflow.engine.state import CallState
from callflow.engine.vocabulary import EventKind
from callflow.store.models import Call, CallEvent


def call_row(
    session: Session, state: CallState, now: datetime, *, provider: str, provider_ref: str | None
) -> Call:
    """The call's summary row, inserted (and flushed, for the rows that refer to it) when
    the call is new."""
    call = session.get(Call, state.call_id)
    if call is None:
        call = Call(id=state.call_id, provider=provider, provider_ref=provider_ref)
        update_call_row(call, state, now)
        session.add(call)
        session.flush()
    return call


def update_call_row(call: Call, state: CallState, now: datetime) -> None:
    """Refresh the summary row from the engine state."""
    call.started_at = state.started_at
    call.caller_e164 = state.caller_e164
    call.withheld = state.withheld
    call.language = state.language
    call.topic = state.topic
    call.queue_entered_at = state.queue_entered_at
    call.outcome = state.outcome
    call.flow_state = state.to_dict()
    call.updated_at = now


def load_call_state(session: Session, call_id: str) -> CallState | None:
    call = session.get(Call, call_id)
    if call is None or call.flow_state is None:
        return None
    return CallState.from_dict(call.flow_state)


def append_events(
    session: Session, call_id: str | None, records: Iterable[Record], at: datetime
) -> None:
    """Log what happened; the event's topic, language and callback id are lifted into columns."""
    for record in records:
        data: dict[str, Any] = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in record.data.items()
        }
        session.add(
            CallEvent(
                at=at,
                kind=record.kind,
                call_id=call_id,
                callback_id=data.get("callback_id"),
                topic=data.get("topic"),
                language=data.get("language"),
                data=data,
            )
        )
        _summarise(session, call_id, record.kind, at)


def _summarise(session: Session, call_id: str | None, kind: EventKind, at: datetime) -> None:
    if call_id is None:
        return
    if kind is EventKind.ANSWERED or kind is EventKind.ENDED:
        call = session.get(Call, call_id)
        if call is None:
            return
        if kind is EventKind.ANSWERED:
            call.answered_at = at
        else:
            call.ended_at = at
