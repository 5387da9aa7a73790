"""The queueing theory the stationary simulator is checked against, checked itself.

Each figure is confirmed by a route that shares no code with `theory.py`: exact rational
arithmetic on the textbook sums, the limits Erlang A must reach, and the one Erlang A case
with an elementary closed form (patience rate equal to service rate).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from fractions import Fraction

import pytest

from tests.providers.sim.theory import QueueTheory, erlang_a, erlang_c

# Offered load a = calls_per_hour · mean_handle_s / 3600; with 300 s calls, a = calls_per_hour / 12.
HANDLE_S = 300.0
THRESHOLDS_S = [0.0, 20.0, 60.0, 300.0, 1800.0]


def textbook_erlang_b(load: Fraction, advisors: int) -> Fraction:
    """a^n/n! / Σ_{k≤n} a^k/k!, exactly."""
    terms = [load**k / math.factorial(k) for k in range(advisors + 1)]
    return terms[-1] / sum(terms)


def textbook_erlang_c(load: Fraction, advisors: int) -> Fraction:
    """The textbook ratio of sums, exactly: a^n/n!·n/(n−a) over Σ_{k<n} a^k/k! plus itself."""
    waiting = load**advisors / math.factorial(advisors) * advisors / (advisors - load)
    return waiting / (sum(load**k / math.factorial(k) for k in range(advisors)) + waiting)


class TestErlangC:
    """The closed Erlang C formula."""

    @pytest.mark.parametrize(
        ("calls_per_hour", "advisors", "expected"),
        [(24.0, 3, 4 / 9), (60.0, 6, 0.5875)],
    )
    def test_textbook_values(self, calls_per_hour: float, advisors: int, expected: float) -> None:
        """2 Erlangs on 3 advisors wait with probability 4/9; 5 Erlangs on 6 with ≈ 0.5875."""
        assert erlang_c(calls_per_hour, HANDLE_S, advisors).p_wait == pytest.approx(
            expected, abs=5e-5
        )

    @pytest.mark.parametrize(
        ("load", "advisors"), [(Fraction(2), 3), (Fraction(5), 6), (Fraction(19, 2), 10)]
    )
    def test_matches_exact_rational_arithmetic(self, load: Fraction, advisors: int) -> None:
        """The stable recursion gives the textbook ratio of sums computed in fractions."""
        theory = erlang_c(float(load) * 12, HANDLE_S, advisors)
        assert theory.p_wait == pytest.approx(float(textbook_erlang_c(load, advisors)), rel=1e-12)

    def test_mean_wait_and_service_level_follow_from_p_wait(self) -> None:
        """Waits beyond zero are Exp(nμ − λ): mean C/(nμ − λ), SL(t) = 1 − C·e^{−(nμ−λ)t}."""
        theory = erlang_c(60.0, HANDLE_S, 6)
        drain_rate = 6 / HANDLE_S - 60 / 3600
        assert theory.mean_wait_s == pytest.approx(theory.p_wait / drain_rate, rel=1e-12)
        assert theory.service_level(20.0) == pytest.approx(
            1 - theory.p_wait * math.exp(-drain_rate * 20.0), rel=1e-12
        )
        assert theory.abandon_share == 0.0

    def test_hundreds_of_advisors_do_not_overflow(self) -> None:
        """A 200-advisor line at ρ = 0.95 gives a finite probability of waiting below 1."""
        theory = erlang_c(190.0 * 12, HANDLE_S, 200)
        assert 0 < theory.p_wait < 1
        assert math.isfinite(theory.mean_wait_s)

    @pytest.mark.parametrize("calls_per_hour", [72.0, 90.0])
    def test_no_steady_state_at_or_beyond_full_load(self, calls_per_hour: float) -> None:
        """ρ >= 1 with callers who never give up has no steady state: refused."""
        with pytest.raises(ValueError, match="ρ"):
            erlang_c(calls_per_hour, HANDLE_S, 6)


class TestChainAsErlangC:
    """The birth–death chain with infinite patience: Erlang C by a second route."""

    @pytest.mark.parametrize("calls_per_hour", [36.0, 60.0, 68.4, 71.28])  # ρ = 0.5 … 0.99
    def test_chain_equals_closed_form(self, calls_per_hour: float) -> None:
        """Probability of waiting, mean wait (Little's law) and service level all agree."""
        closed = erlang_c(calls_per_hour, HANDLE_S, 6)
        chain = erlang_a(calls_per_hour, HANDLE_S, 6, math.inf)
        assert chain.p_wait == pytest.approx(closed.p_wait, rel=1e-10)
        assert chain.mean_wait_s == pytest.approx(closed.mean_wait_s, rel=1e-9)
        assert chain.abandon_share == 0.0
        for t_s in THRESHOLDS_S:
            assert chain.service_level(t_s) == pytest.approx(closed.service_level(t_s), abs=1e-10)

    def test_refuses_full_load(self) -> None:
        """Infinite patience at ρ = 1 is refused by the chain too."""
        with pytest.raises(ValueError, match="ρ"):
            erlang_a(72.0, HANDLE_S, 6, math.inf)


class TestErlangA:
    """M/M/n+M by the birth–death chain."""

    def test_huge_patience_is_erlang_c(self) -> None:
        """Callers who would wait millennia make the line an Erlang C line.

        The gap closes linearly in θ (mean wait ≈ 4e-6 low at a patience of 1e9 s): genuine
        abandonment, not numerical error, so the patience here is 1e12 s.
        """
        patient = erlang_a(60.0, HANDLE_S, 6, 1e12)
        closed = erlang_c(60.0, HANDLE_S, 6)
        assert patient.p_wait == pytest.approx(closed.p_wait, rel=1e-6)
        assert patient.mean_wait_s == pytest.approx(closed.mean_wait_s, rel=1e-6)
        assert patient.abandon_share < 1e-6
        assert patient.service_level(20.0) == pytest.approx(closed.service_level(20.0), rel=1e-6)

    @pytest.mark.parametrize(("calls_per_hour", "advisors"), [(60.0, 6), (120.0, 6), (24.0, 1)])
    def test_no_patience_is_erlang_b(self, calls_per_hour: float, advisors: int) -> None:
        """Callers who hang up at once when all are busy are the blocked calls of Erlang B."""
        impatient = erlang_a(calls_per_hour, HANDLE_S, advisors, 1e-7)
        blocking = float(textbook_erlang_b(Fraction(calls_per_hour / 12), advisors))
        assert impatient.abandon_share == pytest.approx(blocking, rel=1e-6)
        assert impatient.p_wait == pytest.approx(blocking, rel=1e-6)
        assert impatient.service_level(20.0) == pytest.approx(1 - blocking, rel=1e-6)

    @pytest.mark.parametrize(("calls_per_hour", "advisors"), [(60.0, 6), (48.0, 3), (150.0, 8)])
    def test_patience_equal_to_handle_time_has_poisson_closed_form(
        self, calls_per_hour: float, advisors: int
    ) -> None:
        """With θ = μ every caller present leaves at rate μ, as in M/M/∞: Poisson(a) in system.

        A caller finding m waiting ahead is then answered within t exactly when, of the
        n + m + 1 exponential clocks running (advisors, callers ahead, its own patience),
        m + 1 others ring before its own and by t: n/(n+m+1) · P(Bin(n+m+1, 1−e^{−μt}) ≥ m+1).
        """
        load = calls_per_hour / 12
        in_system = [math.exp(-load + k * math.log(load) - math.lgamma(k + 1)) for k in range(400)]
        queued = in_system[advisors:]
        theory = erlang_a(calls_per_hour, HANDLE_S, advisors, HANDLE_S)

        mean_queue_length = math.fsum(m * p for m, p in enumerate(queued))
        assert theory.p_wait == pytest.approx(math.fsum(queued), rel=1e-10)
        assert theory.abandon_share == pytest.approx(mean_queue_length / load, rel=1e-10)
        assert theory.mean_wait_s == pytest.approx(
            mean_queue_length / (calls_per_hour / 3600), rel=1e-10
        )
        for t_s in [20.0, 120.0, 600.0]:
            started = -math.expm1(-t_s / HANDLE_S)
            expected = math.fsum(in_system[:advisors]) + math.fsum(
                p
                * advisors
                / (advisors + m + 1)
                * binomial_at_least(advisors + m + 1, started, m + 1)
                for m, p in enumerate(queued[:150])
            )
            assert theory.service_level(t_s) == pytest.approx(expected, abs=1e-10)

    @pytest.mark.parametrize("calls_per_hour", [30.0, 66.0, 120.0])
    def test_answered_in_the_end_matches_littles_law_abandonment(
        self, calls_per_hour: float
    ) -> None:
        """Answered eventually (wait by wait) and abandoned (θ·E[queue]/λ) make up everyone."""
        theory = erlang_a(calls_per_hour, HANDLE_S, 6, 180.0)
        assert theory.service_level(math.inf) == pytest.approx(1 - theory.abandon_share, abs=1e-12)
        assert theory.abandon_share == pytest.approx(theory.mean_wait_s / 180.0, rel=1e-12)

    def test_service_level_starts_at_those_answered_at_once_and_grows(self) -> None:
        """SL(0) is the share who did not wait; it never falls as the threshold grows."""
        theory = erlang_a(66.0, HANDLE_S, 6, 120.0)
        levels = [theory.service_level(t_s) for t_s in [*THRESHOLDS_S, math.inf]]
        assert levels[0] == pytest.approx(1 - theory.p_wait, abs=1e-12)
        assert levels == sorted(levels)

    def test_overload_is_carried_by_abandonment(self) -> None:
        """At ρ = 5/3 advisors answer at most n/a of callers, so at least 2/5 abandon."""
        theory = erlang_a(120.0, HANDLE_S, 6, 120.0)
        assert 1 - 6 / 10 < theory.abandon_share < 1
        assert theory.p_wait < 1

    def test_large_line_with_long_queue_stays_finite(self) -> None:
        """200 advisors at ρ = 0.98 with patient callers: no overflow, figures in range."""
        theory = erlang_a(196.0 * 12, HANDLE_S, 200, 3600.0)
        assert 0 < theory.p_wait < 1
        assert 0 < theory.service_level(20.0) < 1
        assert math.isfinite(theory.mean_wait_s)

    @pytest.mark.parametrize(
        "arguments",
        [(0.0, HANDLE_S, 6, 60.0), (60.0, 0.0, 6, 60.0), (60.0, HANDLE_S, 0, 60.0),
         (60.0, HANDLE_S, 6, 0.0), (math.nan, HANDLE_S, 6, 60.0)],
    )  # fmt: skip
    def test_rejects_meaningless_lines(self, arguments: tuple[float, float, int, float]) -> None:
        """No arrivals, zero-length calls, no advisors or no patience are refused, not computed."""
        with pytest.raises(ValueError, match="must be"):
            erlang_a(*arguments)


class TestMonotoneInLoad:
    """More calls on the same advisors never make anything better."""

    @pytest.mark.parametrize(
        "model",
        [
            lambda calls_per_hour: erlang_c(calls_per_hour, HANDLE_S, 6),
            lambda calls_per_hour: erlang_a(calls_per_hour, HANDLE_S, 6, 120.0),
        ],
        ids=["erlang_c", "erlang_a"],
    )
    def test_every_figure_worsens_with_load(self, model: Callable[[float], QueueTheory]) -> None:
        """Waiting, mean wait and abandonment rise, the 20-second service level falls."""
        figures = [model(calls_per_hour) for calls_per_hour in [30.0, 45.0, 60.0, 66.0, 70.0]]
        for lighter, heavier in itertools.pairwise(figures):
            assert heavier.p_wait > lighter.p_wait
            assert heavier.mean_wait_s > lighter.mean_wait_s
            assert heavier.abandon_share >= lighter.abandon_share
            assert heavier.service_level(20.0) < lighter.service_level(20.0)

    def test_negative_threshold_is_refused(self) -> None:
        """A service level needs a threshold of zero seconds or more."""
        with pytest.raises(ValueError, match=">= 0"):
            erlang_c(60.0, HANDLE_S, 6).service_level(-1.0)


def binomial_at_least(trials: int, p: float, successes: int) -> float:
    return math.fsum(
        math.comb(trials, k) * p**k * (1 - p) ** (trials - k) for k in range(successes, trials + 1)
    )
