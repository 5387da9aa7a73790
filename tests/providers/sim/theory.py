"""Exact stationary figures of M/M/n (Erlang C) and M/M/n+M (Erlang A) queues.

The stationary simulator runs the real engine and store with Poisson arrivals, exponential
handle times and (optionally) exponential patience. Queueing theory knows the long-run answer
for exactly that line, so the simulator's mean wait, probability of waiting, abandonment and
service level can be checked against numbers that owe nothing to the code under test.

Every figure is taken over *all* arriving callers: by PASTA (Poisson arrivals see time
averages) an arrival finds the stationary distribution of the number of callers in the system.

- Erlang C (textbook, e.g. Kleinrock, *Queueing Systems* vol. 1, §3.5; Gross & Harris,
  *Fundamentals of Queueing Theory*, §2.3): with offered load a = λ/μ < n,
  C = P(wait > 0) = n·B / (n − a(1 − B)) where B is Erlang B, mean wait C / (nμ − λ) and
  P(wait ≤ t) = 1 − C·e^{−(nμ−λ)t}.
- Erlang A, the Palm queue (Garnett, Mandelbaum & Reiman, "Designing a call center with
  impatient customers", M&SOM 4(3), 2002; Mandelbaum & Zeltyn, "The Palm/Erlang-A queue,
  with applications to call centers", 2007): the number of callers in the system is a
  birth–death chain with birth rate λ and death rate min(k, n)μ + max(k − n, 0)θ, solved
  numerically here. With infinite patience (θ = 0) the same chain is M/M/n, which gives a
  second, independent route to Erlang C.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

SECONDS_PER_HOUR = 3600.0

# The chain is cut where the neglected states carry less than this share of probability
# mass (weighted by queue length + 1, so the mean queue length is as exact as the mass):
# far below anything a simulation of any length could resolve.
TAIL_TOLERANCE = 1e-12


@dataclass(frozen=True)
class QueueTheory:
    """Long-run figures of a queue, each over all arriving callers.

    `p_wait` is the share who find every advisor busy (and so wait at all), `mean_wait_s`
    the mean time in queue (0 for callers answered at once, time until hanging up for
    callers who abandon), `abandon_share` the share who hang up before being answered.
    """

    p_wait: float
    mean_wait_s: float
    abandon_share: float
    answered_within: Callable[[float], float] = field(repr=False, compare=False)

    def service_level(self, t_s: float) -> float:
        """Share of all arrivals answered after waiting at most `t_s` seconds.

        Abandoners count in the denominator and never in the numerator, as in the report.
        """
        if not t_s >= 0:
            raise ValueError(f"the service-level threshold must be >= 0 seconds, got {t_s}")
        return self.answered_within(t_s)


@dataclass(frozen=True)
class _Line:
    """The queue's rates, per second: what both models are computed from."""

    arrival_rate: float
    service_rate: float
    advisors: int
    # Per waiting caller; 0 means callers never give up.
    abandon_rate: float

    @classmethod
    def of(
        cls,
        calls_per_hour: float,
        mean_handle_s: float,
        advisors: int,
        mean_patience_s: float = math.inf,
    ) -> _Line:
        # `not x > 0` also rejects NaN, which would otherwise poison every figure silently.
        if not calls_per_hour > 0:
            raise ValueError(f"calls_per_hour must be > 0, got {calls_per_hour}")
        if not 0 < mean_handle_s < math.inf:
            raise ValueError(f"mean_handle_s must be finite and > 0, got {mean_handle_s}")
        if advisors < 1:
            raise ValueError(f"advisors must be >= 1, got {advisors}")
        if not mean_patience_s > 0:
            raise ValueError(f"mean_patience_s must be > 0, got {mean_patience_s}")
        return cls(
            arrival_rate=calls_per_hour / SECONDS_PER_HOUR,
            service_rate=1.0 / mean_handle_s,
            advisors=advisors,
            abandon_rate=1.0 / mean_patience_s,
        )

    @property
    def offered_erlangs(self) -> float:
        return self.arrival_rate / self.service_rate

    @property
    def all_busy_service_rate(self) -> float:
        """nμ: how fast the queue's head moves while every advisor is busy."""
        return self.advisors * self.service_rate

    def require_stable_without_abandonment(self) -> None:
        """Without abandonment a queue with ρ >= 1 grows for ever: there is no steady state."""
        if self.abandon_rate == 0 and self.offered_erlangs >= self.advisors:
            raise ValueError(
                f"offered load {self.offered_erlangs:.3f} Erlangs needs more than "
                f"{self.advisors} advisors (ρ = {self.offered_erlangs / self.advisors:.3f} "
                "must be < 1) when callers never abandon"
            )

    def departure_rate(self, in_system: int) -> float:
        """Death rate of the birth–death chain with `in_system` callers present."""
        busy = min(in_system, self.advisors)
        waiting = in_system - busy
        return busy * self.service_rate + waiting * self.abandon_rate


