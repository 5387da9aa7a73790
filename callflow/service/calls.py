"""Running the engine for a call and doing what belongs to the store.

Providers translate wire events into engine events and hand them here; the
engine's store commands (look up, store, cancel a callback; look up the
queue; log an event) are carried out in one transaction per step, their
answers fed back to the engine, and only the media commands (play, ask,
queue, hang up, timers) are returned to the provider. The caller's place in
a queue is written in that transaction too, as the engine moves them
(:mod:`callflow.store.queue_places`). Every provider therefore logs the same
events and keeps the same invariants.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from callflow.engine.commands import (
    CancelCallback,
    Command,
    ConnectAdvisor,
    EnterQueue,
    LeaveQueue,
    LookUpPendingCallback,
    LookUpQueue,
    Record,
    StoreCallback,
)
from callflow.engine.events import (
    CallbackCancelled,
    CallbackRejected,
    CallbackStored,
    Event,
    PendingCallbackLookedUp,
    QueueLookedUp,
)
from callflow.engine.flow import FlowContext, step
from callflow.engine.state import CallState
from callflow.errors import DuplicatePendingCallback
from callflow.service.queue_reads import QueueReads
from callflow.store.callbacks import cancel_callback, create_callback, describe, open_callback
from callflow.store.calls import CallJournal, DirectJournal
from callflow.store.models import CallbackRequest
from callflow.store.queue_places import give_up_place, take_place
from callflow.store.session import Database

log = structlog.get_logger("callflow.calls")

STORE_COMMANDS = (LookUpPendingCallback, LookUpQueue, StoreCallback, CancelCallback)
QUEUE_MOVES = (EnterQueue, LeaveQueue, ConnectAdvisor)
"""Media commands that move the caller into or out of a queue: the store follows them."""


def fixed(context: FlowContext) -> Callable[[], FlowContext]:
    """Rules that never change: a rehearsal's, a test's."""
    return lambda: context


class CallHandler:
    """Steps calls through the engine with the store attached."""

    def __init__(
        self,
        database: Database,
        rules: Callable[[], FlowContext],
        queue: QueueReads,
        *,
        provider: str,
        unit_of_work: Callable[[], AbstractContextManager[Session]] | None = None,
        journal: CallJournal | None = None,
        on_callback_change: Callable[[int], None] | None = None,
    ) -> None:
        self.database = database
        self.rules = rules
        """The rules in force, asked once per event: a change applies from the next one."""
        self.queue = queue
        """Answers the engine's ``LookUpQueue`` in the step's unit of work."""
        self.provider = provider
        self._unit_of_work = unit_of_work or database.transaction
        """One transaction per event by default; the simulator batches them."""
        self.journal: CallJournal = journal or DirectJournal()
        self._on_callback_change = on_callback_change
        """Told of each callback request stored or cancelled once the step's unit of work is
        done (committed, for a live provider): whoever dispatches callbacks can look at once
        instead of at its next sweep."""

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
            context = self.rules()
            with self._unit_of_work() as session:
                events: deque[Event] = deque([event])
                while events:
                    current = events.popleft()
                    commands = step(working, current, now, context)
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
                            if isinstance(command, QUEUE_MOVES):
                                self._follow_queue(session, working, command)
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

    def _follow_queue(
        self, session: Session, state: CallState, command: EnterQueue | LeaveQueue | ConnectAdvisor
    ) -> None:
        if isinstance(command, EnterQueue):
            take_place(
                session,
                state.call_id,
                provider=self.provider,
                topic=command.topic,
                language=command.language,
                entered_at=command.entered_at,
            )
        else:
            give_up_place(session, state.call_id)

    def _store(
        self,
        session: Session,
        state: CallState,
        command: LookUpPendingCallback | LookUpQueue | StoreCallback | CancelCallback,
        now: datetime,
    ) -> Event:
        if isinstance(command, LookUpPendingCallback):
            return PendingCallbackLookedUp(open_callback(session, command.number_e164))
        if isinstance(command, LookUpQueue):
            return QueueLookedUp(self.queue.snapshot(session, state.call_id, command, now))
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
