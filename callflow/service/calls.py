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
from datetime import datetime

import structlog
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
    PendingCallbackLookedUp,
)
from callflow.engine.flow import FlowContext, step
from callflow.engine.state import CallState
from callflow.errors import DuplicatePendingCallback
from callflow.store.callbacks import cancel_callback, create_callback, describe, find_open_callback
from callflow.store.calls import append_events, save_call
from callflow.store.models import CallbackRequest
from callflow.store.session import Database

log = structlog.get_logger("callflow.calls")

STORE_COMMANDS = (Record, LookUpPendingCallback, StoreCallback, CancelCallback)


class CallHandler:
    """Steps calls through the engine with the store attached."""

    def __init__(self, database: Database, context: FlowContext, *, provider: str) -> None:
        self.database = database
        self.context = context
        self.provider = provider

    def handle(
        self, state: CallState, event: Event, now: datetime, *, provider_ref: str | None = None
    ) -> list[Command]:
        """Apply *event*; return the commands the provider must carry out, in order."""
        with structlog.contextvars.bound_contextvars(call_id=state.call_id):
            return self._handle(state, event, now, provider_ref)

    def _handle(
        self, state: CallState, event: Event, now: datetime, provider_ref: str | None
    ) -> list[Command]:
        media: list[Command] = []
        events: deque[Event] = deque([event])
        while events:
            current = events.popleft()
            commands = step(state, current, now, self.context)
            log.debug("call.step", on=type(current).__name__, phase=state.phase.value)
            with self.database.transaction() as session:
                save_call(session, state, now, provider=self.provider, provider_ref=provider_ref)
                session.flush()
                records = [c for c in commands if isinstance(c, Record)]
                for command in commands:
                    if isinstance(command, Record):
                        continue
                    if isinstance(command, STORE_COMMANDS):
                        answer = self._store(session, state, command, now)
                        if answer is not None:
                            events.append(answer)
                    else:
                        media.append(command)
                append_events(session, state.call_id, records, now)
        return media

    def _store(
        self, session: Session, state: CallState, command: Command, now: datetime
    ) -> Event | None:
        if isinstance(command, LookUpPendingCallback):
            found = find_open_callback(session, command.number_e164)
            return PendingCallbackLookedUp(describe(found) if found is not None else None)
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
            return CallbackStored(request.id)
        if isinstance(command, CancelCallback):
            cancel_callback(session, command.callback_id, now, "cancelled by caller")
            return CallbackCancelled(command.callback_id)
        return None