def erlang_c(calls_per_hour: float, mean_handle_s: float, advisors: int) -> QueueTheory:
    """M/M/n by the closed Erlang C formula (Kleinrock vol. 1, §3.5).

    C is computed from Erlang B by its recursion B(k) = a·B(k−1) / (k + a·B(k−1)), which stays
    accurate where the textbook ratio of sums would overflow (hundreds of advisors).
    """
    line = _Line.of(calls_per_hour, mean_handle_s, advisors)
    line.require_stable_without_abandonment()
    load = line.offered_erlangs
    blocking = _erlang_b(load, advisors)
    p_wait = advisors * blocking / (advisors - load * (1.0 - blocking))
    # The rate at which a waiting caller's remaining wait runs out: wait | wait > 0 ~ Exp(this).
    drain_rate = line.all_busy_service_rate - line.arrival_rate
    return QueueTheory(
        p_wait=p_wait,
        mean_wait_s=p_wait / drain_rate,
        abandon_share=0.0,
        answered_within=lambda t_s: 1.0 - p_wait * math.exp(-drain_rate * t_s),
    )


def erlang_a(
    calls_per_hour: float, mean_handle_s: float, advisors: int, mean_patience_s: float
) -> QueueTheory:
    """M/M/n+M (Garnett, Mandelbaum & Reiman 2002) by its birth–death chain.

    `mean_patience_s=math.inf` gives M/M/n through the same chain: Erlang C by a route
    independent of the closed formula. With finite patience any load has a steady state,
    so overloaded lines (ρ >= 1) are allowed.

    Mean wait follows from Little's law, E[queue length] / λ, and abandonment from the
    abandonment flow θ·E[queue length] / λ. The service level is exact: see `_answered_within`.
    """
    line = _Line.of(calls_per_hour, mean_handle_s, advisors, mean_patience_s)
    line.require_stable_without_abandonment()
    in_system = _stationary_distribution(line)
    queued = in_system[advisors:]
    mean_queue_length = math.fsum(waiting_ahead * p for waiting_ahead, p in enumerate(queued))
    return QueueTheory(
        p_wait=math.fsum(queued),
        mean_wait_s=mean_queue_length / line.arrival_rate,
        abandon_share=line.abandon_rate * mean_queue_length / line.arrival_rate,
        answered_within=lambda t_s: _answered_within(line, in_system, t_s),
    )


def _erlang_b(load: float, advisors: int) -> float:
    blocking = 1.0
    for servers in range(1, advisors + 1):
        blocking = load * blocking / (servers + load * blocking)
    return blocking


