"""The service promise: by when a callback request must be served.

Two kinds, per queue. ``same_day`` follows the Health Care Act §51 (a health
contact is assessed the same working day): due by the day's closing if the
request arrives while open and at least ``cutoff_before_close`` before it,
otherwise by the next opening plus ``late_margin``. ``next_working_day`` is the advice lines'
own promise: due by the closing of the first working day after the day the
request arrives.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum

from callflow.config.models import PromiseConfig
from callflow.engine.calendar import Calendar


class DeadlineClass(IntEnum):
    """Callbacks are served by class first, then by the time the caller entered the queue.

    ``ESCALATED`` is for requests that are late or at risk of being late.
    """

    ESCALATED = 0
    SAME_DAY = 1
    NEXT_WORKING_DAY = 2


def deadline_class(promise: PromiseConfig) -> DeadlineClass:
    if promise.kind == "same_day":
        return DeadlineClass.SAME_DAY
    return DeadlineClass.NEXT_WORKING_DAY


def due_at(calendar: Calendar, promise: PromiseConfig, requested_at: datetime) -> datetime:
    """The deadline for a request made at *requested_at*.

    Same day: a request made while the line is open, at least the cutoff before
    the day's closing, is due by that closing; any other (made while closed, at
    night or before opening, or too close to closing) by the next opening plus
    the margin, so every request from one night shares one deadline.
    """
    today = calendar.local_date(requested_at)
    if promise.kind == "same_day":
        closing = calendar.closing_of(today)
        if (
            closing is not None
            and calendar.is_open(requested_at)
            and requested_at <= closing - promise.cutoff_before_close
        ):
            return closing
        opening = calendar.next_opening(requested_at)
        # On a short day the margin may reach past closing; the promise is still that day.
        closing = calendar.closing_of(calendar.local_date(opening))
        assert closing is not None  # the day has an opening
        return min(opening + promise.late_margin, closing)
    closing = calendar.closing_of(calendar.next_working_day(today))
    assert closing is not None  # a working day has spans
    return closing
