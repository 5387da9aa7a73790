"""What operators' tools read: ``/metrics`` for Prometheus and ``/health`` for a load balancer.

The line's metrics are read from the database at scrape time by a custom
collector, so every web process answers the same figures however many run
(a counter kept in process memory would count only that process's share).
Each family is one grouped SQL statement. Counters are counts of rows that
only ever grow: claims in the event log, ended attempts, closed requests.

Dispatch wake-up latency — from "advisor ready" to "advisor's phone rung" —
is only seen inside a dispatcher, so each worker process exposes it as its
own histogram (``callflow_worker_wake_latency_seconds``, served by
``callflow worker``); Prometheus sums those across workers.

``/metrics`` can be served on an address of its own (``[web] metrics_host``
and ``metrics_port``), one only Prometheus reaches, and is then not on the
API's address.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import (
    OPEN_CALLBACK_STATUSES,
    AttemptResult,
    CallbackStatus,
    EventKind,
)
from callflow.http.errors import ErrorBody
from callflow.store.models import (
    OPEN_STATUSES_SQL,
    Advisor,
    AdvisorState,
    CallbackAttempt,
    CallbackRequest,
    CallEvent,
)
from callflow.store.queue_places import QueuePlace
from callflow.store.session import Database
from callflow.web import Context

PROMISES = ("on_time", "at_risk", "late")
CLOSED_STATUSES = tuple(s for s in CallbackStatus if s not in OPEN_CALLBACK_STATUSES)

router = APIRouter(tags=["operations"])
"""``/health``: always on the API's address, where the load balancer asks."""
scrape_router = APIRouter(tags=["operations"])
"""``/metrics``: on the API's address, or on one of its own (``[web] metrics_port``)."""


class LineCollector:
    """The line's state and history as Prometheus metrics, read when scraped.

    Every configured queue and every state is reported, at zero when empty,
    so a dashboard's series do not appear and vanish with the traffic.
    """

    def __init__(self, database: Database, config: HotlineConfig) -> None:
        self._database = database
        self._queues = list(config.topic_order)

    def collect(self) -> Iterable[Metric]:
        with self._database.reading() as session:
            return [
                self._waiting_calls(session),
                self._open_callbacks(session),
                self._advisors(session),
                self._claims(session),
                self._attempts(session),
                self._closed(session),
            ]

    def _waiting_calls(self, session: Session) -> Metric:
        # The places the engine keeps, not the calls that ever queued: a caller keying a
        # callback number, or moved to a callback at closing, has left the queue.
        waiting = Counter({queue: 0 for queue in self._queues})
        rows = session.execute(select(QueuePlace.topic, func.count()).group_by(QueuePlace.topic))
        for topic, count in rows:
            waiting[str(topic)] = count
        family = GaugeMetricFamily(
            "callflow_queue_waiting_calls", "Callers waiting in a queue now.", labels=["queue"]
        )
        for queue, count in sorted(waiting.items()):
            family.add_metric([queue], count)
        return family

    def _open_callbacks(self, session: Session) -> Metric:
        counts = Counter(
            {
                (queue, status.value, promise): 0
                for queue in self._queues
                for status in OPEN_CALLBACK_STATUSES
                for promise in PROMISES
            }
        )
        flagged = CallbackRequest.at_risk_at.is_not(None)
        rows = session.execute(
            select(CallbackRequest.topic, CallbackRequest.status, CallbackRequest.late, flagged)
            .add_columns(func.count())
            # Word for word the partial index's condition, so only open rows are read.
            .where(text(OPEN_STATUSES_SQL))
            .group_by(CallbackRequest.topic, CallbackRequest.status, CallbackRequest.late, flagged)
        )
        for topic, status, late, at_risk, count in rows:
            promise = "late" if late else "at_risk" if at_risk else "on_time"
            counts[(str(topic), str(status), promise)] += count
        family = GaugeMetricFamily(
            "callflow_callbacks_open",
            "Open callback requests by queue, status and promise: late (missed and carried "
            "over), at_risk (flagged as likely to miss its due time), on_time.",
            labels=["queue", "status", "promise"],
        )
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        return family

    def _advisors(self, session: Session) -> Metric:
        counts = Counter({state.value: 0 for state in AdvisorState})
        rows = session.execute(
            select(Advisor.state, func.count())
            .where(Advisor.enabled.is_(True))
            .group_by(Advisor.state)
        )
        for state, count in rows:
            counts[str(state)] = count
        family = GaugeMetricFamily(
            "callflow_advisors", "Enabled advisors by state.", labels=["state"]
        )
        for label, count in sorted(counts.items()):
            family.add_metric([label], count)
        return family

    def _claims(self, session: Session) -> Metric:
        claims = session.scalar(
            select(func.count()).where(CallEvent.kind == EventKind.CALLBACK_CLAIMED)
        )
        return CounterMetricFamily(
            "callflow_callback_claims",
            "Callbacks claimed by a dispatcher (one per attempt).",
            value=claims or 0,
        )

    def _attempts(self, session: Session) -> Metric:
        counts = Counter({result.value: 0 for result in AttemptResult})
        rows = session.execute(
            select(CallbackAttempt.result, func.count())
            .where(CallbackAttempt.ended_at.is_not(None), CallbackAttempt.result.is_not(None))
            .group_by(CallbackAttempt.result)
        )
        for result, count in rows:
            counts[str(result)] = count
        family = CounterMetricFamily(
            "callflow_callback_attempts", "Ended callback attempts by result.", labels=["result"]
        )
        for label, count in sorted(counts.items()):
            family.add_metric([label], count)
        return family

    def _closed(self, session: Session) -> Metric:
        counts = Counter({status.value: 0 for status in CLOSED_STATUSES})
        rows = session.execute(
            select(CallbackRequest.status, func.count())
            .where(CallbackRequest.status.in_(CLOSED_STATUSES))
            .group_by(CallbackRequest.status)
        )
        for status, count in rows:
            counts[str(status)] = count
        family = CounterMetricFamily(
            "callflow_callbacks_closed",
            "Closed callback requests by how they closed.",
            labels=["status"],
        )
        for label, count in sorted(counts.items()):
            family.add_metric([label], count)
        return family


def metrics_registry(database: Database, config: HotlineConfig) -> CollectorRegistry:
    """A registry of the line's metrics only: process figures would differ per web worker."""
    registry = CollectorRegistry()
    registry.register(LineCollector(database, config))
    return registry


class Health(BaseModel):
    status: str


@scrape_router.get(
    "/metrics",
    summary="The line's metrics, in Prometheus text format",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, 503: {"model": ErrorBody}},
)
def metrics(context: Context) -> Response:
    registry = metrics_registry(context.database, context.config)  # costs nothing to make
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/health",
    summary="Up, and the database answers",
    responses={503: {"model": ErrorBody, "description": "The database is not reachable."}},
)
def health(context: Context) -> Health:
    with context.database.reading() as session:
        session.execute(select(1))
    return Health(status="ok")
