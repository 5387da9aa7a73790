"""Inbound calls: each webhook becomes engine events, and the engine's answer TwiML.

Every webhook is one transaction (see :mod:`callflow.providers.twilio.store`;
webhooks that arrive together share one, see
:mod:`~callflow.providers.twilio.batches`): lock the call's row, load the
engine's state from the call's ``flow_state``, step it with the webhook's
events and any of its timers now due, write the state, the event log and the
answer, commit. Any process can therefore answer any webhook of any call.

**Idempotency.** Every URL handed to Twilio carries the step number of the
document it came in (``s``), and a webhook is known by its endpoint and the
values of our parameters in it (:func:`~.twiml.step_key`), whatever else the
request carries or however it writes them; the ``<Enqueue>`` action, whose
URL serves every way of leaving the queue, is known by its ``QueueResult``
too. The first answer to a step is kept; the same CallSid and step again —
Twilio retrying a webhook that timed out, a proxy repeating a request — gets
that answer back and steps nothing, so it can never store a second callback.
A first ``POST /twilio/voice`` for a CallSid is the step ``voice``. A caller
pressing a key twice is not a repeat: the second key is the answer to the
next question, as on any phone.

A step not answered before must be of the call's last document
(:func:`_passed`), with one exception: a request of a queue's waiting that was
on its way when the caller left the queue. Twilio runs no answer to it, so it
is answered with nothing, and changes nothing; any other step is refused. A
call that is over steps no more: a step of it not answered before is told to
hang up, and nothing of it is stored.

The dequeue (``<Queue url>``) hands out no URL and keeps no answer: it happens
once because the advisor's call that made it is marked joined, and the same
request again, even after the call ended, finds it so and changes nothing.

**The recommendation question.** When the advisor hangs up first, Twilio asks the
caller's ``<Enqueue>`` action with ``QueueResult=bridged`` and runs its answer: the
engine hears ``AdvisorHungUp`` (dropped if the advisor's call was reported
``failed``) and, where the question applies, answers with it. Its keys come one
``<Gather>`` at a time (one key each): after a 1 the engine's empty ``Ask`` is a
silent ``<Gather>`` of ``ten_timeout`` for the 0 of ten, and only a ``<Gather>``
that came back empty runs the question's timer out (:func:`_input_timed_out`).

**Live rules.** Each webhook is stepped under the line's rules in force when it
comes (:class:`~callflow.service.rules.LineRules`), and its TwiML says their words.
A call that last stepped under older rules hears of the change first
(:class:`~callflow.service.calls.CallHandler`): a caller waiting in a queue, at
their next turn of hold music (see :mod:`~callflow.providers.twilio.twiml`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from callflow.config.models import HotlineConfig
from callflow.engine import survey
from callflow.engine.clock import Clock
from callflow.engine.commands import (
    Command,
    ConnectAdvisor,
    EnterQueue,
    LeaveQueue,
    ReleaseAdvisor,
)
from callflow.engine.events import (
    AdvisorConnected,
    AdvisorHungUp,
    CallerHungUp,
    DigitPressed,
    Event,
    PlaybackFinished,
    RulesChanged,
    TimerFired,
)
from callflow.engine.flow import new_call
from callflow.engine.state import CallState, Phase
from callflow.errors import MalformedWebhook
from callflow.providers.twilio.journal import WebhookJournal
from callflow.providers.twilio.params import (
    CallStatus,
    Dequeued,
    Gathered,
    IncomingCall,
    LeftQueue,
    Played,
)
from callflow.providers.twilio.queue_reads import TwilioQueueReads
from callflow.providers.twilio.settings import TwilioSettings
from callflow.providers.twilio.store import (
    CallRow,
    Writes,
    answer_of,
    call_state,
    forget_answers,
    insert_call,
    keep_answers,
    locked_call,
    save_call,
)
from callflow.providers.twilio.twiml import Context, Cursor, Renderer, survey_listens
from callflow.service.arrival import call_arrived
from callflow.service.calls import CallHandler, fixed
from callflow.service.rules import LineRules, RulesInForce
from callflow.store.advisors import LegEnd, advisor_leg_ended
from callflow.store.session import Database
from callflow.store.twilio_tables import TwilioCall, TwilioLeg

log = structlog.get_logger("callflow.twilio")

ARRIVAL_STEP = "voice"
DUE_TIMERS = ("announce", "closing")
"""Timers checked on every webhook; the input timeout is the ``<Gather>``'s own."""

