"""A simulated day at scale, and the stationary M/M/n line against Erlang C and ciw.

Run: ``python bench/simulate.py [--calls 50000] [--advisors 200] [--stationary-hours 2000]``
(``pip install -e '.[bench]'`` first: ciw, the reference simulator, is a benchmark-only
extra). Progress goes to stderr; the last stdout line is one JSON object.

The day: the example line with its staffing plan scaled to ``--advisors``
people and ``--calls`` callers on one ordinary Tuesday (2026-04-14, where
the weekday and month factors are 1), through the real engine, store and
claim on SQLite. Reported: wall time and the process's peak resident memory.

The stationary line: ``--stationary-advisors`` advisors (6), exponential handle times
of ``--stationary-handle`` seconds (300), ``--stationary-rate`` Poisson calls an hour
(60, so ρ ≈ 0.83), callers who never give up, for ``--stationary-hours`` (2,000: about
120,000 calls). The same model runs on ciw (a discrete-event queueing library) in the
same process; reported are both wall times, their ratio, and both runs' waits beside
Erlang C's, so the ratio compares two simulators that agree.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

try:
    import ciw
except ImportError:  # said when the stationary run needs it
    ciw = None

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callflow.config.load import load_config  # noqa: E402
from callflow.logging import configure_logging  # noqa: E402
from callflow.providers.sim.runs import line_for, run_days  # noqa: E402
from callflow.providers.sim.stationary import StationaryLoad, run_stationary  # noqa: E402
from callflow.store.session import Database  # noqa: E402
from tests.providers.sim.theory import erlang_c  # noqa: E402

ORDINARY_DAY = date(2026, 4, 14)
"""A Tuesday in April: weekday and month factors of 1, so calls per day is the day's load."""
TARGETS = {"day_wall_s": 30.0, "peak_rss_mb": 500.0, "stationary_ratio_to_ciw": 10.0}
"""This round's targets (issue 20); the direction is a 10 s day and 2 × ciw."""


def simulate_day(calls: int, advisors: int) -> dict[str, object]:
    config = line_for(load_config(ROOT / "config" / "hotline.toml"), advisors)
    with tempfile.TemporaryDirectory() as directory:
        database = Database.connect(f"sqlite:///{directory}/bench.sqlite3")
        began = time.perf_counter()
        run = run_days(config, database, ORDINARY_DAY, 1, seed=7, calls_per_day=calls)
        wall = time.perf_counter() - began
        database.close()
    tally = run.simulation.tally
    return {
        "day_calls": run.callers,
        "day_advisors": advisors,
        "day_wall_s": round(wall, 2),
        "day_calls_per_s": round(run.callers / wall, 1),
        "day_answered": tally.answered,
        "day_callbacks_requested": tally.callbacks_requested,
        "day_callbacks_dialled": tally.callbacks_dialled,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def stationary(load: StationaryLoad) -> dict[str, object]:
    config = load_config(ROOT / "config" / "hotline.toml")
    theory = erlang_c(load.calls_per_hour, load.mean_handle_s, load.advisors)
    with tempfile.TemporaryDirectory() as directory:
        database = Database.connect(f"sqlite:///{directory}/stationary.sqlite3")
        began = time.perf_counter()
        figures = run_stationary(config, database, load, seed=1)
        wall = time.perf_counter() - began
        database.close()
    within_s = float(figures["service_level_within_s"])
    reference = on_ciw(load, within_s)
    return {
        "stationary_rho": round(load.load, 3),
        "stationary_calls": figures["offered"],
        "stationary_wall_s": round(wall, 1),
        "ciw_calls": reference["calls"],
        "ciw_wall_s": round(reference["wall_s"], 2),
        "stationary_ratio_to_ciw": round(wall / reference["wall_s"], 1),
        "stationary_p_wait": figures["p_wait"],
        "ciw_p_wait": round(reference["p_wait"], 5),
        "erlang_c_p_wait": round(theory.p_wait, 4),
        "stationary_mean_wait_s": figures["mean_wait_s"],
        "ciw_mean_wait_s": round(reference["mean_wait_s"], 1),
        "erlang_c_mean_wait_s": round(theory.mean_wait_s, 1),
        "stationary_service_level": figures["service_level"],
        "ciw_service_level": round(reference["service_level"], 5),
        "erlang_c_service_level": round(theory.service_level(within_s), 4),
    }


def on_ciw(load: StationaryLoad, within_s: float) -> dict[str, Any]:
    """The same M/M/n line on ciw, timed from building the model to reading its records,
    measured over the callers who arrive after the same warm-up."""
    if ciw is None:
        sys.exit("bench/simulate.py needs ciw, a benchmark-only extra: pip install -e '.[bench]'")
    began = time.perf_counter()
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=load.calls_per_hour / 3600)],
        service_distributions=[ciw.dists.Exponential(rate=1 / load.mean_handle_s)],
        number_of_servers=[load.advisors],
    )
    ciw.seed(1)
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_time(load.hours * 3600)
    warm = load.warmup_hours * 3600
    waits = [r.waiting_time for r in simulation.get_all_records() if r.arrival_date >= warm]
    wall = time.perf_counter() - began
    return {
        "calls": len(waits),
        "wall_s": wall,
        "p_wait": sum(1 for w in waits if w > 0) / len(waits),
        "mean_wait_s": sum(waits) / len(waits),
        "service_level": sum(1 for w in waits if w <= within_s) / len(waits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--advisors", type=int, default=200)
    parser.add_argument("--stationary-hours", type=float, default=2000.0, help="0: no run")
    parser.add_argument("--stationary-advisors", type=int, default=6)
    parser.add_argument("--stationary-rate", type=float, default=60.0, help="calls an hour")
    parser.add_argument("--stationary-handle", type=float, default=300.0, help="mean, seconds")
    args = parser.parse_args()
    configure_logging("warning")
    figures: dict[str, object] = {}
    if args.calls > 0:
        print(f"simulating a {args.calls}-call day with {args.advisors} advisors…", file=sys.stderr)
        figures.update(simulate_day(args.calls, args.advisors))
    if args.stationary_hours > 0:
        load = StationaryLoad(
            args.stationary_rate,
            args.stationary_handle,
            args.stationary_advisors,
            args.stationary_hours,
        )
        print(
            f"stationary M/M/{load.advisors} at ρ={load.load:.2f} for {load.hours:g} h, "
            "here and on ciw…",
            file=sys.stderr,
        )
        figures.update(stationary(load))
    figures["targets"] = TARGETS
    figures["met"] = {
        key: float(str(figures[key])) <= target
        for key, target in TARGETS.items()
        if key in figures and math.isfinite(float(str(figures[key])))
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
