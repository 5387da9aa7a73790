"""The database, as typed SQLAlchemy models.

Invariants are database facts, not hopes: a partial unique index allows one
open callback request per phone number across all queues, another allows one
assignment per advisor, and a unique key per attempt number means the
resident is never dialled twice for one attempt.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from callflow.engine.vocabulary import (
    AttemptResult,
    CallbackStatus,
    Channel,
    EventKind,
    ReasonCategory,
    Referral,
    Resolution,
)
from callflow.store.base import Base, enum_column
from callflow.store.types import BigId

OPEN_STATUSES_SQL = "status IN ('pending', 'in_progress')"


LONGEST_NAME = 100
"""An advisor's name, at most (its column's size): every face of the line checks it."""
LONGEST_DIAL_STRING = 200


class AdvisorState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    BREAK = "break"


class Queue(Base):
    """One per topic, mirrored from the configuration so SQL can join on skills."""

    __tablename__ = "queues"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    skill: Mapped[str] = mapped_column(String(64))
    promise: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime]


class Advisor(Base):
    """Someone who answers the line. ``ready_at`` is when they can next be given work:
    set while available (the moment they became so, which orders "longest idle") or
    in wrap-up (the moment it ends), empty otherwise."""

    __tablename__ = "advisors"
    __table_args__ = (
        Index("uq_advisors_token_hash", "token_hash", unique=True),
        # Ready advisors, longest idle first: a claim walks this and stops at the first able one.
        Index(
            "ix_advisors_claim_order",
            "ready_at",
            "id",
            sqlite_where=text("ready_at IS NOT NULL"),
            postgresql_where=text("ready_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(LONGEST_NAME), unique=True)
    dial_string: Mapped[str | None] = mapped_column(String(LONGEST_DIAL_STRING))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    supervisor: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Sees the wallboard and every advisor's state (an admin sees that and more)."""
    token_hash: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    """argon2id, set through a one-time link; None until then (no sign-in to the pages)."""
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Wrong passwords in a row; the fifth locks the name until ``locked_until``."""
    locked_until: Mapped[datetime | None]
    locale: Mapped[str | None] = mapped_column(String(8))
    """The interface language they chose (fi, sv, en); None for the line's default."""
    state: Mapped[AdvisorState] = mapped_column(
        enum_column(AdvisorState, "advisor_state"), default=AdvisorState.OFFLINE
    )
    state_since: Mapped[datetime]
    ready_at: Mapped[datetime | None]
    break_reason: Mapped[str | None] = mapped_column(String(64))
    """Why they are on a break, while they are: a
    :class:`~callflow.store.advisors.BreakReason`, or ``missed_call``."""
    serving_call_id: Mapped[str | None] = mapped_column(String(36))
    """The queued caller they were last put through to: their desk shows the call until
    they code it or take the next (a leg that ended without a conversation clears it)."""
    created_at: Mapped[datetime]


class AdvisorSkill(Base):
    __tablename__ = "advisor_skills"

    advisor_id: Mapped[int] = mapped_column(
        ForeignKey("advisors.id", ondelete="CASCADE"), primary_key=True
    )
    skill: Mapped[str] = mapped_column(String(64), primary_key=True)


