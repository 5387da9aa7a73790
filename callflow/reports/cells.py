"""From facts to cells: the facts summed per queue and local hour (or date), by SQL.

A cell is a function of the facts in it, so a refresh sums again just the
cells its recomputed facts fall in. The thresholds of ``[reports]`` sort the
calls here; the classes of the two distributions are fixed columns.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute

from callflow.config.models import HotlineConfig
from callflow.reports.facts import CODING_FIELDS
from callflow.reports.sqlfunc import MICROSECONDS
from callflow.store.report_models import ReportCallbackFact, ReportCallFact

HOUR_US = 3600 * MICROSECONDS
WAIT_CLASSES = (
    ("waited_10s", 10),
    ("waited_30s", 30),
    ("waited_60s", 60),
    ("waited_120s", 120),
    ("waited_300s", 300),
    ("waited_600s", 600),
    ("waited_1200s", 1200),
    ("waited_longer", None),
)
"""Answered calls by queue wait: up to each edge in seconds (inclusive), the last open-ended."""
RESPONSE_CLASSES = (
    ("1h", 1),
    ("2h", 2),
    ("4h", 4),
    ("8h", 8),
    ("24h", 24),
    ("48h", 48),
    ("72h", 72),
    ("longer", None),
)
"""Dialled requests by calendar hours to the first dial, each split into kept and late."""
NO_QUEUE = ""
"""The cells' queue for calls that never chose one."""


Fact = type[ReportCallFact] | type[ReportCallbackFact]
Column = ColumnElement[Any] | InstrumentedAttribute[Any]


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _classes(value: Column, edges: list[int | None], unit: int) -> list[ColumnElement[bool]]:
    """One condition per class: above the previous edge, up to this one (inclusive)."""
    conditions = []
    low: int | None = None
    for high in edges:
        bounds = [] if low is None else [value > low * unit]
        bounds += [] if high is None else [value <= high * unit]
        conditions.append(and_(value.is_not(None), *bounds))
        low = high
    return conditions


def queue_of(fact: Fact) -> ColumnElement[Any]:
    # Written into the SQL, not bound: PostgreSQL must see the same expression in GROUP BY.
    return func.coalesce(fact.topic, literal_column(f"'{NO_QUEUE}'"))


def _cell_key(fact: Fact) -> list[ColumnElement[Any]]:
    return [
        queue_of(fact).label("topic"),
        fact.local_date.label("local_date"),
        fact.local_hour.label("local_hour"),
        func.max(fact.local_weekday).label("local_weekday"),
    ]


def call_cells(config: HotlineConfig, hours: ColumnElement[bool] | None) -> Select[Any]:
    """The calls of each queue and local hour (of those in *hours*, or all), summed."""
    fact = ReportCallFact
    short = _us(config.reports.short_abandon_under)
    service_level = _us(config.reports.service_level_within)
    immediately = _us(config.reports.answered_immediately_within)
    offered = fact.closed_hours == false()
    answered = and_(offered, fact.answered_us.is_not(None))
    in_queue = and_(offered, fact.abandoned_stage == "queue")
    dropped = and_(offered, fact.dropped_us.is_not(None))
    # A queue hang-up with no logged entry time cannot be short: it counts as abandoned.
    abandon_wait = func.coalesce(fact.abandoned_us - fact.queue_entered_us, short)
    waited = fact.wait_us
    classes = _classes(waited, [edge for _, edge in WAIT_CLASSES], MICROSECONDS)
    return (
        select(
            *_cell_key(fact),
            _count(not_(offered)).label("closed_hours_calls"),
            _count(offered).label("offered"),
            _count(and_(offered, fact.queue_entered_us.is_not(None))).label("queued"),
            _count(answered).label("answered"),
            _count(and_(offered, fact.abandoned_stage == "ivr")).label("abandoned_ivr"),
            _count(and_(in_queue, abandon_wait >= short)).label("abandoned_queue"),
            _count(and_(in_queue, abandon_wait < short)).label("short_abandons"),
            _count(dropped).label("calls_dropped"),
            _count(and_(dropped, fact.queue_entered_us.is_not(None))).label("dropped_in_queue"),
            _count(waited.is_not(None)).label("waits"),
            func.coalesce(func.sum(waited), 0).label("wait_us"),
            _count(waited <= service_level).label("answered_within_service_level"),
            _count(waited <= immediately).label("answered_immediately"),
            *(
                _count(inside).label(name)
                for (name, _), inside in zip(WAIT_CLASSES, classes, strict=True)
            ),
        )
        .where(*([] if hours is None else [hours]))
        .group_by(queue_of(fact), fact.local_date, fact.local_hour)
    )


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def _cancelled_before_any_dial(fact: type[ReportCallbackFact]) -> ColumnElement[bool]:
    return and_(
        fact.cancelled_us.is_not(None),
        or_(fact.first_dialled_us.is_(None), fact.cancelled_us < fact.first_dialled_us),
    )


