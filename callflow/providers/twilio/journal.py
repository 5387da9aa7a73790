"""A Twilio call's row and its events, written in the webhook's own transaction.

The same rows as :class:`callflow.store.calls.DirectJournal` writes (the
columns come from :func:`~callflow.store.calls.summary`, the events from
:func:`~callflow.store.calls.event_rows`), so reports cannot tell which
provider answered; but as one prepared INSERT or UPDATE each
(:mod:`~callflow.store.prepared`), since the webhook already knows
whether the call is new, and every webhook pays for this.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from callflow.engine.commands import Record
from callflow.engine.state import CallState
from callflow.store.base import Base
from callflow.store.calls import event_rows, summary
from callflow.store.models import Call, CallEvent
from callflow.store.prepared import Prepared

CALLS = Base.metadata.tables[Call.__tablename__]
EVENTS = Base.metadata.tables[CallEvent.__tablename__]


class WebhookJournal:
    """Implements :class:`~callflow.store.calls.CallJournal` for one webhook."""

    def __init__(self, *, call_exists: bool) -> None:
        self._exists = call_exists

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
        fields = summary(state, now, records, keep_flow_state=True)
        if self._exists:
            statement = _update(tuple(sorted(fields)))
            statement.execute(
                session, {"b_id": state.call_id, **{f"b_{k}": v for k, v in fields.items()}}
            )
        else:
            row = {"id": state.call_id, "provider": provider, "provider_ref": provider_ref}
            _INSERT.execute(session, {**row, **_UNSET, **fields})
            self._exists = True
        _INSERT_EVENTS.execute_many(session, event_rows(state.call_id, records, now))

    def write_call(self, session: Session, call_id: str) -> None:
        """Nothing to do: every row is written when recorded."""


_UNSET = {"answered_at": None, "ended_at": None}
"""Columns a call's first row has no value for yet (every insert names the same columns)."""
_INSERT = Prepared(insert(CALLS))
_INSERT_EVENTS = Prepared(insert(EVENTS))


@functools.cache
def _update(columns: tuple[str, ...]) -> Prepared:
    """The UPDATE of *columns*, built once per set (bound names differ from the columns':
    an UPDATE reserves those for its SET clause)."""
    return Prepared(
        update(CALLS)
        .where(CALLS.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in columns})
    )
