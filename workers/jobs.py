"""The scheduled jobs, as idempotent ticks: what each does is decided in SQL.

APScheduler's FAQ warns that a job store shared between processes runs jobs
twice, so every worker keeps its jobs in memory and uses them only as timers.
Running a tick in two processes at once, or twice in one, has the effect of
running it once: the reaper and the promise watch change only rows their
conditions still select (taken ``SKIP LOCKED`` on PostgreSQL), and the
once-a-period jobs first claim their period in ``job_runs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from callflow.config.models import HotlineConfig
from callflow.engine.clock import Clock
from callflow.service.rules import LineRules, ReadsRules
from callflow.store.session import Database
from callflow.store.upkeep import (
    Purged,
    ReleasedLease,
    carry_over_at_closing,
    claim_period,
    flag_callbacks_at_risk,
    purge_numbers,
    release_expired_leases,
)
from callflow.values.durations import format_duration

log = structlog.get_logger("callflow.jobs")


@dataclass(frozen=True)
class JobContext(ReadsRules):
    """What every job needs; built once per worker. The rules are read as each job runs:
    a closure stored while the worker runs moves its closing time."""

    rules: LineRules
    database: Database
    clock: Clock
    owner: str

    @classmethod
    def create(
        cls, config: HotlineConfig, database: Database, clock: Clock, owner: str
    ) -> JobContext:
        """A context on *config* as it is (rules that do not change)."""
        return cls(LineRules.fixed(config), database, clock, owner)


def reap_expired_leases(context: JobContext) -> list[ReleasedLease]:
    """Callbacks whose worker stopped renewing go back in line (see the store's reaper)."""
    with context.database.transaction() as session:
        released = release_expired_leases(
            session, context.clock.now(), policy=context.policy, calendar=context.calendar
        )
    for lease in released:
        log.warning(
            "callback.lease_expired",
            callback_id=lease.callback_id,
            owner=lease.owner,
            attempt=lease.attempt_no,
            result=lease.result.value,
        )
    return released


def watch_promises(context: JobContext) -> list[int]:
    """Flag and escalate callbacks about to miss their service promise."""
    with context.database.transaction() as session:
        flagged = flag_callbacks_at_risk(
            session, context.clock.now(), context.config.dispatch.at_risk_margin
        )
    for callback_id in flagged:
        log.warning("callback.at_risk", callback_id=callback_id)
    return flagged


def close_the_day(context: JobContext, closing_at: datetime) -> list[int] | None:
    """At closing time, carry over (late, escalated) every request whose promise ran out;
    None if another worker already did it for this closing."""
    now = context.clock.now()
    period = context.calendar.local(closing_at).strftime("%Y-%m-%dT%H:%M")
    with context.database.transaction() as session:
        if not claim_period(session, "closing", period, owner=context.owner, now=now):
            return None
        carried = carry_over_at_closing(session, now)
    log.info("line.closed", closing=period, carried_over=len(carried))
    for callback_id in carried:
        log.warning("callback.carried_over", callback_id=callback_id)
    return carried


def purge_old_numbers(context: JobContext) -> Purged | None:
    """The nightly retention purge; None if another worker already ran it today."""
    now = context.clock.now()
    period = context.calendar.local_date(now).isoformat()
    with context.database.transaction() as session:
        if not claim_period(session, "purge", period, owner=context.owner, now=now):
            return None
        purged = purge_numbers(session, now, context.config.retention.numbers)
    log.info(
        "retention.purged",
        callback_numbers=purged.callback_numbers,
        call_numbers=purged.call_numbers,
        unfinished_calls=purged.unfinished_calls,
        twilio_steps=purged.twilio_steps,
        queue_places=purged.queue_places,
        survey_numbers=purged.survey_numbers,
        older_than=format_duration(context.config.retention.numbers),
    )
    return purged
