"""How soon a stored change to the line's settings is in force in other processes.

Issue 19's target: a change reaches every running ``serve`` and ``worker`` within 2 s.
This starts ``--followers`` processes, each keeping the example line's rules current as
``serve`` and ``worker`` do (:func:`callflow.service.rules.kept_current`: PostgreSQL's
``NOTIFY``, or SQLite's latest change id read twice a second), then makes ``--changes``
changes from this process (``LineRules.change``, the one path of the CLI, the API and
the pages), ``--spacing`` seconds apart. Each follower prints the wall-clock time it had
each new version in force; a change's latency is the first time a follower has it (or a
later one) in force minus the time it was asked for, on one machine's clock. Both
databases, one after the other.

Last stdout line: one JSON object, per database the latency's p50, p99 and max in ms over
every follower and change, and whether every change reached every follower within 2 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.postgres import bench_database
from callflow.config.load import load_config
from callflow.service.rules import LineRules
from callflow.store.migrate import upgrade
from callflow.store.session import Database

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "hotline.toml"
TARGET_S = 2.0
KEY = "queues.health.overflow.queue_length"

FOLLOWER = """
import asyncio, sys, time
from callflow.config.load import load_config
from callflow.engine.clock import SystemClock
from callflow.logging import configure_logging
from callflow.service.rules import LineRules, kept_current
from callflow.store.session import Database, OutageLog

async def main() -> None:
    configure_logging("warning")  # stdout is for the times
    database = Database.connect(sys.argv[1])
    rules = LineRules.load(load_config(sys.argv[2]), database)
    rules.on_change(lambda new: print(new.version, time.time(), flush=True))
    async with kept_current(rules, database, OutageLog(SystemClock())):
        print("ready", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def measure(url: str, followers: int, changes: int, spacing: float) -> dict[str, Any]:
    database = Database.connect(url)
    upgrade(database)
    rules = LineRules.load(load_config(CONFIG), database)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", FOLLOWER, url, str(CONFIG)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        for _ in range(followers)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # every LISTEN in place: a notification before it is lost to it
        made: dict[int, float] = {}
        for n in range(changes):
            asked = time.time()
            change = rules.change(KEY, 4 + n % 5, by="bench", now=datetime.now(UTC))
            made[change.id] = asked
            time.sleep(spacing)
        time.sleep(TARGET_S)
    finally:
        for process in processes:
            process.terminate()
        outputs = [process.communicate(timeout=30)[0] for process in processes]
        database.close()
    latencies = []
    for output in outputs:
        # A follower may take two changes at one look (SQLite's, twice a second): a change
        # is in force there from the first version it reports at or past it.
        seen = [
            (int(version), float(at))
            for version, at in (line.split() for line in output.splitlines())
            if version.isdigit()
        ]
        for version, asked in made.items():
            heard = min((at for got, at in seen if got >= version), default=None)
            latencies.append(float("inf") if heard is None else heard - asked)
    latencies.sort()
    finite = [x for x in latencies if x != float("inf")]

    def ms(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)

    return {
        "followers": followers,
        "changes": changes,
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "max_ms": round(max(finite) * 1000, 1) if finite else None,
        "missed": len(latencies) - len(finite),
        "within_target": all(x <= TARGET_S for x in latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=3)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--spacing", type=float, default=0.25)
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "live_rules", "target_s": TARGET_S}
    with tempfile.TemporaryDirectory() as folder:
        sqlite = f"sqlite:///{folder}/line.sqlite3"
        print("sqlite…", file=sys.stderr)
        result["sqlite"] = measure(sqlite, args.followers, args.changes, args.spacing)
    with bench_database("callflow_bench_live_rules") as url:
        print("postgresql…", file=sys.stderr)
        result["postgresql"] = measure(url, args.followers, args.changes, args.spacing)
    result["targets_met"] = (
        result["sqlite"]["within_target"] and result["postgresql"]["within_target"]
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
