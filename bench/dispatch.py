"""The callback dispatcher on PostgreSQL: claims per second, wake-up latency, memory.

Run: ``python bench/dispatch.py [--callbacks 160000] [--advisors 60000] [--wakeups 200]``.
Progress goes to stderr; the last stdout line is one JSON object. The bench
creates and drops its own database (``callflow_bench_dispatch``) on the server
in ``CALLFLOW_BENCH_POSTGRES``.

- **Claims per second** for 1, 2 and 4 real ``callflow worker`` processes on a
  freshly seeded table, the simulated phones slowed (``--speed 0.5``: ringing
  and whisper take 20 s) so no attempt gets past ringing its advisor while we
  count: what is measured is the dispatcher's own claim path. Beside it, in the
  same run and on the same table layout, the same number of plain processes
  each looping over a bare ``SKIP LOCKED`` claim, one transaction each, with
  psycopg alone: the least any claim could cost. Both are counted the same way,
  the claims committed between 2 s and 12 s after the processes are ready. The
  workers are killed afterwards (see :func:`kill_workers`).
- **Wake-up latency**: two idle workers at normal speed, callbacks waiting and
  nobody ready; one at a time, an advisor is made available through the store
  (its NOTIFY goes out on commit), and the latency runs from the moment that
  COMMIT is sent to the worker's ``callback.ringing_advisor`` log line for that
  advisor (by the line's own timestamp; the commit's own few milliseconds are
  counted, so a bench descheduled after its commit can never flatter the
  figure). The sweep is ten minutes apart, so only the wake-up can explain a dial.
- **Peak memory per worker**: ``VmHWM`` of each worker just before it is stopped.

Targets: claims at 4 processes ≥ 0.5 of the bare loop; wake-up p99 ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.postgres import bench_database, plain_dsn  # noqa: E402
from callflow.config.load import load_config  # noqa: E402
from callflow.engine.vocabulary import CallbackStatus, EventKind  # noqa: E402
from callflow.store.advisors import set_advisor_state  # noqa: E402
from callflow.store.migrate import ensure_current  # noqa: E402
from callflow.store.models import AdvisorState  # noqa: E402
from callflow.store.queues import sync_queues  # noqa: E402
from callflow.store.session import Database  # noqa: E402

DATABASE_NAME = "callflow_bench_dispatch"
CALLFLOW = str(Path(sys.executable).with_name("callflow"))
EXAMPLE_CONFIG = ROOT / "config" / "hotline.toml"
TOPICS = ("health", "social", "other")
SKILLS = ("nurse", "social_counsellor", "service_advisor")
LANGUAGES = ("fi", "sv", "en")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WORKER_COUNTS = (1, 2, 4)
LEASE = timedelta(seconds=90)
TARGET_RATIO = 0.5
TARGET_WAKE_P99_MS = 100.0
BENCH_DISPATCH = {
    # Only a wake-up may explain a dial: the safety-net sweep is far off.
    "sweep_interval": "10m",
    # An advisor serves one callback per run: a second ring would blur whose wake-up it was.
    "wrap_up": "60m",
}


STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.1f} s] {message}", file=sys.stderr, flush=True)


# -- the line and its database ---------------------------------------------------------


def always_open_config(folder: Path) -> Path:
    """The example configuration open around the clock, dialling at any hour, with the
    bench's ``[dispatch]`` settings: workers decide on the wall clock, and a bench run at
    night must still see them dial (the same edit as the multi-process tests make)."""
    config = EXAMPLE_CONFIG.read_text()
    for day in DAYS:
        old = f'{day} = ["09:00-15:00"]' if day not in ("saturday", "sunday") else f"{day} = []"
        config = _replace_once(config, old, f'{day} = ["00:00-24:00"]')
    config = _replace_once(config, 'holidays = "FI"', 'holidays = ""')
    config = _replace_once(config, 'allowed_hours = "09:00-14:45"', 'allowed_hours = "00:00-24:00"')
    for block in ("[[calendar.closures]]", "[[calendar.special_hours]]"):
        while block in config:
            start = config.index(block)
            end = config.index("\n\n", start)
            config = config[:start] + config[end + 2 :]
    for key, value in BENCH_DISPATCH.items():
        line = next(line for line in config.splitlines() if line.startswith(f"{key} = "))
        config = _replace_once(config, line, f'{key} = "{value}"')
    path = folder / "hotline.toml"
    path.write_text(config)
    return path


def _replace_once(config: str, old: str, new: str) -> str:
    if config.count(old) != 1:
        raise SystemExit(f"config/hotline.toml changed: expected {old!r} once")
    return config.replace(old, new)


SEED_ADVISORS = """
INSERT INTO advisors (name, enabled, admin, state, state_since, ready_at, created_at)
SELECT 'bench-' || i, true, false, %(state)s, %(since)s, %(ready_at)s, %(since)s
  FROM generate_series(0, %(advisors)s - 1) AS i ORDER BY i
