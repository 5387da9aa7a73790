"""Words shared by the engine, the store and the reports.

The string values are stored in the database and read by report queries;
changing one is a migration.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    """Kinds of entries in the call-event log, the only source of metrics."""

    CALL_ARRIVED = "call.arrived"
    CALL_CLOSED_HOURS = "call.closed_hours"
    LANGUAGE_CHOSEN = "call.language_chosen"
    TOPIC_CHOSEN = "call.topic_chosen"
    INPUT_INVALID = "call.input_invalid"
    INPUT_TIMEOUT = "call.input_timeout"
    QUEUE_ENTERED = "call.queue_entered"
    QUEUE_LEFT = "call.queue_left"
    POSITION_ANNOUNCED = "call.position_announced"
    CALLBACK_OFFERED = "call.callback_offered"
    CALLBACK_WITHHELD = "call.callback_withheld"
    CALLBACK_DECLINED = "call.callback_declined"
    CALLBACK_ACCEPTED = "call.callback_accepted"
    NUMBER_REJECTED = "call.number_rejected"
    CLOSING_TIME = "call.closing_time"
    ANSWERED = "call.answered"
    ABANDONED = "call.abandoned"
    DROPPED = "call.dropped"
    ENDED = "call.ended"
    CALLBACK_REQUESTED = "callback.requested"
    CALLBACK_KEPT = "callback.kept"
    CALLBACK_CANCELLED = "callback.cancelled"
    CALLBACK_CLAIMED = "callback.claimed"
    CALLBACK_DIALLED = "callback.dialled"
    CALLBACK_ATTEMPT_ENDED = "callback.attempt_ended"
    CALLBACK_COMPLETED = "callback.completed"
    CALLBACK_FAILED = "callback.failed"
    CALLBACK_WRONG_NUMBER = "callback.wrong_number"
    CALLBACK_EXPIRED = "callback.expired"
    CALLBACK_LEASE_EXPIRED = "callback.lease_expired"
    CALLBACK_AT_RISK = "callback.at_risk"
    CALLBACK_CARRIED_OVER = "callback.carried_over"
    CONTACT_CODED = "contact.coded"
    SURVEY_ASKED = "survey.asked"
    SURVEY_ANSWERED = "survey.answered"


class Channel(StrEnum):
    """How a resident's matter reached an advisor: the reports' ``by_channel``.

    A callback request carries where it was made (``PHONE`` or ``WEB``); a request made
    by phone is served as a ``CALLBACK``, one made on the web page as ``WEB``.
    """

    PHONE = "phone"  # a call answered live
    CALLBACK = "callback"  # a callback the resident asked for on the phone
    WEB = "web"  # a callback request left on the web page (/contact)


class CallOutcome(StrEnum):
    """How a call ended, from the line's point of view."""

    ANSWERED = "answered"
    CALLBACK_REQUESTED = "callback_requested"
    CALLBACK_KEPT = "callback_kept"
    CLOSED = "closed"
    ABANDONED_IVR = "abandoned_ivr"
    ABANDONED_QUEUE = "abandoned_queue"
    DROPPED = "dropped"  # the exchange or carrier lost the line: a fault, not an abandon
    NO_CALLBACK_NUMBER = "no_callback_number"


class CallbackStatus(StrEnum):
    """Life of a callback request. ``PENDING`` and ``IN_PROGRESS`` are "open"."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    WRONG_NUMBER = "wrong_number"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OPEN_CALLBACK_STATUSES = (CallbackStatus.PENDING, CallbackStatus.IN_PROGRESS)


class AttemptResult(StrEnum):
    """What one callback attempt came to. A machine is never a completed callback."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    CONGESTION = "congestion"
    MACHINE = "machine"
    WRONG_NUMBER = "wrong_number"
    INTERRUPTED = "interrupted"


class Resolution(StrEnum):
    """Advisor's triage outcome, as the seeds record it."""

    NO_SERVICE_NEED = "no_service_need"  # advice given, solved on first contact
    SIMPLE_NEED = "simple_need"  # recorded, booked directly or passed to the service
    COMPLEX_CASE = "complex_case"  # service-need assessment or multi-service process


class Referral(StrEnum):
    """Where the caller was referred."""

    NONE = "none"
    OWN_SERVICES = "own_services"
    THIRD_SECTOR = "third_sector"
    PRIVATE = "private"
    OTHER_COUNTY = "other_county"
    OCCUPATIONAL_HEALTH = "occupational_health"
    OTHER = "other"


class ReasonCategory(StrEnum):
    """Why the caller contacted the line."""

    HEALTH = "health"
    SOCIAL = "social"
    APPOINTMENT_BOOKING = "appointment_booking"
    CANCELLATION = "cancellation"
    CONTACT_DETAILS = "contact_details"
    DIGITAL_SUPPORT = "digital_support"
    BILLING = "billing"
    FEEDBACK = "feedback"
    OTHER = "other"
