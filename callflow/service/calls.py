"""Running the engine for a call and doing what belongs to the store.

Providers translate wire events into engine events and hand them here; the
engine's store commands (look up, store, cancel a callback; look up the
queue; the recommendation question's rows; log an event) are carried out in
one transaction per step, their answers fed back to the engine, and only the
media commands (play, ask, queue, hang up, timers) are returned to the
provider. The caller's place in a queue is written in that transaction too,
as the engine moves them (:mod:`callflow.store.queue_places`). Every provider
therefore logs the same events and keeps the same invariants.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
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
    OpenSurvey,
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
    RulesChanged,
)
from callflow.engine.flow import FlowContext, step
from callflow.engine.state import CallState, Phase
from callflow.errors import DuplicatePendingCallback
from callflow.service.queue_reads import QueueReads
from callflow.service.surveys import SURVEY_COMMANDS, carry_out_survey
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


@dataclass
class _Work:
    """What one event's steps have produced so far."""

    media: list[Command] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    """Callback requests stored or cancelled."""


def _behind(state: CallState, context: FlowContext) -> bool:
    """Whether a live call last stepped under other rules than *context*'s (a new call
    starts under them; an ended one has nothing left to decide)."""
    live = state.phase is not Phase.NEW and state.phase is not Phase.ENDED
    return live and state.rules_version != context.version


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
        shows_places: bool = True,
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
        self._shows_places = shows_places
        """Whether callers' places in the queues are written for others to read (the
        board, a live line's matcher and estimates); a what-if simulation, which nobody
        watches and which answers its queue questions from memory, writes none."""

    def handle(
        self, state: CallState, event: Event, now: datetime, *, provider_ref: str | None = None
    ) -> list[Command]:
        """Apply *event*; return the commands the provider must carry out, in order.

        All the event's store work is one unit of work (a transaction of its own by
        default). The engine steps a copy of the state; *state* takes the result only
        once that unit is done, so a store that fails leaves the call exactly as it was
        (and raises). A unit that is part of a larger transaction (a group commit, a
        simulation's batch) leaves the rest to its owner: the Asterisk adapter keeps its
        calls' states until the commit, and a failed batch ends a simulation.

        The rules in force are asked once; a call that last stepped under others hears
        ``RulesChanged`` first, in the same transaction, so a caller waiting in a queue a
        closure has closed meanwhile gets its closing policy before anything else. (A
        provider pushes ``RulesChanged`` to its queued callers too; heard again, it changes
        nothing.)
        """
        # Bound and reset by token: bound_contextvars reads every bound variable first, and a
        # simulated day steps millions of times.
        bound = structlog.contextvars.bind_contextvars(call_id=state.call_id)
        try:
            working = state.copy()
            work = _Work()
            context = self.rules()
            # News of new rules first, with all that follows from it; then the event.
            arriving: list[Event] = [event]
            if _behind(working, context):
                arriving.insert(0, RulesChanged())
            working.rules_version = context.version
            with self._unit_of_work() as session:
                for news in arriving:
                    self._step_through(session, working, news, now, context, work, provider_ref)
                self._record(session, working, work.records, now, provider_ref)
            state.adopt(working)
            if self._on_callback_change is not None:
                for callback_id in work.changed:
                    self._on_callback_change(callback_id)
            return work.media
        finally:
            structlog.contextvars.reset_contextvars(**bound)

    def _step_through(
        self,
        session: Session,
        working: CallState,
        news: Event,
        now: datetime,
        context: FlowContext,
        work: _Work,
        provider_ref: str | None,
    ) -> None:
        """Step *news*, and the store's answers to what it asks, in order."""
        events: deque[Event] = deque([news])
        while events:
            commands = step(working, events.popleft(), now, context)
            for command in commands:
                if isinstance(command, Record):
                    work.records.append(command)
                elif isinstance(command, SURVEY_COMMANDS):
                    if isinstance(command, OpenSurvey):
                        # The call's row first: the question's row refers to it.
                        self._record(session, working, work.records, now, provider_ref)
                        work.records = []
                        self.journal.write_call(session, working.call_id)
                    survey_answer = carry_out_survey(session, command)
                    if survey_answer is not None:
                        events.append(survey_answer)
                elif isinstance(command, STORE_COMMANDS):
                    if isinstance(command, StoreCallback):
                        # The call's row first: the request refers to it.
                        self._record(session, working, work.records, now, provider_ref)
                        work.records = []
                        self.journal.write_call(session, working.call_id)
                    answer = self._store(session, working, command, now)
                    if isinstance(answer, CallbackStored | CallbackCancelled):
                        work.changed.append(answer.callback_id)
                    events.append(answer)
                else:
                    if self._shows_places and isinstance(command, QUEUE_MOVES):
                        self._follow_queue(session, working, command)
                    work.media.append(command)

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
