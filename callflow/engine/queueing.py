"""Waiting in a queue: entry, announcements, the overflow offer, closing time.

Callers wait with music; every ``menu.announce_interval`` they hear their
position and an estimated wait. When the queue overflows (enough callers
ahead, or a long enough estimated wait) the announcement offers a callback,
stating truthfully when it would come; if that time would break the queue's
promise, no callback is offered and the queue's alternative is said instead.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from callflow.engine import emergency
from callflow.engine.calendar import Calendar
from callflow.engine.commands import EnterQueue, LeaveQueue, LookUpQueue
from callflow.engine.expectations import Expectation
from callflow.engine.forecast import QueueSnapshot, estimated_wait
from callflow.engine.prompts import PromptRef, When
from callflow.engine.state import After, Menu, Phase, QueueNeed
from callflow.engine.turn import Turn
from callflow.engine.vocabulary import CallOutcome, EventKind

MORNING_ENDS = 12 * 60


def enter_queue(t: Turn, *, returning: bool = False) -> None:
    """Queue the caller; one coming back keeps the place they first had."""
    s = t.s
    assert s.topic is not None and s.language is not None
    s.phase = Phase.QUEUED
    s.in_queue = True
    if not returning or s.queue_entered_at is None:
        s.queue_entered_at = t.now
    t.out.append(EnterQueue(s.topic, s.language, s.queue_entered_at))
    t.record(EventKind.QUEUE_ENTERED, topic=s.topic, language=s.language, returning=returning)
    if not s.closing_handled:
        if not emergency.queue_open(t):
            closing_time(t)  # back in the queue after closing: the policy applies now
            return
        _time_closing(t)
    announce(t, first=True)


def follow_rules(t: Turn) -> None:
    """The rules changed while the caller waits: the closing policy if their queue is closed
    under them now (a closure, an emergency message that closes it), else the closing timer
    moved to when it closes now."""
    if not emergency.queue_open(t):
        closing_time(t)
    else:
        _time_closing(t)


def _time_closing(t: Turn) -> None:
    closing = emergency.next_closing(t)
    if closing == t.s.closing_at:
        return
    if closing is None:
        t.clear_timer("closing")
    else:
        t.set_timer("closing", closing)


def leave_queue(t: Turn, reason: str) -> None:
    s = t.s
    assert s.topic is not None and s.queue_entered_at is not None
    s.in_queue = False
    t.clear_timer("announce")
    t.clear_timer("closing")
    t.out.append(LeaveQueue(s.topic))
    wait = round((t.now - s.queue_entered_at).total_seconds(), 3)
    t.record(EventKind.QUEUE_LEFT, topic=s.topic, reason=reason, wait_s=wait)


def keep_waiting(t: Turn) -> None:
    """Music until the next announcement."""
    t.s.menu = None
    if t.s.in_queue:
        t.set_timer("announce", t.now + t.config.menu.announce_interval)


def announce(t: Turn, *, first: bool = False) -> None:
    """Time for the position and the wait: ask for the queue; :func:`announce_position`
    says them when it is known."""
    if may_announce(t):
        look_up_queue(t, QueueNeed.FIRST_ANNOUNCEMENT if first else QueueNeed.ANNOUNCEMENT)


def may_announce(t: Turn) -> bool:
    """Whether the caller waits with music, with nothing being said, asked or looked up."""
    s = t.s
    return (
        s.phase is Phase.QUEUED
        and s.in_queue
        and s.menu is None
        and not s.playback
        and s.queue_need is None
    )


def announce_position(t: Turn, snap: QueueSnapshot, *, first: bool) -> None:
    s = t.s
    wait = estimated_wait(snap)
    if first and wait == timedelta(0):
        keep_waiting(t)  # an advisor is free; the shell connects the caller
        return
    prompts = [t.p("queue_position", position=snap.position), _wait_words(t, wait)]
    t.record(
        EventKind.POSITION_ANNOUNCED,
        topic=s.topic,
        position=snap.position,
        estimated_wait_s=None if wait is None else round(wait.total_seconds()),
    )
    offer = _offer(t, snap, wait)
    if offer is not None and offer.key == "offer_callback":
        s.offer_open = True
        t.ask(Menu.OFFER, [*prompts, t.p("offer_keeps_place"), offer])
        return
    # No offer this time: an earlier one no longer stands (its time may have passed).
    s.offer_open = False
    s.offered_at = None
    if offer is not None:
        prompts.append(offer)
    t.play(prompts, After.WAIT)


def look_up_queue(t: Turn, need: QueueNeed) -> None:
    """Ask for the caller's queue (from their place if they are queued, else as a
    newcomer); its answer carries on with *need*."""
    s = t.s
    assert s.topic is not None and s.language is not None
    s.queue_need = need
    entered = s.queue_entered_at if s.in_queue else None
    t.out.append(LookUpQueue(s.topic, s.language, entered))


def _wait_words(t: Turn, wait: timedelta | None) -> PromptRef:
    if wait is None:
        return t.p("queue_wait_unknown")
    minutes = math.ceil(wait.total_seconds() / 60)
    if minutes <= 1:
        return t.p("queue_wait_short")
    return t.p("queue_wait_minutes", minutes=minutes)


def _offer(t: Turn, snap: QueueSnapshot, wait: timedelta | None) -> PromptRef | None:
    """The callback offer to add to this announcement, the alternative, or nothing."""
    s, queue = t.s, t.queue
    if not queue.callbacks.enabled or s.offer_declined:
        return None
    overflowing = (
        wait is None
        or snap.position - 1 >= queue.overflow.queue_length
        or wait >= queue.overflow.estimated_wait
    )
    if not overflowing:
        return None
    said, due = callback_expectation(t, snap)
    if said is None:
        return withhold_offer(t, due)
    record_offer(t, said, due)
    return t.p("offer_callback", when=when_for(t, said))


def record_offer(t: Turn, said: datetime, due: datetime) -> None:
    t.s.offered_at = said
    t.record(
        EventKind.CALLBACK_OFFERED,
        topic=t.s.topic,
        expected_at=said,
        due_at=due,
        after_hours=not t.s.in_queue,
    )


def withhold_offer(t: Turn, due: datetime) -> PromptRef | None:
    """No callback can keep the promise: log that once, and name the queue's alternative."""
    s, callbacks = t.s, t.queue.callbacks
    if s.alternative_told:
        return None
    s.alternative_told = True
    t.record(EventKind.CALLBACK_WITHHELD, topic=s.topic, reason="promise", due_at=due)
    if callbacks.when_promise_unmeetable == "alternative" and callbacks.alternative_prompt:
        return t.p(callbacks.alternative_prompt)
    return None


