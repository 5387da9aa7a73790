"""The stationary simulation against queueing theory: the engine's queue and the simulator
together must behave like M/M/n (Erlang C) and M/M/n+M (Erlang A).

Two kinds of check. First, exactly: replaying the run's own arrivals and
handle times through the textbook first-come-first-served recursion for n
advisors must give every caller the answer time the engine gave, to the
millisecond — so the engine's queue neither idles an advisor while someone
waits nor serves anyone out of turn. Second, statistically: the figures
must match Erlang C (no patience) or Erlang A (exponential patience).

Loads: Erlang C at 0.6, 0.7 and 0.85, Erlang A at 0.8, 0.9 and 1.1. Without
patience a queue at ρ = 0.9 forgets its past only every ~340 calls, so a
tolerance worth having there needs some 15,000 calls per run; runs that long are
``bench/simulate.py``'s (M/M/6 at ρ ≈ 0.83 for 120,000 calls, beside ciw and Erlang C;
figures in docs/benchmarks.md), not part of the default suite. Impatient callers make
the queue forget fast, so Erlang A is checked at 0.9 and in overload here.

Tolerance, and why: a simulation estimates each figure with an error that
shrinks like 1/√(run length) but, near full load, waits are strongly
correlated from one caller to the next — at ρ = 0.9 the realised load of a
few thousand calls already moves the share that waits by several points —
so the naive standard error is far too small. The run is cut into 20
consecutive batches whose means are close to independent (batch means, the
textbook method for steady-state output), and the error allowed is four of
those standard errors (a correct simulator misses that by chance about once
in 15,000 comparisons; with the seed fixed a run that passes keeps passing)
plus 2 % of the figure for the finite warm-up. A cap on each allowance keeps
the test meaningful: a run too short to tell right from wrong fails instead
of passing vacuously, and within the caps the mistakes that matter — service
times off by a tenth, callers who never leave — still fail it.
"""

from __future__ import annotations

import heapq
import math
import statistics
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import EventKind
from callflow.logging import configure_logging
from callflow.providers.sim.stationary import START, StationaryLoad, run_stationary
from callflow.store.models import Call, CallEvent
from callflow.store.session import Database
from tests.providers.sim.theory import QueueTheory, erlang_a, erlang_c

pytestmark = pytest.mark.slow  # long stationary runs: 15 to 40 simulated hours each

ADVISORS = 10
MEAN_HANDLE_S = 300.0
MEAN_PATIENCE_S = 180.0
BATCHES = 20
STANDARD_ERRORS = 4.0
BIAS_ALLOWANCE = 0.02


@pytest.fixture(autouse=True)
def _quiet() -> None:
    configure_logging("warning")  # a run logs every call at info


@dataclass(frozen=True)
class Waits:
    """Per caller, in order of entering the queue: wait, whether they waited, answered in time."""

    waits: list[float]
    waited: list[float]
    within: list[float]


def _waits(database: Database, since_hours: float, threshold_s: float) -> Waits:
    wait = CallEvent.data["wait_s"].as_float()
    with database.reading() as session:
        rows = session.execute(
            select(wait, CallEvent.kind)
            .join(Call, Call.id == CallEvent.call_id)
            .where(
                Call.queue_entered_at >= START + timedelta(hours=since_hours),
                CallEvent.kind.in_((EventKind.ANSWERED, EventKind.ABANDONED)),
            )
            .order_by(Call.queue_entered_at)
        ).all()
    return Waits(
        [w for w, _ in rows],
        [1.0 if w > 0 else 0.0 for w, _ in rows],
        [1.0 if k == EventKind.ANSWERED and w <= threshold_s else 0.0 for w, k in rows],
    )


def _batch_error(values: list[float]) -> float:
    size = len(values) // BATCHES
    means = [statistics.fmean(values[i * size : (i + 1) * size]) for i in range(BATCHES)]
    return statistics.stdev(means) / math.sqrt(BATCHES)


