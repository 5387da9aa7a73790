"""Each worker's own Prometheus metrics, served by ``callflow worker --metrics-port``.

What only a worker can see lives here: its claims, its attempts' results,
its leases lost, and how long a callback waited between becoming possible
(an advisor ready, the request due) and the advisor's phone being rung. The
line-wide picture (queue lengths, callbacks by promise state) is read from
the database by the web app's ``/metrics``, right however many workers run.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

WAKE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WorkerMetrics:
    """One registry per dispatcher, so tests and several dispatchers never share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.claims = Counter(
            "callflow_worker_claims", "Callbacks this worker claimed.", registry=self.registry
        )
        self.attempts = Counter(
            "callflow_worker_attempts",
            "Callback attempts this worker ended, by result.",
            ["result"],
            registry=self.registry,
        )
        self.leases_lost = Counter(
            "callflow_worker_leases_lost",
            "Callbacks this worker let go because its lease had moved on.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "callflow_worker_attempts_in_progress",
            "Callback attempts this worker is running now.",
            registry=self.registry,
        )
        self.wake_latency = Histogram(
            "callflow_worker_wake_latency_seconds",
            "From a callback becoming possible (advisor ready, request due) to the advisor's "
            "phone being rung.",
            buckets=WAKE_BUCKETS,
            registry=self.registry,
        )
        self.expired_leases = Counter(
            "callflow_worker_leases_reaped",
            "Expired leases this worker's reaper took back.",
            registry=self.registry,
        )
