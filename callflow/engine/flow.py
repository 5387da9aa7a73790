"""The call flow: one pure step from (state, event, now) to commands.

greeting → (closed: hours message, callback offer for the next opening where
the queue allows it) → language → topic → queue with music, position and
wait announcements → callback offer when the queue overflows → number
read-back or entry → stored request, or an advisor.

An emergency message (:mod:`callflow.engine.emergency`) is said once the
caller's language is known (the line's) or once they choose its queue; one
that closes the line or the queue, or takes callbacks only, turns the queue
into a callback offer or a goodbye. Rules that change while a caller waits
reach them as ``RulesChanged``: a queue closed under them applies its closing
policy.

:func:`step` updates the call's state in place and returns what the shell
must do. It never does I/O, never reads the clock and never raises on
caller input: silence and wrong digits are answered with prompts, and after
``menu.max_attempts`` failures each question falls back to a safe default.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from callflow.engine import callbacks, emergency, queueing, survey
from callflow.engine.commands import (
    Answer,
    Command,
    ConnectAdvisor,
    LookUpPendingCallback,
    ReleaseAdvisor,
)
from callflow.engine.events import (
    AdvisorConnected,
    AdvisorHungUp,
    CallArrived,
    CallbackCancelled,
    CallbackRejected,
    CallbackStored,
    CallerHungUp,
    DigitPressed,
    Event,
    PendingCallbackLookedUp,
    PlaybackFinished,
    QueueLookedUp,
    RulesChanged,
    SurveyLookedUp,
    SurveyOpened,
    TimerFired,
)
from callflow.engine.state import After, CallState, Menu, Phase, QueueNeed
from callflow.engine.turn import TIMER_FIELDS, FlowContext, Turn
from callflow.engine.vocabulary import CallOutcome, Channel, EventKind

__all__ = ["FlowContext", "new_call", "step"]


def new_call(call_id: str, now: datetime) -> CallState:
    return CallState(call_id=call_id, started_at=now)


def step(state: CallState, event: Event, now: datetime, ctx: FlowContext) -> list[Command]:
    """Apply *event* at *now* to *state* (in place) and return the commands it calls for."""
    t = Turn(state, now, ctx)
    if state.phase is Phase.ENDED:
        _after_end(t, event)
    elif state.phase is Phase.SURVEY:
        _in_survey(t, event)
    else:
        _HANDLERS[type(event)](t, event)
    return t.out


# -- arrival and the IVR ------------------------------------------------------------


def _arrived(t: Turn, event: Any) -> None:
    s, cal = t.s, t.ctx.calendar
    if s.phase is not Phase.NEW:
        return
    s.caller_e164 = event.caller_e164
    s.withheld = event.withheld
    closure = emergency.closing_line(t)
    s.open_at_arrival = t.calendar_open and closure is None
    s.phase = Phase.IVR
    t.out.append(Answer())
    t.record(
        EventKind.CALL_ARRIVED,
        withheld=s.withheld,
        number_known=s.caller_e164 is not None,
        open=s.open_at_arrival,
    )
    languages = t.config.language_order
    if len(languages) == 1:
        _choose_language(t, languages[0], "only")
    if not s.open_at_arrival:
        # A line closed by its emergency message is closed for the reports too: not offered.
        by = {"emergency": closure.scope} if closure else {}
        t.record(EventKind.CALL_CLOSED_HOURS, next_opening=cal.next_opening(t.now), **by)
    if s.caller_e164 is not None:
        s.phase = Phase.LOOKING_UP
        t.out.append(LookUpPendingCallback(s.caller_e164))
        return
    _begin(t)


def _begin(t: Turn) -> None:
    """First words to a caller with no open callback."""
    if t.s.language is not None:
        _to_topics(t, greeting=True)
    elif not _topics_now(t):
        _closed_goodbye(t, greeting=True)
    else:
        _ask_language(t, greeting=True)


def _closed_topics(t: Turn) -> list[str]:
    """The topics a closed line still takes: those whose queue calls back when closed, none
    when the line's emergency message closes it without the after-hours offer."""
    closure = emergency.closing_line(t)
    if closure is not None and not closure.message.after_hours_offer:
        return []
    return [
        name
        for name in t.config.topic_order
        if t.config.queues[name].callbacks.enabled and t.config.queues[name].callbacks.when_closed
    ]