EventSource = Callable[[CallState, Session], Event | None]
"""One event of a webhook, made from the state as the events before it left it (and the
store, in the step's transaction)."""


def _event(event: Event) -> EventSource:
    return lambda _state, _session: event


def _input_timed_out(*, keyed: bool) -> EventSource:
    """The ``<Gather>`` is over: a timer the question still runs has, for the caller, run out.

    In the menus that is the input timer, whatever was keyed (a number keyed without
    ``#`` is ended by the silence after it). The recommendation question's timer runs
    out only if no key came: after a 1 it is set afresh, and the next ``<Gather>`` waits
    that long for the 0 of ten (see :func:`~.twiml.survey_listens`)."""

    def timed_out(state: CallState, _session: Session) -> Event | None:
        if state.phase is Phase.SURVEY:
            return None if keyed or state.survey is None else survey.due_timer(state.survey)
        return TimerFired("input", state.input_at) if state.input_at is not None else None

    return timed_out


def _advisor_left(state: CallState, session: Session) -> Event:
    """The bridge is over and the caller still here: the advisor's leg ended first, dropped
    if Twilio has reported it ``failed`` (the carrier lost it; nobody chose to end it)."""
    return AdvisorHungUp(dropped=_advisor_leg_failed(session, state.advisor_id))


@dataclass(frozen=True, slots=True)
class Step:
    """A webhook about an inbound call, as the engine will hear it."""

    call_sid: str
    key: str
    events: Sequence[EventSource]
    context: Context
    number: int | None = None
    """The document the URL was handed out in (``s``), for the steps that carry one."""


