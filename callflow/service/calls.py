"""Running the engine for a call and doing what belongs to the store.

Providers translate wire events into engine events and hand them here; the
engine's store commands (look up, store, cancel a callback; log an event)
are carried out in one transaction per step, their answers fed back to the
engine, and only the media commands (play, ask, queue, hang up, timers) are
returned to the provider. Every provider therefore logs the same events and
keeps the same invariants.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from callflow.engine.commands import (
    CancelCallback,
    Command,
    LookUpPendingCallback,
    Record,
    StoreCallback,
)
from callflow.engine.events import (
    CallbackCancelled,
    CallbackRejected,
    CallbackStored,
    Event,
    ExistingCallback,
    PendingCallbackLookedUp,
)
from callflow.engine.flow import FlowContext, step
from callflow.engine.state import CallState
from callflow.errors import DuplicatePendingCallback
from callflow.store.callbacks import cancel_callback, create_callback, describe
from callflow.store.calls import CallJournal, DirectJournal
from callflow.store.models import OPEN_STATUSES_SQL, CallbackRequest
from callflow.store.session import Database

log = structlog.get_logger("callflow.calls")

STORE_COMMANDS = (LookUpPendingCallback, StoreCallback, CancelCallback)


class CallHandler:
    """Steps calls through the engine with the store attached."""

    def __init__(
        self,
        database: Database,
        context: FlowContext,
        *,
        provider: str,
        unit_of_work: Callable[[], AbstractContextManager[Session]] | None = None,
        journal: CallJournal | None = None,
        on_callback_change: Callable[[int], None] | None = None,
        find_open_callback: OpenCallbackLookup | None = None,
    ) -> None:
        self.database = database
        self.context = context
        self.provider = provider
        self._unit_of_work = unit_of_work or database.transaction
        """One transaction per event by default; the simulator batches them."""
        self.journal: CallJournal = journal or DirectJournal()
        self._on_callback_change = on_callback_change
        """Told of each callback request stored or cancelled once the step's unit of work is
        done (committed, for a live provider): whoever dispatches callbacks can look at once
        instead of at its next sweep."""
        self._find_open_callback = find_open_callback or open_callback
        """:func:`open_callback` unless the provider runs :data:`OPEN_CALLBACK` its own way
        (Twilio's webhooks run their statements on the driver)."""

    def handle(
        self, state: CallState, event: Event, now: datetime, *, provider_ref: str | None = None
    ) -> list[Command]:
        """Apply *event*; return the commands the provider must carry out, in order.

        All the event's store work is one transaction. The engine steps a copy of
        the state; *state* takes the result only once that transaction commits, so
        a store that fails leaves the call exactly as it was (and raises).
        """
        with structlog.contextvars.bound_contextvars(call_id=state.call_id):
            working = state.copy()
            media: list[Command] = []
            records: list[Record] = []
            changed: list[int] = []
            with self._unit_of_work() as session:
                events: deque[Event] = deque([event])
                while events:
                    current = events.popleft()
                    commands = step(working, current, now, self.context)
                    for command in commands:
                        if isinstance(command, Record):
                            records.append(command)
                        elif isinstance(command, STORE_COMMANDS):
                            if isinstance(command, StoreCallback):
                                # The call's row first: the request refers to it.
                                self._record(session, working, records, now, provider_ref)
                                records = []
                                self.journal.flush(session)
                            answer = self._store(session, working, command, now)
                            if isinstance(answer, CallbackStored | CallbackCancelled):
                                changed.append(answer.callback_id)
                            events.append(answer)
                        else:
                            media.append(command)
                self._record(session, working, records, now, provider_ref)
            state.adopt(working)
            if self._on_callback_change is not None:
                for callback_id in changed:
                    self._on_callback_change(callback_id)
            return media

    def _record(
        self,
        session: Session,
        state: CallState,
        records: list[Record],
        now: datetime,
        provider_ref: str | None,
    ) -> None:
        self.journal.record(
            session, state, records, now, provider=self.provider, provider_ref=provider_ref
        )

    def _store(
        self,
        session: Session,
        state: CallState,
        command: LookUpPendingCallback | StoreCallback | CancelCallback,
        now: datetime,
    ) -> Event:
        if isinstance(command, LookUpPendingCallback):
            return PendingCallbackLookedUp(self._find_open_callback(session, command.number_e164))
        if isinstance(command, StoreCallback):
            try:
                request = create_callback(session, command, call_id=state.call_id, now=now)
            except DuplicatePendingCallback as exc:
                existing = session.get(CallbackRequest, exc.callback_id)
                assert existing is not None
                log.info("callback.duplicate", callback_id=existing.id)
                return CallbackRejected(describe(existing))
            session.flush()
            log.info(
                "callback.stored",
                callback_id=request.id,
                topic=request.topic,
                number=request.number_e164,
            )
            return CallbackStored(request.id, request.due_at)
        cancel_callback(session, command.callback_id, now, "cancelled by caller")
        return CallbackCancelled(command.callback_id)


OPEN_CALLBACK = select(
    CallbackRequest.id,
    CallbackRequest.language,
    CallbackRequest.topic,
    CallbackRequest.due_at,
    CallbackRequest.expected_at,
).where(
    CallbackRequest.number_e164 == bindparam("number"),
    # Word for word the partial unique index's condition, so the database uses it.
    text(OPEN_STATUSES_SQL),
)
"""A number's open callback request (``number``), as :func:`existing_callback` reads it.
Built once: every call from a known number asks it, and loading the whole request as an
ORM object would cost several times the lookup."""

OpenCallbackLookup = Callable[[Session, str], ExistingCallback | None]
"""How a handler finds a number's open callback request in its session (see
:func:`open_callback`)."""


def open_callback(session: Session, number_e164: str) -> ExistingCallback | None:
    """The number's open callback request, as the engine hears of it."""
    session.flush()  # a cancel earlier in this unit of work must be seen, as a query would
    found = session.connection().execute(OPEN_CALLBACK, {"number": number_e164}).first()
    return None if found is None else existing_callback(found._mapping)


def existing_callback(found: Mapping[Any, Any]) -> ExistingCallback:
    """A row of :data:`OPEN_CALLBACK` as the engine hears of it."""
    return ExistingCallback(
        callback_id=found["id"],
        language=found["language"],
        topic=found["topic"],
        due_at=found["due_at"],
        expected_at=found["expected_at"],
    )