def _closed_words_in(t: Turn, language: str) -> list[Any]:
    """When a line closed by its calendar next opens (a line its emergency message closes:
    the message says why instead)."""
    cal = t.ctx.calendar
    if t.calendar_open or emergency.closing_line(t) is not None:
        return []
    return [t.p_in(language, "closed", next_opening=t.when(cal.next_opening(t.now), "at"))]


def _closed_goodbye(t: Turn, *, greeting: bool) -> None:
    """No topic to offer: say why in the caller's language, or in every language (each
    greeting its own) when they have not chosen one."""
    codes = [t.s.language] if t.s.language else t.config.language_order
    prompts = []
    for code in codes:
        if greeting:
            prompts.append(t.p_in(code, "greeting"))
        prompts += [*emergency.line_message_in(t, code), *_closed_words_in(t, code)]
    t.farewell(CallOutcome.CLOSED, [*prompts, t.p("goodbye")])


def _ask_language(t: Turn, *, greeting: bool, lead: list[Any] | None = None) -> None:
    prompts = list(lead or [])
    if greeting:
        prompts.append(t.p("greeting"))
    t.ask(Menu.LANGUAGE, [*prompts, *t.ctx.menus.language_options()], fresh=lead is None)


def _choose_language(t: Turn, code: str, how: str) -> None:
    t.s.language = code
    t.record(EventKind.LANGUAGE_CHOSEN, language=code, by=how)


def _to_topics(t: Turn, *, greeting: bool = False) -> None:
    """On to the topic menu, the caller's language known, with what they must hear first:
    the greeting if asked, the line's emergency message, the closed-line words if it is
    closed now; or goodbye, with those words, when no topic can be offered."""
    if not _topics_now(t):
        _closed_goodbye(t, greeting=greeting)
        return
    words = [t.p("greeting")] if greeting else []
    words += [*emergency.tell_line_message(t), *_closed_words_in(t, t.language)]
    if t.s.callback_after_hours:
        words.append(t.p("closed_callback"))
    if words:
        t.play(words, After.TOPIC_MENU)
    else:
        _ask_topic(t)


def _topics_now(t: Turn) -> list[str]:
    """The topics to offer from now on, the line's state now deciding which (and kept, so
    the menu's answer is read against the menu said)."""
    t.s.callback_after_hours = not emergency.line_open(t)
    return _offered_topics(t)


def _offered_topics(t: Turn) -> list[str]:
    if t.s.callback_after_hours:
        return _closed_topics(t)
    if emergency.line_takes_callbacks_only(t):
        return [name for name in t.config.topic_order if t.config.queues[name].callbacks.enabled]
    return t.config.topic_order


def _ask_topic(t: Turn, lead: list[Any] | None = None) -> None:
    topics = _topics_now(t) if lead is None else _offered_topics(t)
    if not topics:  # the rules changed since the menu was said
        _closed_goodbye(t, greeting=False)
        return
    options = t.ctx.menus.topic_options(t.language, topics)
    t.ask(Menu.TOPIC, [*(lead or []), t.p("topic_intro"), *options], fresh=lead is None)


def _choose_topic(t: Turn, topic: str, how: str) -> None:
    """The caller's queue, unless the line is closed or an emergency message keeps them
    out of it: then a callback where one is allowed, else goodbye. What they have not yet
    heard of the line's message, and the queue's message, come first."""
    s = t.s
    s.topic = topic
    steering = emergency.steering(t)
    by = {"emergency": steering.scope} if steering else {}
    t.record(EventKind.TOPIC_CHOSEN, topic=topic, language=t.language, by=how, **by)
    # The line may have opened or closed while the menu was being said.
    s.callback_after_hours = not emergency.line_open(t)
    words = [*emergency.tell_line_message(t), *emergency.queue_message(t)]
    then = _where_the_topic_leads(t, steering)
    if then is None:
        queueing.farewell_closed(t, words)
    elif words:
        t.play(words, then)
    else:
        _after_topic(t, then)


def _where_the_topic_leads(t: Turn, steering: emergency.Emergency | None) -> After | None:
    """The queue, a callback offer instead of it, or (None) nothing but goodbye."""
    closed = t.s.callback_after_hours
    if steering is None and not closed:
        return After.ENTER_QUEUE
    taken = callbacks.taken_instead_of_queue(t.queue, steering, closed=closed)
    return After.CALLBACK_OFFER if taken else None


def _after_topic(t: Turn, then: After) -> None:
    if then is After.ENTER_QUEUE:
        queueing.enter_queue(t)
    else:
        callbacks.offer_instead_of_queue(t)