class InboundCalls:
    """Answers the webhooks of calls to the line's number."""

    def __init__(
        self,
        settings: TwilioSettings,
        database: Database,
        clock: Clock,
        *,
        rules: LineRules | None = None,
        on_queue_joined: Callable[[], None] | None = None,
        writes: Writes | None = None,
    ) -> None:
        """*rules*: the line's rules in force (*settings*' configuration's, unchanging, if
        none)."""
        self.settings = settings
        self.rules = rules or LineRules.fixed(settings.config)
        self.database = database
        self.clock = clock
        # What it reads of the configuration (skills, promises, default handle times) is
        # not changed while the line runs.
        self.queue_reads = TwilioQueueReads(settings.config)
        self.renderer = Renderer(settings, self.rules)
        self.writes = writes or Writes(database)
        """Shared with the line's other writers in this process, so they take turns."""
        self._on_queue_joined = on_queue_joined
        """Told after a caller joins a queue (once that is committed): whoever connects
        callers can look at once."""

    @property
    def config(self) -> HotlineConfig:
        """The line's rules in force."""
        return self.rules.config

    # -- the webhooks ---------------------------------------------------------------------

    def arrived(self, params: IncomingCall) -> str:
        """``POST /twilio/voice``: greet a new call (or repeat the greeting of a known one)."""
        arrival = call_arrived(params.from_, self.config)
        step = Step(params.call_sid, ARRIVAL_STEP, [_event(arrival)], "call")
        try:
            return self._answer(step, create=True)
        except IntegrityError as clash:
            # Another process took the same first webhook at the same moment: its answer
            # is committed now, and this one repeats it.
            try:
                return self._answer(step, create=False)
            except MalformedWebhook:
                raise clash from None  # no such race: something else is wrong

    def gathered(self, params: Gathered, key: str) -> str:
        """A ``<Gather>`` ended. Around a question, its prompts are over and the keys (or the
        timeout) answer it; around prompts or music in a queue, keys came in between."""
        keys = [_event(DigitPressed(digit)) for digit in params.digits]
        if params.finished_on_key:
            keys.append(_event(DigitPressed(params.finished_on_key)))
        events: list[EventSource] = []
        if params.wrapped == "ask" and params.playback is not None:
            timed_out = _input_timed_out(keyed=bool(keys))
            events = [_event(PlaybackFinished(params.playback)), *keys, timed_out]
        elif params.wrapped == "play" and params.playback is not None:
            events = [*keys, _event(PlaybackFinished(params.playback))]
        else:
            events = keys
        context = _context(params.waiting)
        return self._answer(Step(params.call_sid, key, events, context, params.step))

    def played(self, params: Played, key: str, *, waiting: bool) -> str:
        """Prompts were heard (a ``<Redirect>`` after them), or a turn of waiting is over."""
        events = [] if params.playback is None else [_event(PlaybackFinished(params.playback))]
        context = _context(waiting)
        return self._answer(Step(params.call_sid, key, events, context, params.step))

    def left(self, params: LeftQueue, key: str) -> str:
        """``<Enqueue>``'s action: the caller is out of Twilio's queue."""
        result = params.queue_result
        if result in ("bridging-in-process", "redirected"):
            return _nothing()  # someone else is taking the call on from here
        if result in ("queue-full", "error", "system-error"):
            return self._enqueue_again(params.call_sid, key, result)
        events: list[EventSource] = []
        if result == "hangup":
            events = [_event(CallerHungUp())]
        elif result == "bridged":
            events = [_advisor_left]  # the advisor's leg ended: the caller is still here
        return self._answer(Step(params.call_sid, key, events, "call"))

    def dequeued(self, params: Dequeued) -> str:
        """The caller at the front of a queue is being joined with an advisor (see the module
        docstring). Nothing more is said to them: Twilio joins them now."""
        with self.writes.transaction() as session:
            now = self.clock.now()
            row = _inbound(locked_call(session, params.call_sid), params.call_sid)
            state = _state_of(session, row)
            leg = _dequeuing_leg(session, params)
            if leg.ready_at is not None or leg.final:
                log.info("twilio.dequeue_repeated", call_sid=params.call_sid)
                return _nothing()
            leg.ready_at = leg.updated_at = now
            save_call(session, leg)
            connected = [_event(AdvisorConnected(str(params.advisor_id)))]
            rules = self.rules.current
            media = self._step(
                session, rules, state, params.call_sid, connected, now, call_exists=True
            )
            self._release_unwanted(session, media, now)
            row.updated_at = now
            save_call(session, row)
        return _nothing()

    def ended(self, call_sid: str, status: CallStatus) -> None:
        """The call is over (its final *status*): the engine hears the caller hang up, or,
        for ``failed``, the line dropped by the carrier (this call was answered, so the
        failure came mid-call)."""
        with self.writes.transaction() as session:
            row = locked_call(session, call_sid)
            if row is None or row.kind is not TwilioLeg.INBOUND or row.call_id is None:
                return
            state = call_state(session, row.call_id)
            now = self.clock.now()
            if state is not None and state.phase is not Phase.ENDED:
                handler = self._handler(session, self.rules.current, call_exists=True)
                gone = CallerHungUp(dropped=status == "failed")
                handler.handle(state, gone, now, provider_ref=call_sid)
            row.updated_at = now
            save_call(session, row)
            forget_answers(session, call_sid)

    # -- one step ------------------------------------------------------------------------

    def _answer(self, step: Step, *, create: bool = False) -> str:
        with self.writes.transaction() as session:
            now = self.clock.now()
            rules = self.rules.current  # what the step decides and its words: the same rules
            row = locked_call(session, step.call_sid)
            state: CallState
            new = row is None and create
            if new:
                state = new_call(str(uuid.uuid4()), now)
                row = CallRow(
                    step.call_sid, TwilioLeg.INBOUND, "in-progress", now, now, call_id=state.call_id
                )
            else:
                row = _inbound(row, step.call_sid)
                kept = answer_of(session, step.call_sid, step.key)
                if kept is not None:
                    log.info("twilio.step_repeated", call_sid=step.call_sid, step=step.key)
                    return kept
                state = _state_of(session, row)
                if state.phase is Phase.ENDED:
                    # Late or replayed after the end (its answers are forgotten then).
                    log.info("twilio.step_after_end", call_sid=step.call_sid, step=step.key)
                    return _hang_up()
                if _passed(row, step):
                    log.info(
                        "twilio.step_passed",
                        call_sid=step.call_sid,
                        step=step.key,
                        current=row.next_step - 1,
                    )
                    return _nothing()
            media = self._step(
                session, rules, state, step.call_sid, step.events, now, call_exists=not new
            )
            joined = _joined_queue(media)
            cursor = Cursor(row.next_step, row.queue_visit)
            rendered = self.renderer.render(media, state, cursor, step.context, rules.config)
            row.next_step, row.queue_visit = cursor.step, cursor.visit
            row.updated_at = now
            if new:  # after the call's own row, which it refers to
                insert_call(session, row)
            else:
                save_call(session, row)
            keep_answers(session, step.call_sid, {step.key: rendered.twiml, **rendered.ahead}, now)
        if joined and self._on_queue_joined is not None:
            self.writes.after_commit(self._on_queue_joined)
        return rendered.twiml

    def _step(
        self,
        session: Session,
        rules: RulesInForce,
        state: CallState,
        call_sid: str,
        events: Sequence[EventSource],
        now: datetime,
        *,
        call_exists: bool,
    ) -> list[Command]:
        """The engine hears *events*, the news of *rules* if a caller in a queue has heard
        nothing else under them, and the call's timers now due; its media commands."""
        handler = self._handler(session, rules, call_exists=call_exists)
        media: list[Command] = []
        with structlog.contextvars.bound_contextvars(call_sid=call_sid):
            for source in events:
                event = source(state, session)
                if event is not None:
                    media += handler.handle(state, event, now, provider_ref=call_sid)
            if state.in_queue and state.rules_version != rules.generation:
                # A turn of hold music brings no event, so the handler has not told them.
                media += handler.handle(state, RulesChanged(), now, provider_ref=call_sid)
            while (due := _next_due(state, now)) is not None:
                media += handler.handle(state, due, now, provider_ref=call_sid)
        asking = state.survey if state.phase is Phase.SURVEY else None
        return media + survey_listens(asking, media, now)

    def _handler(self, session: Session, rules: RulesInForce, *, call_exists: bool) -> CallHandler:
        return CallHandler(
            self.database,
            fixed(rules.context),
            self.queue_reads,
            provider="twilio",
            unit_of_work=lambda: nullcontext(session),
            journal=WebhookJournal(call_exists=call_exists),
        )

    def _release_unwanted(self, session: Session, media: list[Command], now: datetime) -> None:
        """An advisor joined with a caller the engine no longer had waiting (they left the
        queue or hung up meanwhile, as far as it knew) gets their wrap-up at once: Twilio
        has put them through to whoever it had, so it counts as a talk."""
        wrap_up = self.config.dispatch.wrap_up
        for command in media:
            if isinstance(command, ReleaseAdvisor):
                log.warning("twilio.bridged_unexpectedly", advisor_id=command.advisor_id)
                advisor = int(command.advisor_id)
                advisor_leg_ended(session, advisor, LegEnd.TALKED, now, wrap_up=wrap_up)

    def _enqueue_again(self, call_sid: str, key: str, why: str) -> str:
        """Twilio could not keep the caller in the queue; as far as the engine knows they
        wait, so they join it again (a new visit, their place as the engine keeps it)."""
        log.error("twilio.queue_failed", call_sid=call_sid, queue_result=why)
        with self.writes.transaction() as session:
            now = self.clock.now()
            row = locked_call(session, call_sid)
            if row is None or row.call_id is None:
                raise MalformedWebhook(f"CallSid {call_sid} is not a call to this line")
            kept = answer_of(session, call_sid, key)
            if kept is not None:
                return kept
            state = call_state(session, row.call_id)
            if state is None or not state.in_queue or state.topic is None:
                return _hang_up()
            assert state.language is not None and state.queue_entered_at is not None
            cursor = Cursor(row.next_step, row.queue_visit)
            rejoin = EnterQueue(state.topic, state.language, state.queue_entered_at)
            rendered = self.renderer.render([rejoin], state, cursor, "call", self.config)
            row.next_step, row.queue_visit = cursor.step, cursor.visit
            row.updated_at = now
            save_call(session, row)
            keep_answers(session, call_sid, {key: rendered.twiml, **rendered.ahead}, now)
            return rendered.twiml


