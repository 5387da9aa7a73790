"""The Twilio provider's tables: its calls (by CallSid) and the webhook steps already
answered. They live in the store with the others, as the retention purge erases their
old rows with the rest."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from callflow.store.base import Base, enum_column


class TwilioLeg(StrEnum):
    """What a Twilio call is to the line."""

    INBOUND = "inbound"  # a resident calling the line's number
    ADVISOR = "advisor"  # the advisor's leg of a callback (rung first)
    RESIDENT = "resident"  # the resident's leg of a callback
    CONNECT = "connect"  # an advisor called to take the caller at the front of a queue


class TwilioCall(Base):
    """One Twilio call (its CallSid) and what any process needs to answer its next webhook.

    An inbound call points to its ``calls`` row (whose ``flow_state`` is the
    engine's state); ``next_step`` numbers the URLs handed to Twilio, which is
    how a repeated webhook is told from a new one (who waits in which queue is
    in :mod:`~callflow.store.queue_places`, as for every provider). An outbound
    leg keeps the last status Twilio reported (``sequence`` orders them: a late
    or repeated one changes nothing); an advisor's call for a queued caller, the
    queue's ``topic`` and the caller's ``language``.
    """

    __tablename__ = "twilio_calls"
    __table_args__ = (
        # Advisors' calls for queued callers, per topic: those ringing, and recent handle times.
        Index("ix_twilio_calls_legs", "kind", "topic", "updated_at"),
    )

    call_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    kind: Mapped[TwilioLeg] = mapped_column(enum_column(TwilioLeg, "twilio_leg"))
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"))
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callback_requests.id"))
    attempt_no: Mapped[int | None]
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id"))
    topic: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    queue_visit: Mapped[int] = mapped_column(Integer, default=0)
    next_step: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int] = mapped_column(Integer, default=-1)
    answered_by: Mapped[str | None] = mapped_column(String(32))
    ready_at: Mapped[datetime | None]
    """An advisor's leg: the whisper is over and they wait for the resident. A connect
    leg: the advisor has been handed a caller."""
    duration_s: Mapped[float | None] = mapped_column(Float)
    survey_state: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
    )
    """A callback's resident leg hearing the recommendation question: the engine's
    machine (``SurveyState.to_dict()``) between webhooks. It holds the resident's number:
    cleared when the question is done or the leg ends, and by the retention purge."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TwilioStep(Base):
    """A webhook step already answered (or answered in advance): a retry of it gets the
    same TwiML back and changes nothing."""

    __tablename__ = "twilio_steps"

    call_sid: Mapped[str] = mapped_column(
        ForeignKey("twilio_calls.call_sid", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(48), primary_key=True)
    twiml: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