class AdvisorLanguage(Base):
    __tablename__ = "advisor_languages"

    advisor_id: Mapped[int] = mapped_column(
        ForeignKey("advisors.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(8), primary_key=True)


class Call(Base):
    """One call to the line. ``flow_state`` lets a provider rebuild the engine after a restart."""

    __tablename__ = "calls"
    __table_args__ = (UniqueConstraint("provider", "provider_ref"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    caller_e164: Mapped[str | None] = mapped_column(String(16))
    withheld: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    language: Mapped[str | None] = mapped_column(String(8))
    topic: Mapped[str | None] = mapped_column(ForeignKey("queues.name"))
    queue_entered_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))
    flow_state: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime]


class CallEvent(Base):
    """The append-only event log: every call and callback transition, timestamped."""

    __tablename__ = "call_events"
    __table_args__ = (Index(None, "kind", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, "event_kind"))
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"), index=True)
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callback_requests.id"), index=True)
    topic: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    data: Mapped[dict[str, Any]]


class CallbackRequest(Base):
    """A resident's request to be called back, kept in line by when they entered the queue."""

    __tablename__ = "callback_requests"
    __table_args__ = (
        Index(
            "uq_callback_requests_open_number",
            "number_e164",
            unique=True,
            sqlite_where=text(OPEN_STATUSES_SQL),
            postgresql_where=text(OPEN_STATUSES_SQL),
        ),
        Index(
            "uq_callback_requests_advisor_assignment",
            "advisor_id",
            unique=True,
            sqlite_where=text("status = 'in_progress'"),
            postgresql_where=text("status = 'in_progress'"),
        ),
        # Pending requests in claim order: a claim walks this and stops at the first it may take.
        # The reaper's question: which leases have run out?
        Index(
            "ix_callback_requests_lease_expiry",
            "lease_expires_at",
            sqlite_where=text("status = 'in_progress'"),
            postgresql_where=text("status = 'in_progress'"),
        ),
        Index(
            "ix_callback_requests_claim_order",
            "deadline_class",
            "queue_entered_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"))
    number_e164: Mapped[str | None] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(ForeignKey("queues.name"))
    language: Mapped[str] = mapped_column(String(8))
    requested_at: Mapped[datetime]
    queue_entered_at: Mapped[datetime]
    not_before: Mapped[datetime]
    due_at: Mapped[datetime]
    expected_at: Mapped[datetime]
    deadline_class: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[CallbackStatus] = mapped_column(
        enum_column(CallbackStatus, "callback_status"), default=CallbackStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id"))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    at_risk_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[Channel] = mapped_column(
        enum_column(Channel, "channel"), default=Channel.PHONE, server_default="phone"
    )
    """Where the request was made: ``phone``, or ``web`` (the contact page)."""
    description: Mapped[str | None] = mapped_column(String(1000))
    """What a web request says it is about, in the resident's words; erased with the number."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CallbackAttempt(Base):
    """One try at calling a resident back, with the advisor's outcome coding."""

    __tablename__ = "callback_attempts"
    __table_args__ = (UniqueConstraint("callback_id", "attempt_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callback_requests.id"))
    attempt_no: Mapped[int] = mapped_column(Integer)
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id"))
    claimed_at: Mapped[datetime]
    dialled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    result: Mapped[AttemptResult | None] = mapped_column(
        enum_column(AttemptResult, "attempt_result")
    )
    resolution: Mapped[Resolution | None] = mapped_column(enum_column(Resolution, "resolution"))
    referral: Mapped[Referral | None] = mapped_column(enum_column(Referral, "referral"))
    reason: Mapped[ReasonCategory | None] = mapped_column(
        enum_column(ReasonCategory, "reason_category")
    )
    duration_s: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(String(500))
    """The advisor's short note, phone numbers masked before it is stored."""


class Survey(Base):
    """The recommendation question asked after one contact, and its answer if one came.

    A row is written when the question is asked, so the response rate counts those who
    hung up instead of answering; the number is kept only to ask no one twice a day, and
    the retention purge erases it with the contact's.
    """

    __tablename__ = "surveys"
    __table_args__ = (
        Index(None, "number_e164", "asked_at"),
        CheckConstraint("score BETWEEN 0 AND 10", name="score_0_to_10"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"), index=True, unique=True)
    """The call it followed; one question a contact."""
    callback_id: Mapped[int | None] = mapped_column(
        ForeignKey("callback_requests.id"), index=True, unique=True
    )
    """The callback it followed, however many attempts it took; one question a contact."""
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    topic: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    number_e164: Mapped[str | None] = mapped_column(String(16))
    asked_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    score: Mapped[int | None] = mapped_column(SmallInteger)


class JobRun(Base):
    """Once-a-period jobs (closing time, the nightly purge) claim their period here first:
    the primary key lets exactly one process run each, however many are scheduled."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    ran_at: Mapped[datetime]
