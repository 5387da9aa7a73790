"""A simulated day at scale, and the stationary line at ρ = 0.9 against Erlang C.

Run: ``python bench/simulate.py [--calls 50000] [--advisors 200] [--stationary-hours 300]``.
Progress goes to stderr; the last stdout line is one JSON object.

The day: the example line with its staffing plan scaled to ``--advisors``
people and ``--calls`` callers on one ordinary Tuesday (2026-04-14, where
the weekday and month factors are 1), through the real engine, store and
claim on SQLite. Reported: wall time and the process's peak resident memory.

The stationary run: 10 advisors, 5-minute exponential handle times, 108
calls an hour (ρ = 0.9), callers who never give up — the Erlang C case too
slow to check with a tolerance worth having inside the default test suite.
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


def stationary(hours: float) -> dict[str, object]:
    config = load_config(ROOT / "config" / "hotline.toml")
    load = StationaryLoad(108.0, 300.0, 10, hours)
    theory = erlang_c(load.calls_per_hour, load.mean_handle_s, load.advisors)
    with tempfile.TemporaryDirectory() as directory:
        database = Database.connect(f"sqlite:///{directory}/stationary.sqlite3")
        began = time.perf_counter()
        figures = run_stationary(config, database, load, seed=1)
        wall = time.perf_counter() - began
        database.close()
    return {
        "stationary_rho": round(load.load, 3),
        "stationary_calls": figures["offered"],
        "stationary_wall_s": round(wall, 1),
        "stationary_p_wait": figures["p_wait"],
        "erlang_c_p_wait": round(theory.p_wait, 4),
        "stationary_mean_wait_s": figures["mean_wait_s"],
        "erlang_c_mean_wait_s": round(theory.mean_wait_s, 1),
        "stationary_service_level": figures["service_level"],
        "erlang_c_service_level": round(theory.service_level(figures["service_level_within_s"]), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--advisors", type=int, default=200)
    parser.add_argument("--stationary-hours", type=float, default=300.0)
    args = parser.parse_args()
    configure_logging("warning")
    figures: dict[str, object] = {}
    print(f"simulating a {args.calls}-call day with {args.advisors} advisors…", file=sys.stderr)
    figures.update(simulate_day(args.calls, args.advisors))
    if args.stationary_hours > 0:
        print(f"stationary ρ=0.9 for {args.stationary_hours:g} h…", file=sys.stderr)
        figures.update(stationary(args.stationary_hours))
    figures["targets"] = {"day_wall_s": 10, "peak_rss_mb": 500}
    figures["met"] = {
        "day_wall_s": math.isfinite(float(str(figures["day_wall_s"])))
        and float(str(figures["day_wall_s"])) <= 10,
        "peak_rss_mb": float(str(figures["peak_rss_mb"])) <= 500,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