"""
SEED_SKILLS = """
INSERT INTO advisor_skills (advisor_id, skill)
SELECT id, skill FROM advisors, unnest(%(skills)s::text[]) AS skill
"""
SEED_LANGUAGES = """
INSERT INTO advisor_languages (advisor_id, language)
SELECT id, language FROM advisors, unnest(%(languages)s::text[]) AS language
"""
SEED_CALLBACKS = """
INSERT INTO callback_requests (number_e164, topic, language, requested_at, queue_entered_at,
    not_before, due_at, expected_at, deadline_class, status, attempts, late, created_at,
    updated_at)
SELECT '+35840' || lpad(i::text, 7, '0'), (%(topics)s::text[])[i %% 3 + 1],
       (%(languages)s::text[])[i %% 7 %% 3 + 1], %(now)s,
       %(now)s - make_interval(secs => %(callbacks)s - i), %(since)s,
       %(now)s + interval '6 hours', %(now)s + interval '1 hour', 1 + i %% 2, %(pending)s, 0,
       false, %(now)s, %(now)s
  FROM generate_series(0, %(callbacks)s - 1) AS i ORDER BY i
"""


def reseed(
    database: Database, config_file: Path, *, callbacks: int, advisors: int, ready: bool
) -> list[int]:
    """Empty the dispatcher's tables and fill them afresh, in the server (seeding is not
    measured): *advisors* with every skill and language (available since an hour ago when
    *ready*, else offline), and *callbacks* pending requests in the three topics, the
    earliest queued first, due hours from now (nothing falls at risk meanwhile). Returns
    the advisors' ids, in order."""
    now = datetime.now(UTC)
    since = now - timedelta(hours=1)
    with database.transaction() as session:
        sync_queues(session, load_config(config_file), now)
    parameters = {
        "now": now,
        "since": since,
        "ready_at": since if ready else None,
        "state": (AdvisorState.AVAILABLE if ready else AdvisorState.OFFLINE).value,
        "advisors": advisors,
        "callbacks": callbacks,
        "skills": list(SKILLS),
        "languages": list(LANGUAGES),
        "topics": list(TOPICS),
        "pending": CallbackStatus.PENDING.value,
    }
    with psycopg.connect(plain_dsn(database.engine.url.render_as_string(False))) as connection:
        connection.execute(
            "TRUNCATE call_events, callback_attempts, callback_requests, advisor_skills, "
            "advisor_languages, advisors RESTART IDENTITY CASCADE"
        )
        for statement in (SEED_ADVISORS, SEED_SKILLS, SEED_LANGUAGES, SEED_CALLBACKS):
            connection.execute(statement, parameters)
        ids = [row[0] for row in connection.execute("SELECT id FROM advisors ORDER BY id")]
        connection.commit()
        connection.autocommit = True
        # Fresh statistics, as autovacuum would give.
        connection.execute("ANALYZE advisors, advisor_skills, advisor_languages, callback_requests")
    return ids