def _check(name: str, measured: float, expected: float, error: float, cap: float) -> None:
    allowed = STANDARD_ERRORS * error + BIAS_ALLOWANCE * abs(expected)
    assert allowed <= cap, f"{name}: run too short to judge (±{allowed:.3f} > {cap})"
    assert abs(measured - expected) <= allowed, (
        f"{name}: simulated {measured:.4f}, theory {expected:.4f}, allowed ±{allowed:.4f}"
    )


def _replay_fcfs(database: Database) -> float:
    """Largest gap between the engine's answer times and a first-come-first-served queue
    with ADVISORS servers fed the same arrivals and handle times."""
    with database.reading() as session:
        rows = session.execute(
            select(Call.queue_entered_at, Call.answered_at, Call.ended_at).order_by(
                Call.queue_entered_at, Call.id
            )
        ).all()
    free_at = [START] * ADVISORS
    worst = 0.0
    for entered, answered, ended in rows:
        assert answered is not None and ended is not None
        first_free = heapq.heappop(free_at)
        start = max(entered, first_free)
        worst = max(worst, abs((start - answered).total_seconds()))
        heapq.heappush(free_at, start + (ended - answered))
    return worst


def _run(config: HotlineConfig, tmp_path: Path, load: StationaryLoad) -> tuple[dict, Waits]:  # type: ignore[type-arg]
    database = Database.connect(f"sqlite:///{tmp_path / 'stationary.sqlite3'}")
    try:
        figures = run_stationary(config, database, load, seed=11)
        waits = _waits(database, load.warmup_hours, figures["service_level_within_s"])
        if load.mean_patience_s is None:
            assert _replay_fcfs(database) < 0.001, "the queue must serve first come, first served"
    finally:
        database.close()
    return figures, waits


def _compare(figures: dict, waits: Waits, theory: QueueTheory) -> None:  # type: ignore[type-arg]
    threshold = figures["service_level_within_s"]
    assert figures["offered"] == len(waits.waits)
    _check("p_wait", figures["p_wait"], theory.p_wait, _batch_error(waits.waited), cap=0.2)
    _check(
        "mean_wait_s",
        figures["mean_wait_s"],
        theory.mean_wait_s,
        _batch_error(waits.waits),
        cap=max(0.6 * theory.mean_wait_s, 15.0),
    )
    _check(
        "service_level",
        figures["service_level"],
        theory.service_level(threshold),
        _batch_error(waits.within),
        cap=0.2,
    )


@pytest.mark.parametrize(
    ("calls_per_hour", "hours"),
    [(72.0, 15.0), (84.0, 20.0), (102.0, 40.0)],
    ids=["rho-0.60", "rho-0.70", "rho-0.85"],
)
def test_without_patience_the_line_is_erlang_c(
    config: HotlineConfig, tmp_path: Path, calls_per_hour: float, hours: float
) -> None:
    load = StationaryLoad(calls_per_hour, MEAN_HANDLE_S, ADVISORS, hours)
    figures, waits = _run(config, tmp_path, load)
    assert figures["abandoned"] == 0
    _compare(figures, waits, erlang_c(calls_per_hour, MEAN_HANDLE_S, ADVISORS))


@pytest.mark.parametrize(
    ("calls_per_hour", "hours"),
    [(96.0, 20.0), (108.0, 25.0), (132.0, 20.0)],
    ids=["rho-0.80", "rho-0.90", "rho-1.10"],
)
def test_with_patience_the_line_is_erlang_a(
    config: HotlineConfig, tmp_path: Path, calls_per_hour: float, hours: float
) -> None:
    load = StationaryLoad(calls_per_hour, MEAN_HANDLE_S, ADVISORS, hours, MEAN_PATIENCE_S)
    figures, waits = _run(config, tmp_path, load)
    theory = erlang_a(calls_per_hour, MEAN_HANDLE_S, ADVISORS, MEAN_PATIENCE_S)
    _compare(figures, waits, theory)
    abandoned = [0.0] * figures["answered"] + [1.0] * figures["abandoned"]
    assert abs(figures["abandon_share"] - theory.abandon_share) <= max(
        STANDARD_ERRORS * statistics.pstdev(abandoned) / math.sqrt(len(abandoned) / 10), 0.02
    )