def _advisor_leg_failed(session: Session, advisor_id: str | None) -> bool:
    """Whether the advisor's call that was last handed a caller (:meth:`dequeued` marks it)
    ended ``failed``. A status that comes after the ``<Enqueue>`` action is too late to
    count: the question has been asked by then."""
    if advisor_id is None or not advisor_id.isdigit():
        return False
    status = session.scalar(
        select(TwilioCall.status)
        .where(
            TwilioCall.kind == TwilioLeg.CONNECT,
            TwilioCall.advisor_id == int(advisor_id),
            TwilioCall.ready_at.is_not(None),
        )
        .order_by(TwilioCall.ready_at.desc())
        .limit(1)
    )
    return status == "failed"


def _joined_queue(media: list[Command]) -> bool:
    """Whether the caller waits in a queue they joined in this step."""
    joined = False
    for command in media:
        if isinstance(command, EnterQueue):
            joined = True
        elif isinstance(command, LeaveQueue | ConnectAdvisor):
            joined = False
    return joined


def _inbound(row: CallRow | None, call_sid: str) -> CallRow:
    """*row*, if it is a call to the line's number; else the request is refused."""
    if row is None:
        raise MalformedWebhook(f"CallSid {call_sid} is not a call to this line")
    if row.kind is not TwilioLeg.INBOUND or row.call_id is None:
        raise MalformedWebhook(f"CallSid {call_sid} is not an inbound call")
    return row