class Counter:
    """Counts, on a connection of its own, what the processes under test have committed."""

    def __init__(self, url: str) -> None:
        self.connection = psycopg.connect(plain_dsn(url), autocommit=True)

    def claimed_events(self) -> int:
        row = self.connection.execute(
            "SELECT count(*) FROM call_events WHERE kind = %s", (EventKind.CALLBACK_CLAIMED.value,)
        ).fetchone()
        return int(row[0]) if row else 0

    def in_progress(self) -> int:
        row = self.connection.execute(
            "SELECT count(*) FROM callback_requests WHERE status = 'in_progress'"
        ).fetchone()
        return int(row[0]) if row else 0

    def claimed_and_held(self) -> tuple[int, int]:
        """Claims logged and requests in progress, read in one snapshot: the workers keep
        claiming while we read, and two statements would each see a different moment."""
        row = self.connection.execute(
            "SELECT (SELECT count(*) FROM call_events WHERE kind = %s), "
            "(SELECT count(*) FROM callback_requests WHERE status = 'in_progress')",
            (EventKind.CALLBACK_CLAIMED.value,),
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def ready_advisors(self) -> int:
        row = self.connection.execute(
            "SELECT count(*) FROM advisors WHERE state = 'available'"
        ).fetchone()
        return int(row[0]) if row else 0

    def listeners(self) -> int:
        row = self.connection.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN %%'"
        ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.connection.close()


def rate_over_window(
    ready_at: float, count: Callable[[], int], warm_up: float, window: float
) -> float:
    """Committed claims per second between *warm_up* and *warm_up* + *window* seconds
    after *ready_at* (a ``time.monotonic()`` instant)."""
    _sleep_until(ready_at + warm_up)
    first_at, first = time.monotonic(), count()
    _sleep_until(first_at + window)
    last_at, last = time.monotonic(), count()
    return (last - first) / (last_at - first_at)


def _sleep_until(instant: float) -> None:
    time.sleep(max(0.0, instant - time.monotonic()))


# -- worker processes ------------------------------------------------------------------


class WorkerProcess:
    """One real ``callflow worker`` process, its JSON log lines going to a file."""

    def __init__(self, url: str, config_file: Path, log_path: Path, *, speed: float) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self._read_to = 0
        self._partial = b""
        self.process = subprocess.Popen(
            [
                CALLFLOW,
                "worker",
                "--config",
                str(config_file),
                "--database-url",
                url,
                "--speed",
                str(speed),
                "--seed",
                "1",
                "--grace",
                "0s",
                "--log-level",
                "info",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def new_lines(self) -> Iterator[dict[str, Any]]:
        """Log lines written since the last call (JSON, as stderr is not a terminal)."""
        with self.log_path.open("rb") as log:
            log.seek(self._read_to)
            chunk = log.read()
        self._read_to += len(chunk)
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        for line in complete:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # not ours to judge here; the log file stays for reading
            if isinstance(entry, dict):
                yield entry

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    def alive(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(
                f"worker {self.process.pid} exited ({self.process.returncode}); "
                f"see {self.log_path}:\n{self.log_path.read_text()[-2000:]}"
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            progress(f"  worker {self.process.pid} still running {timeout:.0f} s after SIGTERM")
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code


def start_workers(
    url: str, config_file: Path, folder: Path, count: int, *, speed: float, label: str
) -> list[WorkerProcess]:
    workers = [
        WorkerProcess(url, config_file, folder / f"{label}-{n}.log", speed=speed)
        for n in range(count)
    ]
    started: set[int] = set()
    deadline = time.monotonic() + 60
    while len(started) < count:
        for n, worker in enumerate(workers):
            worker.alive()
            if any(entry.get("event") == "worker.started" for entry in worker.new_lines()):
                started.add(n)
        if time.monotonic() > deadline:
            raise SystemExit(f"workers did not start within 60 s; see {folder}")
        time.sleep(0.02)  # waiting for processes to boot, not timing them
    return workers


def stop_workers(workers: list[WorkerProcess]) -> float:
    """SIGTERM (``--grace 0s``): attempts in progress are handed back. Returns the peak
    memory of the hungriest worker (MB), read just before the signal."""
    peak = max(worker.peak_rss_mb() for worker in workers)
    began = time.monotonic()
    for worker in workers:
        worker.stop()
    codes = [worker.wait(timeout=120) for worker in workers]
    progress(f"  stopped in {time.monotonic() - began:.1f} s (exit codes {codes})")
    if any(codes):
        raise SystemExit(f"a worker failed to stop cleanly: {codes}; see {workers[0].log_path}")
    return peak


def kill_workers(workers: list[WorkerProcess]) -> float:
    """SIGKILL, for workers whose state nobody needs: the claim runs leave each worker
    ringing thousands of advisors, and handing every attempt back one transaction at a
    time took minutes (more, the faster the claims) to measure nothing, as the table is
    reseeded next. Returns the peak memory of the hungriest worker (MB)."""
    peak = max(worker.peak_rss_mb() for worker in workers)
    for worker in workers:
        worker.kill()
    for worker in workers:
        worker.wait(timeout=30)
    return peak


# -- claims per second -------------------------------------------------------------------


def claims_with_workers(
    url: str, config_file: Path, folder: Path, count: int, args: argparse.Namespace
) -> tuple[float, float]:
    """(claims per second, peak MB) for *count* workers on a freshly seeded table."""
    database = Database.connect(url)
    reseed(database, config_file, callbacks=args.callbacks, advisors=args.advisors, ready=True)
    database.close()
    counter = Counter(url)
    workers = start_workers(url, config_file, folder, count, speed=0.5, label=f"claims{count}")
    try:
        rate = rate_over_window(time.monotonic(), counter.claimed_events, args.warm_up, args.window)
        claimed, held = counter.claimed_and_held()
        ready = counter.ready_advisors()
        for worker in workers:
            worker.alive()
    finally:
        peak = kill_workers(workers)
        counter.close()
    # Every claim still ringing its advisor: nothing finished, nothing handed back, so the
    # count is claims alone; and advisors to spare, so no claim came back empty-handed.
    if claimed != held:
        raise SystemExit(f"{claimed} claimed but {held} in progress: attempts went past ringing")
    if ready == 0 or held >= args.callbacks:
        raise SystemExit("advisors or callbacks ran out during the window; seed more")
    progress(f"  {count} worker(s): {rate:.0f} claims/s; {held} held, {ready} advisors still ready")
    return rate, peak


BARE_CLAIM = """
UPDATE callback_requests
   SET status = 'in_progress', lease_owner = %(owner)s, lease_expires_at = %(until)s
 WHERE id = (SELECT id FROM callback_requests
              WHERE status = 'pending'
              ORDER BY deadline_class, queue_entered_at, id
              LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id
"""


def bare_claimer(
    dsn: str, owner: str, ready: Queue[str], start: EventType, stop: EventType
) -> None:
    """One plain process: claim, commit, again, until told to stop."""
    with psycopg.connect(dsn) as connection:
        connection.execute("SELECT 1")
        connection.commit()
        ready.put(owner)
        start.wait()
        while not stop.is_set():
            with connection.transaction():
                until = datetime.now(UTC) + LEASE
                claimed = connection.execute(BARE_CLAIM, {"owner": owner, "until": until})
                if claimed.fetchone() is None:
                    return


def claims_bare(url: str, config_file: Path, count: int, args: argparse.Namespace) -> float:
    """Bare claims per second for *count* plain processes on a freshly seeded table."""
    database = Database.connect(url)
    reseed(database, config_file, callbacks=args.callbacks, advisors=args.advisors, ready=True)
    database.close()
    counter = Counter(url)
    spawn = multiprocessing.get_context("spawn")
    ready, start, stop = spawn.Queue(), spawn.Event(), spawn.Event()
    processes = [
        spawn.Process(target=bare_claimer, args=(plain_dsn(url), f"bare-{n}", ready, start, stop))
        for n in range(count)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            ready.get(timeout=60)
        start.set()
        rate = rate_over_window(time.monotonic(), counter.in_progress, args.warm_up, args.window)
        held = counter.in_progress()
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=30)
        counter.close()
    if held >= args.callbacks:
        raise SystemExit("callbacks ran out during the bare window; seed more")
    progress(f"  {count} bare process(es): {rate:.0f} claims/s; {held} held")
    return rate


# -- wake-up latency ---------------------------------------------------------------------


def wake_up_latencies(
    url: str, config_file: Path, folder: Path, args: argparse.Namespace
) -> tuple[list[float], int, float]:
    """(latencies in ms, wake-ups with no dial seen, peak MB): one advisor made available at a
    time, each a separate wake-up of idle workers; the first few warm the workers up."""
    database = Database.connect(url)
    advisors = reseed(
        database,
        config_file,
        callbacks=args.wake_callbacks,
        advisors=args.wake_warm_up + args.wakeups,
        ready=False,
    )
    counter = Counter(url)
    workers = start_workers(url, config_file, folder, args.wake_workers, speed=1.0, label="wakeups")
    latencies: list[float] = []
    commits: list[float] = []
    missed = 0
    try:
        deadline = time.monotonic() + 30
        while counter.listeners() < len(workers):  # LISTEN issued: NOTIFYs will be heard
            if time.monotonic() > deadline:
                raise SystemExit("workers are not listening for wake-ups")
            time.sleep(0.02)
        for n, advisor_id in enumerate(advisors):
            with database.transaction() as session:
                set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, datetime.now(UTC))
                session.flush()  # the NOTIFY is said; only the COMMIT is left
                committing_at = datetime.now(UTC)
            commits.append((datetime.now(UTC) - committing_at).total_seconds() * 1000)
            dialled_at = _ringing(workers, advisor_id, within=args.wake_timeout)
            if dialled_at is None:
                missed += 1
                progress(f"  advisor {advisor_id}: no dial within {args.wake_timeout} s")
            elif n >= args.wake_warm_up:
                latencies.append((dialled_at - committing_at).total_seconds() * 1000)
            time.sleep(args.pause)  # the workers idle again: the next one is a fresh wake-up
        for worker in workers:
            worker.alive()
    finally:
        peak = stop_workers(workers)
        counter.close()
        database.close()
    progress(f"  the bench's COMMIT itself took {percentile(commits, 0.5):.1f} ms (median)")
    return latencies, missed, peak


def _ringing(workers: list[WorkerProcess], advisor_id: int, *, within: float) -> datetime | None:
    """When a worker logged ringing *advisor_id*, by the log line's own timestamp."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for worker in workers:
            for entry in worker.new_lines():
                if (
                    entry.get("event") == "callback.ringing_advisor"
                    and entry.get("advisor_id") == advisor_id
                ):
                    return datetime.fromisoformat(entry["timestamp"])
        time.sleep(0.005)  # the latency comes from the log's timestamp, not from this poll
    return None


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least *share* of them at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# -- the run -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callbacks", type=int, default=160_000)
    parser.add_argument("--advisors", type=int, default=60_000)
    parser.add_argument("--warm-up", type=float, default=2.0, help="seconds before counting")
    parser.add_argument("--window", type=float, default=10.0, help="seconds counted")
    parser.add_argument("--wakeups", type=int, default=200)
    parser.add_argument("--wake-warm-up", type=int, default=10, help="wake-ups not counted")
    parser.add_argument("--wake-workers", type=int, default=2)
    parser.add_argument("--wake-callbacks", type=int, default=2_000)
    parser.add_argument("--wake-timeout", type=float, default=5.0)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between wake-ups")
    args = parser.parse_args()
    began = time.monotonic()
    load_at_start = os.getloadavg()[0]
    claims: dict[str, float] = {}
    bare: dict[str, float] = {}
    peaks: list[float] = []
    with tempfile.TemporaryDirectory() as directory, bench_database(DATABASE_NAME) as url:
        folder = Path(directory)
        config_file = always_open_config(folder)
        database = Database.connect(url)
        ensure_current(database)
        database.close()
        for count in WORKER_COUNTS:
            progress(f"claims, {count} process(es)")
            bare[str(count)] = claims_bare(url, config_file, count, args)
            claims[str(count)], peak = claims_with_workers(url, config_file, folder, count, args)
            peaks.append(peak)
        progress(f"wake-ups, {args.wake_workers} idle workers")
        latencies, missed, peak = wake_up_latencies(url, config_file, folder, args)
        peaks.append(peak)
    ratio = claims["4"] / bare["4"]
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    progress(f"  wake-ups: p50 {p50:.1f} ms, p99 {p99:.1f} ms, min {min(latencies):.1f} ms")
    figures = {
        "bench": "dispatch",
        "db": "postgresql",
        "claims_per_s": {n: round(rate) for n, rate in claims.items()},
        "baseline_per_s": {n: round(rate) for n, rate in bare.items()},
        "ratio_at_4": round(ratio, 3),
        "wake_p50_ms": round(p50, 1),
        "wake_p99_ms": round(p99, 1),
        "wake_max_ms": round(max(latencies), 1),
        "wake_samples": len(latencies),
        "wake_missed": missed,
        "peak_rss_mb_per_worker": round(max(peaks), 1),
        "load_at_start": round(load_at_start, 2),
        "wall_s": round(time.monotonic() - began, 1),
        "met": {
            "ratio_at_4": ratio >= TARGET_RATIO,
            "wake_p99_ms": p99 <= TARGET_WAKE_P99_MS and missed == 0,
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