# -- menus ------------------------------------------------------------------------------


def _menu_choice(t: Turn, menu: Menu, digit: str) -> None:
    if menu is Menu.LANGUAGE:
        for code in t.config.language_order:
            if str(t.config.languages[code].digit) == digit:
                _choose_language(t, code, "digit")
                _to_topics(t)
                return
    elif menu is Menu.TOPIC:
        for name in _offered_topics(t):
            if str(t.config.queues[name].digit) == digit:
                _choose_topic(t, name, "digit")
                return
    elif menu is Menu.PENDING:
        if digit in ("1", "2"):
            callbacks.keep_existing(t) if digit == "1" else callbacks.cancel_existing(t)
            return
    elif menu is Menu.OFFER:
        if digit in ("1", "2"):
            callbacks.accept_offer(t) if digit == "1" else queueing.decline_offer(t, explicit=True)
            return
    elif menu is Menu.READBACK and digit in ("1", "2"):
        callbacks.store_request(t) if digit == "1" else callbacks.ask_number(t)
        return
    _failed(t, menu, EventKind.INPUT_INVALID, "invalid_choice")


def _failed(t: Turn, menu: Menu, kind: EventKind, words: str, **details: Any) -> None:
    """A question went unanswered or was answered wrongly: ask again, or fall back."""
    s = t.s
    s.failures += 1
    t.record(kind, menu=menu.value, attempt=s.failures, **details)
    if s.failures >= t.config.menu.max_attempts:
        _give_up(t, menu)
        return
    lead = [t.p(words)]
    if menu is Menu.LANGUAGE:
        _ask_language(t, greeting=False, lead=lead)
    elif menu is Menu.TOPIC:
        _ask_topic(t, lead=lead)
    elif menu is Menu.PENDING:
        callbacks.ask_keep_or_cancel(t, lead=lead)
    elif menu is Menu.OFFER:
        callbacks.repeat_offer(t, lead=lead)
    elif menu is Menu.READBACK:
        callbacks.ask_readback(t, lead=lead)
    else:
        callbacks.ask_number(t, lead=lead)


def _give_up(t: Turn, menu: Menu) -> None:
    """The safe default after too many failures: never a dead end."""
    if menu is Menu.LANGUAGE:
        _choose_language(t, t.config.line.default_language, "default")
        _to_topics(t)
    elif menu is Menu.TOPIC:
        offered = _offered_topics(t)
        fallback = t.config.menu.fallback_topic
        if not offered:  # the rules changed since the menu was said
            _closed_goodbye(t, greeting=False)
        else:
            _choose_topic(t, fallback if fallback in offered else offered[0], "fallback")
    elif menu is Menu.PENDING:
        callbacks.keep_existing(t)
    elif menu is Menu.OFFER:
        queueing.decline_offer(t, explicit=False)
    else:
        callbacks.number_failed(t)


# -- event handlers ---------------------------------------------------------------------


KEYPAD = frozenset("0123456789*#")


def _digit(t: Turn, event: Any) -> None:
    s = t.s
    digit = event.digit
    if digit not in KEYPAD:
        return  # one keypad key per event; anything else is noise from the wire
    if s.menu is None:
        if s.phase is Phase.QUEUED and s.offer_open and not s.offer_declined and digit == "1":
            callbacks.accept_offer(t)
        return
    menu = s.menu
    if s.playback is not None:
        t.stop_playback()  # barge-in: the caller knows what they want
    t.clear_timer("input")
    if menu is Menu.NUMBER:
        if digit == "#":
            _number_entered(t)
        elif digit == "*":
            s.digits = ""  # start again
            t.set_timer("input", t.now + t.input_timeout(menu))
        else:
            s.digits += digit
            if len(s.digits) >= 15:
                _number_entered(t)
            else:
                t.set_timer("input", t.now + t.input_timeout(menu))
        return
    s.menu = None  # answered; whatever comes next sets the next question
    _menu_choice(t, menu, digit)


def _number_entered(t: Turn) -> None:
    if not t.s.digits:
        t.s.menu = None
        _failed(t, Menu.NUMBER, EventKind.INPUT_TIMEOUT, "no_input")
        return
    length = len(t.s.digits)
    problem = callbacks.finish_number(t)
    if problem is not None:
        _failed(
            t,
            Menu.NUMBER,
            EventKind.NUMBER_REJECTED,
            "invalid_number",
            problem=problem,
            digits=length,
        )


