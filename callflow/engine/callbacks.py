"""Agreeing a callback: the offer after hours, the number, the stored request.

A caller with a usable caller ID hears it read back in Finnish groups and
confirms it (1) or enters another (2); a withheld or unusable one must enter
a number, which is validated before it is read back. A request keeps the
time the caller entered the queue, so they keep their place. One open
request per number: a caller who has one may keep it or cancel it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from callflow.config.models import HotlineConfig, QueueConfig
from callflow.engine import emergency, queueing
from callflow.engine.calendar import Calendar
from callflow.engine.commands import CancelCallback, StoreCallback
from callflow.engine.expectations import SAID_TIME_STEP
from callflow.engine.forecast import QueueSnapshot
from callflow.engine.promise import deadline_class, due_at
from callflow.engine.prompts import DigitGroups, PromptRef, round_up
from callflow.engine.state import After, CallState, Menu, Phase, QueueNeed
from callflow.engine.turn import Turn
from callflow.engine.vocabulary import CallOutcome, EventKind
from callflow.values.numbers import check_callback_number, finnish_groups


def taken_instead_of_queue(
    queue: QueueConfig, steering: emergency.Emergency | None, *, closed: bool
) -> bool:
    """Whether *queue* takes a callback request now, in place of a caller in it: the
    line *closed* by its calendar, or an emergency message *steering* callers away.

    A queue that calls back when closed does, unless a message closes it without the
    after-hours offer; one taking callbacks only does. The phone offers a callback by
    this rule, and the web page takes a request by it (a line that is open and steers
    no one away takes any request of a queue whose callbacks are on).
    """
    settings = queue.callbacks
    if steering is not None and steering.closes:
        taken = steering.message.after_hours_offer and settings.when_closed
    elif closed:
        taken = settings.when_closed
    else:  # open, or taking callbacks only
        taken = True
    return settings.enabled and taken


def offer_instead_of_queue(t: Turn) -> None:
    """The line or the queue is closed, or takes callbacks only, and this queue allows a
    callback then: offer one if it can keep the queue's promise, which the queue's answer
    tells (:func:`offer_for_opening`)."""
    queueing.look_up_queue(t, QueueNeed.AFTER_HOURS_OFFER)


def offer_for_opening(t: Turn, snap: QueueSnapshot) -> None:
    said, due = queueing.callback_expectation(t, snap)
    if said is None:
        alternative = queueing.withhold_offer(t, due)
        queueing.farewell_closed(t, [alternative] if alternative else None)
        return
    queueing.record_offer(t, said, due)
    t.ask(Menu.OFFER, [t.p("offer_callback", when=queueing.when_for(t, said))])


def repeat_offer(t: Turn, lead: list[PromptRef]) -> None:
    assert t.s.offered_at is not None
    when = queueing.when_for(t, t.s.offered_at)
    keeps_place = [t.p("offer_keeps_place")] if t.s.in_queue else []
    t.ask(Menu.OFFER, [*lead, *keeps_place, t.p("offer_callback", when=when)], fresh=False)


def accept_offer(t: Turn) -> None:
    t.stop_asking()
    if t.s.in_queue:
        # Pressed while waiting, maybe long after the offer: the time must still hold.
        queueing.look_up_queue(t, QueueNeed.ACCEPTING_OFFER)
        return
    _accepted(t)


def confirm_offer(t: Turn, snap: QueueSnapshot) -> None:
    """A queued caller took the offer: agree the callback if *snap* still allows its time,
    else say the alternative and keep them waiting."""
    s = t.s
    if not s.in_queue:
        return
    said, due = queueing.callback_expectation(t, snap)
    if said is None:
        s.offer_open = False
        alternative = queueing.withhold_offer(t, due)
        if alternative is not None:
            t.play([alternative], After.WAIT)
        else:
            queueing.keep_waiting(t)
        return
    s.offered_at = said
    _accepted(t)


def _accepted(t: Turn) -> None:
    s = t.s
    t.record(EventKind.CALLBACK_ACCEPTED, topic=s.topic, after_hours=not s.in_queue)
    if s.in_queue:
        queueing.leave_queue(t, "callback")
    s.offer_open = False
    if not s.in_queue and s.queue_entered_at is None:
        s.callback_after_hours = True
    start_number_flow(t)


def start_number_flow(t: Turn) -> None:
    s = t.s
    s.phase = Phase.CALLBACK
    if s.caller_e164 is not None:
        s.callback_number = s.caller_e164
        ask_readback(t)
    else:
        ask_number(t)


def ask_readback(t: Turn, lead: list[PromptRef] | None = None) -> None:
    assert t.s.callback_number is not None
    number = DigitGroups(finnish_groups(t.s.callback_number))
    t.ask(Menu.READBACK, [*(lead or []), t.p("readback", number=number)], fresh=lead is None)


def ask_number(t: Turn, lead: list[PromptRef] | None = None) -> None:
    t.s.callback_number = None
    t.ask(Menu.NUMBER, [*(lead or []), t.p("enter_number")], fresh=lead is None)


def finish_number(t: Turn) -> str | None:
    """Check the digits entered and read a good number back; else say what is wrong with it."""
    s = t.s
    digits, s.digits = s.digits, ""
    t.stop_asking()
    checked = check_callback_number(digits, t.config.callbacks.allowed_regions)
    if checked.e164 is None:
        return checked.problem or "not a phone number"
    s.callback_number = checked.e164
    ask_readback(t)
    return None


def number_failed(t: Turn) -> None:
    """No usable number after every attempt."""
    s = t.s
    if not s.callback_after_hours:
        s.offer_declined = True
        queueing.enter_queue(t, returning=True)  # back to their old place
        return
    if s.caller_e164 is not None:
        s.callback_number = s.caller_e164  # the number they called from reaches them
        store_request(t)
        return
    t.farewell(CallOutcome.NO_CALLBACK_NUMBER, [t.p("number_failed"), t.p("goodbye")])


def store_request(t: Turn) -> None:
    s = t.s
    assert s.callback_number is not None and s.topic is not None and s.language is not None
    t.stop_asking()
    command = request_terms(
        t.config,
        t.ctx.calendar,
        number_e164=s.callback_number,
        topic=s.topic,
        language=s.language,
        now=t.now,
        queue_entered_at=s.queue_entered_at,
        said=s.offered_at,
    )
    s.offered_at = command.expected_at
    t.out.append(command)
    s.phase = Phase.STORING


def request_terms(
    config: HotlineConfig,
    calendar: Calendar,
    *,
    number_e164: str,
    topic: str,
    language: str,
    now: datetime,
    queue_entered_at: datetime | None,
    said: datetime | None,
) -> StoreCallback:
    """The request to store for a callback agreed at *now*, on the phone or the web page:
    due by the queue's promise from *now* (made after hours, from the next opening),
    dialled no sooner than the dialling window allows, in line by when the resident
    first queued (*queue_entered_at*; None: *now*). What was *said* stands, unless time
    has overtaken it; nothing said, the due time is the promise."""
    queue = config.queues[topic]
    due = due_at(calendar, queue.promise, now)
    window = config.callbacks.retry.allowed_hours
    not_before = calendar.first_instant_within(now, (window.start_minute, window.end_minute))
    return StoreCallback(
        number_e164=number_e164,
        topic=topic,
        language=language,
        requested_at=now,
        queue_entered_at=queue_entered_at or now,
        not_before=not_before,
        due_at=due,
        expected_at=max(said or due, not_before),
        deadline_class=int(deadline_class(queue.promise)),
    )


def stored(t: Turn, callback_id: int, due: datetime) -> None:
    s = t.s
    assert s.offered_at is not None
    s.callback_id = callback_id
    t.record(
        EventKind.CALLBACK_REQUESTED,
        callback_id=callback_id,
        topic=s.topic,
        language=s.language,
        expected_at=s.offered_at,
        due_at=due,
        queue_entered_at=s.queue_entered_at,
        after_hours=s.callback_after_hours,
    )
    if s.hung_up:
        s.outcome = CallOutcome.CALLBACK_REQUESTED
        t.finish()
        return
    when = queueing.when_for(t, s.offered_at)
    t.farewell(CallOutcome.CALLBACK_REQUESTED, [t.p("callback_confirmed", when=when)])


def promised_number(s: CallState) -> str | None:
    """The caller's own number, if they have agreed to a callback on it and only its
    read-back is still going on: a hang-up now must not lose the request."""
    if s.phase is not Phase.CALLBACK or s.caller_e164 is None or s.topic is None:
        return None
    reading_back_own = s.menu is Menu.READBACK and s.callback_number == s.caller_e164
    about_to_read_back = s.menu is None and s.after is After.NUMBER_FLOW
    return s.caller_e164 if reading_back_own or about_to_read_back else None


def ask_keep_or_cancel(
    t: Turn, lead: list[PromptRef] | None = None, *, intro: Sequence[PromptRef] = ()
) -> None:
    """Keep the open request or cancel it? *intro*: the first words of the call before it."""
    existing = t.s.existing
    assert existing is not None
    promised = existing.expected_at or existing.due_at
    # An overdue request is promised for the next half hour, not for the past.
    when = queueing.when_for(t, max(promised, round_up(t.now, SAID_TIME_STEP)))
    prompts = [*(lead or []), *intro, t.p("pending_exists", when=when)]
    t.ask(Menu.PENDING, prompts, fresh=lead is None)


def keep_existing(t: Turn) -> None:
    assert t.s.existing is not None
    t.record(EventKind.CALLBACK_KEPT, callback_id=t.s.existing.callback_id)
    t.farewell(CallOutcome.CALLBACK_KEPT, [t.p("pending_kept")])


def cancel_existing(t: Turn) -> None:
    assert t.s.existing is not None
    t.stop_asking()
    t.out.append(CancelCallback(t.s.existing.callback_id))
    t.s.phase = Phase.CANCELLING