def callback_cells(hours: ColumnElement[bool] | None) -> Select[Any]:
    """The requests of each queue and local hour (of those in *hours*, or all), summed.
    Only dialled requests count as decided here; the report adds the undialled ones whose
    deadline has passed by then."""
    fact = ReportCallbackFact
    dialled = fact.first_dialled_us.is_not(None)
    settled = and_(not_(_cancelled_before_any_dial(fact)), dialled)
    has_due = fact.due_us.is_not(None)
    kept = and_(has_due, fact.first_dialled_us <= fact.due_us)
    late = and_(has_due, fact.first_dialled_us > fact.due_us)
    classes = _classes(fact.response_us, [edge for _, edge in RESPONSE_CLASSES], HOUR_US)
    by_class = []
    for (name, _), inside in zip(RESPONSE_CLASSES, classes, strict=True):
        by_class += [
            _count(and_(inside, kept)).label(f"kept_{name}"),
            _count(and_(inside, late)).label(f"late_{name}"),
        ]
    return (
        select(
            *_cell_key(fact),
            func.count().label("callbacks_requested"),
            *(
                _count(fact.final == final).label(f"callbacks_{final}")
                for final in ("completed", "failed", "expired", "wrong_number", "cancelled")
            ),
            _count(fact.final.is_(None)).label("callbacks_open"),
            _count(dialled).label("dialled"),
            func.coalesce(func.sum(fact.response_us), 0).label("response_us"),
            func.coalesce(func.sum(fact.working_response_us), 0).label("working_response_us"),
            _count(and_(settled, fact.first_dialled_us <= fact.working_day_closes_us)).label(
                "same_day"
            ),
            _count(settled).label("same_day_decided"),
            _count(and_(settled, kept)).label("promise_kept"),
            _count(and_(settled, has_due)).label("promise_decided"),
            *by_class,
        )
        .where(*([] if hours is None else [hours]))
        .group_by(queue_of(fact), fact.local_date, fact.local_hour)
    )


def coded_cells(days: list[ColumnElement[bool]] | None) -> Select[Any]:
    """Coded contacts per queue, local date and value of each coding field."""
    parts: list[Select[Any]] = []
    facts: tuple[Fact, ...] = (ReportCallFact, ReportCallbackFact)
    for index, fact in enumerate(facts):
        for field in CODING_FIELDS:
            value = getattr(fact, field)
            parts.append(
                select(
                    queue_of(fact).label("topic"),
                    fact.local_date.label("local_date"),
                    literal_column(f"'{field}'").label("field"),
                    value.label("value"),
                ).where(value.is_not(None), *([] if days is None else [days[index]]))
            )
    coded = union_all(*parts).subquery("coded")
    return select(
        coded.c.topic,
        coded.c.local_date,
        coded.c.field,
        coded.c.value,
        func.count().label("contacts"),
    ).group_by(coded.c.topic, coded.c.local_date, coded.c.field, coded.c.value)