def _stationary_distribution(line: _Line) -> list[float]:
    """P(k callers in the system), k = 0, 1, …, up to where the tail is negligible.

    Balance λ·π(k−1) = d(k)·π(k) gives π(k) ∝ Π λ/d(j). The products are built as logarithms
    (a^k and k! each overflow a float beyond k ≈ 170). Death rates never decrease in k, so once
    r = λ/d(k+1) < 1 every later ratio is ≤ r and the neglected tail is bounded by a
    geometric series; the chain stops when that bound falls under TAIL_TOLERANCE.
    """
    log_weights = [0.0]
    log_total = 0.0
    while True:
        in_system = len(log_weights) - 1
        ratio = line.arrival_rate / line.departure_rate(in_system + 1)
        if ratio < 1.0:
            # Σ_{i≥1} (q + 1 + i)·r^i with q the queue length now: bounds both the neglected
            # mass and the neglected share of the mean queue length.
            queue_now = max(in_system - line.advisors, 0)
            tail_factor = ratio / (1.0 - ratio) * (queue_now + 1 + 1.0 / (1.0 - ratio))
            if log_weights[-1] + math.log(tail_factor) < math.log(TAIL_TOLERANCE) + log_total:
                break
        log_weights.append(log_weights[-1] + math.log(ratio))
        log_total = _log_add(log_total, log_weights[-1])
    return [math.exp(log_weight - log_total) for log_weight in log_weights]


def _log_add(log_a: float, log_b: float) -> float:
    """log(e^a + e^b) without overflowing."""
    high, low = max(log_a, log_b), min(log_a, log_b)
    return high + math.log1p(math.exp(low - high))


def _answered_within(line: _Line, in_system: list[float], t_s: float) -> float:
    """P(an arrival is answered after waiting at most t_s), exactly.

    An arrival finding fewer than n callers is answered at once. One finding m callers
    waiting ahead (FCFS) moves up one place at rate nμ + jθ while j are ahead of it (an
    advisor frees up, or one of them hangs up) and is answered at rate nμ once at the head;
    throughout, its own patience runs out at rate θ. Folding its own abandonment in as a
    killing rate, each place is held for Exp(nμ + (j+1)θ) whatever happens next, and is
    survived with probability (nμ + jθ) / (nμ + (j+1)θ); the product telescopes, so

        P(answered within t | m ahead) = nμ / (nμ + (m+1)θ) · P(N(t) ≥ m + 1)

    where N counts events of a process whose rate is nμ + (j+1)θ after j events: see
    `_reach_probabilities`.
    """
    advisors = line.advisors
    head_rate = line.all_busy_service_rate
    queued = in_system[advisors:]
    reaches = _reach_probabilities(line, t_s, len(queued))
    answered_after_waiting = (
        p * head_rate / (head_rate + (waiting_ahead + 1) * line.abandon_rate) * reach
        for waiting_ahead, (p, reach) in enumerate(zip(queued, reaches, strict=True))
    )
    return math.fsum(in_system[:advisors]) + math.fsum(answered_after_waiting)


def _reach_probabilities(line: _Line, t_s: float, places: int) -> list[float]:
    """P(N(t) ≥ m + 1) for m = 0 … places − 1: the chance of reaching an advisor within t_s
    from m places back if one never hung up oneself.

    N, with rate nμ + (j+1)θ after j events, is a linear birth process with immigration, so
    N(t) is negative binomial (Poisson when θ = 0): P(N = 0) = e^{−(nμ+θ)t} and
    P(N = j+1) / P(N = j) = (nμ + (j+1)θ)·h / (j + 1) with h = (1 − e^{−θt}) / θ (h = t when
    θ = 0). Every term is positive, so unlike the partial-fraction form of the hypoexponential
    distribution nothing cancels, however long the queue.
    """
    if t_s == 0:
        return [0.0] * places
    if math.isinf(t_s):
        return [1.0] * places
    head_rate = line.all_busy_service_rate
    abandon_rate = line.abandon_rate
    horizon_s = t_s if abandon_rate == 0 else -math.expm1(-abandon_rate * t_s) / abandon_rate
    log_events = -(head_rate + abandon_rate) * t_s  # log P(N(t) = 0)
    at_most = 0.0  # P(N(t) <= m)
    reaches = []
    for events in range(1, places + 1):
        at_most += math.exp(log_events)
        # Rounding can carry the running sum a hair past 1; a probability is never negative.
        reaches.append(max(1.0 - at_most, 0.0))
        log_events += math.log((head_rate + events * abandon_rate) * horizon_s / events)
    return reaches
