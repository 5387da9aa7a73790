"""Tables the reports keep beside the event log: a roll-up of it and two calendar dimensions.

The event log stays the only source of truth; everything here can be derived
from it again (``callflow report --rebuild``) and must then come out
identical. Instants are epoch microseconds (integers), which both databases
add, subtract and compare exactly.

- Facts: one row per call and one per callback request, each a function of
  that call's or request's events and of the configuration (the line's time
  zone, its calendar and the report thresholds).
- Cells: the facts summed per queue and local hour (and per local date for
  the outcome coding), so a report over a million calls adds up a few
  thousand rows. Queue ``''`` holds calls that never chose one.
- Dimensions: SQLite knows no time zones, so the calendar comes as tables
  filled from Python: local date, weekday and hour per UTC quarter-hour (every
  time zone in use is a whole number of quarter-hours from UTC), and the
  line's opening spans with the open time accumulated before each, which turns
  "working time between two instants" into one subtraction.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Boolean, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from callflow.store.base import Base


class ReportState(Base):
    """Bookkeeping of the roll-up and the dimensions, one row per part.

    ``rollup``: ``watermark`` is the last event id folded into the facts,
    ``fingerprint`` the configuration they were computed for.
    ``quarter_hours`` and ``open_spans``: ``fingerprint`` identifies the time
    zone or calendar they were filled for, ``first_day``..``last_day`` the
    local dates they cover; for ``open_spans``, ``watermark`` is the last stored
    calendar change (``line_changes.id``) they include.
    """

    __tablename__ = "report_state"

    part: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[int | None] = mapped_column(BigInteger)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    first_day: Mapped[date | None]
    last_day: Mapped[date | None]


class ReportQuarterHour(Base):
    """A UTC quarter-hour (epoch seconds // 900) and where it falls on the line's local clock."""

    __tablename__ = "report_quarter_hours"

    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    local_date: Mapped[date]
    weekday: Mapped[int] = mapped_column(SmallInteger)  # Monday 0
    hour: Mapped[int] = mapped_column(SmallInteger)


class ReportOpenSpan(Base):
    """One opening span of the line, keyed by its end so "the first span ending after t"
    is one index probe. ``worked_before_us`` is the open time of all earlier spans
    (from an arbitrary origin: only differences mean anything)."""

    __tablename__ = "report_open_spans"

    end_us: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    start_us: Mapped[int] = mapped_column(BigInteger)
    day_closes_us: Mapped[int] = mapped_column(BigInteger)
    """When the span's local day last closes: the same-working-day deadline."""
    worked_before_us: Mapped[int] = mapped_column(BigInteger)


class ReportCallFact(Base):
    """One call, as its events tell it."""

    __tablename__ = "report_call_facts"
    __table_args__ = (
        # Percentiles walk the waits in order, skipping calls outside the period or queue.
        Index(None, "wait_us", "local_date", "topic"),
        # A refresh sums again the cells of the local hours its calls fall in.
        Index(None, "local_date", "local_hour"),
    )

    call_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    arrived_us: Mapped[int] = mapped_column(BigInteger)
    local_date: Mapped[date]
    local_weekday: Mapped[int] = mapped_column(SmallInteger)
    local_hour: Mapped[int] = mapped_column(SmallInteger)
    closed_hours: Mapped[bool] = mapped_column(Boolean)
    topic: Mapped[str | None] = mapped_column(String(32))
    queue_entered_us: Mapped[int | None] = mapped_column(BigInteger)
    """The first queue entry: a caller who comes back to the queue keeps it."""
    answered_us: Mapped[int | None] = mapped_column(BigInteger)
    wait_us: Mapped[int | None] = mapped_column(BigInteger)
    """First queue entry to answer, for calls offered while open and answered."""
    abandoned_us: Mapped[int | None] = mapped_column(BigInteger)
    abandoned_stage: Mapped[str | None] = mapped_column(String(8))
    dropped_us: Mapped[int | None] = mapped_column(BigInteger)
    """When the exchange or carrier lost the line: no abandon, whatever the stage."""
    reason: Mapped[str | None] = mapped_column(String(32))
    referral: Mapped[str | None] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(String(32))


class ReportCallbackFact(Base):
    """One callback request, as its events tell it, placed in the line's calendar."""

    __tablename__ = "report_callback_facts"
    __table_args__ = (
        Index(None, "response_us", "local_date", "topic"),
        # Requests not yet dialled: whether they still can be the same day depends on "now".
        Index(None, "first_dialled_us", "local_date"),
        Index(None, "local_date", "local_hour"),
    )

    callback_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    call_id: Mapped[str | None] = mapped_column(String(36))
    topic: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    requested_us: Mapped[int] = mapped_column(BigInteger)
    local_date: Mapped[date]
    local_weekday: Mapped[int] = mapped_column(SmallInteger)
    local_hour: Mapped[int] = mapped_column(SmallInteger)
    due_us: Mapped[int | None] = mapped_column(BigInteger)
    first_dialled_us: Mapped[int | None] = mapped_column(BigInteger)
    cancelled_us: Mapped[int | None] = mapped_column(BigInteger)
    final: Mapped[str | None] = mapped_column(String(16))
    """completed, wrong_number, failed, expired or cancelled; None while open."""
    response_us: Mapped[int | None] = mapped_column(BigInteger)
    """Request to first dial, in calendar time."""
    working_response_us: Mapped[int | None] = mapped_column(BigInteger)
    """Request to first dial, counting opening hours only."""
    working_day_closes_us: Mapped[int | None] = mapped_column(BigInteger)
    """The closing of the request's working day: the same-day deadline."""
    reason: Mapped[str | None] = mapped_column(String(32))
    referral: Mapped[str | None] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(String(32))


class ReportCallCell(Base):
    """The calls of one queue in one local hour, summed."""

    __tablename__ = "report_call_cells"

    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    local_date: Mapped[date] = mapped_column(primary_key=True)
    local_hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    local_weekday: Mapped[int] = mapped_column(SmallInteger)
    closed_hours_calls: Mapped[int] = mapped_column(Integer)
    offered: Mapped[int] = mapped_column(Integer)
    queued: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    abandoned_ivr: Mapped[int] = mapped_column(Integer)
    abandoned_queue: Mapped[int] = mapped_column(Integer)
    short_abandons: Mapped[int] = mapped_column(Integer)
    calls_dropped: Mapped[int] = mapped_column(Integer)
    dropped_in_queue: Mapped[int] = mapped_column(Integer)
    """Dropped after entering a queue: left out of the shares' denominator."""
    waits: Mapped[int] = mapped_column(Integer)
    wait_us: Mapped[int] = mapped_column(BigInteger)
    answered_within_service_level: Mapped[int] = mapped_column(Integer)
    answered_immediately: Mapped[int] = mapped_column(Integer)
    waited_10s: Mapped[int] = mapped_column(Integer)
    waited_30s: Mapped[int] = mapped_column(Integer)
    waited_60s: Mapped[int] = mapped_column(Integer)
    waited_120s: Mapped[int] = mapped_column(Integer)
    waited_300s: Mapped[int] = mapped_column(Integer)
    waited_600s: Mapped[int] = mapped_column(Integer)
    waited_1200s: Mapped[int] = mapped_column(Integer)
    waited_longer: Mapped[int] = mapped_column(Integer)


class ReportCallbackCell(Base):
    """The callback requests of one queue made in one local hour, summed.

    Whether an undialled request still counts in the same-day and promise
    shares depends on the moment of the report, so ``same_day_decided`` and
    ``promise_decided`` hold only the dialled ones; the report adds the rest.
    """

    __tablename__ = "report_callback_cells"

    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    local_date: Mapped[date] = mapped_column(primary_key=True)
    local_hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    local_weekday: Mapped[int] = mapped_column(SmallInteger)
    callbacks_requested: Mapped[int] = mapped_column(Integer)
    callbacks_completed: Mapped[int] = mapped_column(Integer)
    callbacks_failed: Mapped[int] = mapped_column(Integer)
    callbacks_expired: Mapped[int] = mapped_column(Integer)
    callbacks_wrong_number: Mapped[int] = mapped_column(Integer)
    callbacks_cancelled: Mapped[int] = mapped_column(Integer)
    callbacks_open: Mapped[int] = mapped_column(Integer)
    dialled: Mapped[int] = mapped_column(Integer)
    response_us: Mapped[int] = mapped_column(BigInteger)
    working_response_us: Mapped[int] = mapped_column(BigInteger)
    same_day: Mapped[int] = mapped_column(Integer)
    same_day_decided: Mapped[int] = mapped_column(Integer)
    promise_kept: Mapped[int] = mapped_column(Integer)
    promise_decided: Mapped[int] = mapped_column(Integer)
    kept_1h: Mapped[int] = mapped_column(Integer)
    late_1h: Mapped[int] = mapped_column(Integer)
    kept_2h: Mapped[int] = mapped_column(Integer)
    late_2h: Mapped[int] = mapped_column(Integer)
    kept_4h: Mapped[int] = mapped_column(Integer)
    late_4h: Mapped[int] = mapped_column(Integer)
    kept_8h: Mapped[int] = mapped_column(Integer)
    late_8h: Mapped[int] = mapped_column(Integer)
    kept_24h: Mapped[int] = mapped_column(Integer)
    late_24h: Mapped[int] = mapped_column(Integer)
    kept_48h: Mapped[int] = mapped_column(Integer)
    late_48h: Mapped[int] = mapped_column(Integer)
    kept_72h: Mapped[int] = mapped_column(Integer)
    late_72h: Mapped[int] = mapped_column(Integer)
    kept_longer: Mapped[int] = mapped_column(Integer)
    late_longer: Mapped[int] = mapped_column(Integer)


class ReportCodedCell(Base):
    """Coded contacts (calls and callback requests) of one queue and local date, per value
    of one coding field (``reason``, ``referral`` or ``resolution``)."""

    __tablename__ = "report_coded_cells"

    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    local_date: Mapped[date] = mapped_column(primary_key=True)
    field: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(32), primary_key=True)
    contacts: Mapped[int] = mapped_column(Integer)