def _state_of(session: Session, row: CallRow) -> CallState:
    assert row.call_id is not None
    state = call_state(session, row.call_id)
    if state is None:
        raise MalformedWebhook(f"CallSid {row.call_sid} has no call state")
    return state


def _dequeuing_leg(session: Session, params: Dequeued) -> CallRow:
    """The advisor's call that dequeues the caller, locked. The connector wrote it down when
    it placed the call (or its first status callback did), long before that call could
    dial the queue; any other is not a dequeue of ours."""
    leg = locked_call(session, params.dequeuing_call_sid)
    if leg is None or leg.kind is not TwilioLeg.CONNECT or leg.advisor_id != params.advisor_id:
        raise MalformedWebhook(
            f"DequeingCallSid: not a call this line placed to advisor {params.advisor_id}"
        )
    return leg


def _passed(row: CallRow, step: Step) -> bool:
    """Whether *step*, not answered before, is of a document before the call's last one.

    The step counter moves only as the call's own documents are made, one after
    another, and as the caller leaves a queue (the ``<Enqueue>`` action's document;
    the dequeue moves nothing). So a step of an earlier document is a request of the
    queue's waiting (its ``waitUrl``, or keys caught in it) that was on its way as the
    caller left the queue. Twilio runs a ``waitUrl``'s TwiML only while the caller
    waits in that queue, and a caller out of it goes on with the ``<Enqueue>``
    action's answer (https://www.twilio.com/docs/voice/twiml/enqueue), so that
    request's answer goes unheard: it is passed over. An error instead would be
    Twilio's application error, which ends the call. An earlier step of the call
    itself Twilio never asks (it asks each document's URL before the next document
    exists), and a later one was never handed out: both are refused.
    """
    current = row.next_step - 1
    if step.number is None or step.number == current:
        return False
    if step.number < current and step.context == "wait":
        return True
    raise MalformedWebhook(
        f"s={step.number}: not the current step ({current}) of CallSid {step.call_sid}; "
        "nothing was done"
    )


def _hang_up() -> str:
    """The answer for a call that is over, whatever was asked."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def _nothing() -> str:
    """An answer of no TwiML, for a request whose answer Twilio does not run."""
    return str(VoiceResponse())


def _context(waiting: bool) -> Context:
    return "wait" if waiting else "call"


def _next_due(state: CallState, now: datetime) -> TimerFired | None:
    due = [
        (at, name)
        for name in DUE_TIMERS
        if (at := getattr(state, f"{name}_at")) is not None and at <= now
    ]
    if not due:
        return None
    at, name = min(due)
    return TimerFired(name, at)