def _playback_finished(t: Turn, event: Any) -> None:
    s = t.s
    if event.playback_id != s.playback:
        return  # stopped by barge-in, or an older playback
    s.playback = None
    if s.menu is not None:
        t.set_timer("input", t.now + t.input_timeout(s.menu))
        return
    after, s.after = s.after, None
    if after is After.HANG_UP:
        t.hang_up()
    elif after is After.LANGUAGE_MENU:
        _ask_language(t, greeting=False)
    elif after is After.TOPIC_MENU:
        _ask_topic(t)
    elif after is After.WAIT:
        queueing.keep_waiting(t)
    elif after is After.NUMBER_FLOW:
        callbacks.start_number_flow(t)
    elif after is After.PROCEED:
        _to_topics(t)
    elif after is After.ENTER_QUEUE or after is After.CALLBACK_OFFER:
        _after_topic(t, after)


def _timer(t: Turn, event: Any) -> None:
    s = t.s
    attr = TIMER_FIELDS.get(event.name)
    if attr is None:
        return
    if getattr(s, attr) != event.at:
        return  # replaced or cleared since
    setattr(s, attr, None)
    if event.name == "input":
        menu = s.menu
        if menu is None:
            return
        if menu is Menu.NUMBER:
            _number_entered(t)
        elif menu is Menu.OFFER:
            queueing.offer_unanswered(t)
        else:
            s.menu = None
            _failed(t, menu, EventKind.INPUT_TIMEOUT, "no_input")
    elif event.name == "announce":
        queueing.announce(t)
    elif event.name == "closing":
        queueing.closing_time(t)


def _rules_changed(t: Turn, event: Any) -> None:
    """New rules: a waiting caller's queue may be closed under them, or close at another
    time. Anyone else takes their next decision under them anyway."""
    s = t.s
    if s.phase is Phase.QUEUED and s.in_queue and not s.closing_handled:
        queueing.follow_rules(t)


def _looked_up(t: Turn, event: Any) -> None:
    s = t.s
    if s.phase is not Phase.LOOKING_UP:
        return
    s.phase = Phase.IVR
    if event.found is None:
        _begin(t)
        return
    s.existing = event.found
    if s.language is None:
        _choose_language(t, event.found.language, "existing_callback")
    callbacks.ask_keep_or_cancel(t, intro=[t.p("greeting"), *emergency.tell_line_message(t)])


def _queue_looked_up(t: Turn, event: Any) -> None:
    """The queue's answer: carry on with what the step that asked for it was doing."""
    need, t.s.queue_need = t.s.queue_need, None
    snap = event.snapshot
    if need is QueueNeed.FIRST_ANNOUNCEMENT or need is QueueNeed.ANNOUNCEMENT:
        if queueing.may_announce(t):
            queueing.announce_position(t, snap, first=need is QueueNeed.FIRST_ANNOUNCEMENT)
    elif need is QueueNeed.CLOSING_TIME:
        queueing.close_queue(t, snap)
    elif need is QueueNeed.AFTER_HOURS_OFFER:
        callbacks.offer_for_opening(t, snap)
    elif need is QueueNeed.ACCEPTING_OFFER:
        callbacks.confirm_offer(t, snap)
    # None: an answer nobody waits for any more (the caller hung up meanwhile).


def _cancelled(t: Turn, event: Any) -> None:
    if t.s.phase is not Phase.CANCELLING:
        return
    t.record(EventKind.CALLBACK_CANCELLED, callback_id=event.callback_id, by="caller")
    t.s.existing = None
    if t.s.callback_number is not None:
        callbacks.store_request(t)  # they chose this new request over the old one
    else:
        t.s.phase = Phase.IVR
        t.play([t.p("pending_cancelled")], After.PROCEED)


def _stored(t: Turn, event: Any) -> None:
    if t.s.phase is Phase.STORING:
        callbacks.stored(t, event.callback_id, event.due_at)


def _rejected(t: Turn, event: Any) -> None:
    s = t.s
    if s.phase is not Phase.STORING:
        return
    s.existing = event.existing
    if s.hung_up:
        s.outcome = CallOutcome.CALLBACK_KEPT  # the open request stands for them
        t.finish()
        return
    s.phase = Phase.CALLBACK
    callbacks.ask_keep_or_cancel(t)