def callback_expectation(t: Turn, snap: QueueSnapshot) -> Expectation:
    """When to say a callback would come, and its due time.

    The first is None when the callback cannot keep the queue's promise.
    """
    s = t.s
    assert s.topic is not None and s.language is not None
    return t.ctx.expectations.at(s.topic, s.language, t.now, snap)


def when_for(t: Turn, at: datetime) -> When:
    """How to say a promised time: "today by 14.00", "tomorrow morning", "on Monday by 13.00"."""
    return promised_when(t.ctx.calendar, t.today, at)


def promised_when(calendar: Calendar, today: date, at: datetime) -> When:
    """A promised time *at* said on *today* (the line's date): a later day's morning as
    "tomorrow morning", else "by" the time. The phone and the web page say it alike."""
    local = calendar.local(at)
    if local.date() > today and local.hour * 60 + local.minute <= MORNING_ENDS:
        return When(at, today, "morning")
    return When(at, today, "by")


def decline_offer(t: Turn, *, explicit: bool) -> None:
    s = t.s
    if explicit:
        s.offer_declined = True
    t.record(EventKind.CALLBACK_DECLINED, topic=s.topic, explicit=explicit)
    t.stop_asking()
    if s.in_queue:
        keep_waiting(t)
    else:
        farewell_closed(t)


def offer_unanswered(t: Turn) -> None:
    """Silence after an offer: a queued caller keeps waiting (and may still press 1)."""
    if t.s.in_queue:
        t.stop_asking()
        keep_waiting(t)
    else:
        decline_offer(t, explicit=False)


def farewell_closed(t: Turn, extra: list[PromptRef] | None = None) -> None:
    t.farewell(CallOutcome.CLOSED, [*(extra or []), t.p("goodbye")])


def closing_time(t: Turn) -> None:
    """The line (or an emergency message for it or the queue) closes with this caller still
    queued: apply the queue's policy."""
    s = t.s
    if not s.in_queue:
        return  # agreeing a callback, or on the way out: nothing to close
    s.closing_handled = True
    t.clear_timer("closing")  # closed before its time (a closure, an emergency): once is all
    queue = t.queue
    policy = queue.closing_policy if queue.callbacks.enabled else "serve"
    closure = emergency.closing_queue(t)
    by = {"emergency": closure.scope} if closure else {}
    t.record(EventKind.CLOSING_TIME, topic=s.topic, policy=policy, **by)
    t.stop_asking()
    if policy == "serve":
        t.play([t.p("closing_serve")], After.WAIT)
        return
    look_up_queue(t, QueueNeed.CLOSING_TIME)


def close_queue(t: Turn, snap: QueueSnapshot) -> None:
    """The queue is closing on this caller: a callback instead, at the time *snap* gives."""
    s = t.s
    if not s.in_queue:
        return
    said, due = callback_expectation(t, snap)
    leave_queue(t, "closing")
    s.phase = Phase.CALLBACK
    s.offer_open = False
    s.callback_after_hours = True
    s.offered_at = said if said is not None else due
    t.play([t.p("closing_callback")], After.NUMBER_FLOW)