def _advisor_connected(t: Turn, event: Any) -> None:
    s = t.s
    if s.phase is not Phase.QUEUED or not s.in_queue:
        t.out.append(ReleaseAdvisor(event.advisor_id))
        return
    t.stop_asking()
    t.clear_timer("announce")
    t.clear_timer("closing")
    s.in_queue = False
    s.offer_open = False
    s.phase = Phase.CONNECTED
    s.advisor_id = event.advisor_id
    s.outcome = CallOutcome.ANSWERED
    t.out.append(ConnectAdvisor(event.advisor_id))
    assert s.queue_entered_at is not None
    t.record(
        EventKind.ANSWERED,
        topic=s.topic,
        language=s.language,
        advisor_id=event.advisor_id,
        wait_s=_seconds(t.now - s.queue_entered_at),
    )


def _advisor_hung_up(t: Turn, event: Any) -> None:
    """The advisor hung up first: the recommendation question where it applies (never
    after a leg the exchange dropped), else goodbye. The call stays answered."""
    s = t.s
    if s.phase is not Phase.CONNECTED:
        return
    if not survey.applies(t.config.survey, s.call_id, dropped=event.dropped):
        t.hang_up()
        return
    s.phase = Phase.SURVEY
    s.survey, commands = survey.begin(
        channel=Channel.PHONE,
        language=t.language,
        topic=s.topic,
        number_e164=s.caller_e164,
        now=t.now,
        calendar=t.ctx.calendar,
        call_id=s.call_id,
    )
    t.out += commands
    _survey_over(t)


def _in_survey(t: Turn, event: Event) -> None:
    """The question's own machine runs the call; it ends when the machine is done."""
    s = t.s
    assert s.survey is not None
    if isinstance(event, AdvisorConnected):
        t.out.append(ReleaseAdvisor(event.advisor_id))
        return
    t.out += survey.step(s.survey, event, t.now, t.config.survey)
    if isinstance(event, CallerHungUp):
        s.hung_up = True
        t.finish()
    else:
        _survey_over(t)


def _survey_over(t: Turn) -> None:
    if t.s.survey is not None and t.s.survey.done:
        t.hang_up()


def _caller_hung_up(t: Turn, event: Any) -> None:
    s = t.s
    s.playback = None  # the channel is gone; nothing to stop
    s.hung_up = True
    s.queue_need = None  # nobody left to tell what the queue's answer would have said
    if s.in_queue:
        queueing.leave_queue(t, "dropped" if event.dropped else "hangup")
    if s.phase is Phase.STORING:
        return  # the store's answer closes the books
    number = callbacks.promised_number(s)
    if number is not None:
        s.callback_number = number
        t.clear_timer("input")
        callbacks.store_request(t)  # they said yes to a callback on this number
        return
    if s.outcome is None:
        _gone_without_outcome(t, dropped=event.dropped)
    t.finish()


def _gone_without_outcome(t: Turn, *, dropped: bool) -> None:
    """The line went before the call came to anything: the caller abandoned it, or, when
    the exchange or carrier *dropped* it, nobody did, and no abandon measure may count it."""
    s = t.s
    queued = s.queue_entered_at is not None
    if dropped:
        s.outcome, kind = CallOutcome.DROPPED, EventKind.DROPPED
    else:
        s.outcome = CallOutcome.ABANDONED_QUEUE if queued else CallOutcome.ABANDONED_IVR
        kind = EventKind.ABANDONED
    t.record(
        kind,
        stage="queue" if queued else "ivr",
        topic=s.topic,
        menu=s.menu.value if s.menu else None,
        wait_s=_seconds(t.now - s.queue_entered_at) if s.queue_entered_at else None,
    )


def _after_end(t: Turn, event: Event) -> None:
    """Late news for a finished call: an advisor offered it is freed again."""
    if isinstance(event, AdvisorConnected):
        t.out.append(ReleaseAdvisor(event.advisor_id))


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 3)


_HANDLERS: dict[type, Callable[[Turn, Any], None]] = {
    CallArrived: _arrived,
    PlaybackFinished: _playback_finished,
    DigitPressed: _digit,
    TimerFired: _timer,
    PendingCallbackLookedUp: _looked_up,
    QueueLookedUp: _queue_looked_up,
    CallbackStored: _stored,
    CallbackRejected: _rejected,
    CallbackCancelled: _cancelled,
    AdvisorConnected: _advisor_connected,
    AdvisorHungUp: _advisor_hung_up,
    CallerHungUp: _caller_hung_up,
    RulesChanged: _rules_changed,
    SurveyLookedUp: lambda t, event: None,  # only ever heard in the survey
    SurveyOpened: lambda t, event: None,
}
