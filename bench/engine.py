"""Engine transitions per second, and claim_next_callback per second on each database.

Run: ``python bench/engine.py [--calls N] [--claims N] [--compiled]``. Progress goes to
stderr; the last stdout line is one JSON object. Transitions are counted on three lines
(see :func:`bench_engine`); the busy one's rate is the figure, against :data:`TARGETS`.
With ``--compiled`` the same lines run again on the engine compiled with mypyc
(:mod:`compiled_engine`: built in a temporary folder, the install stays pure Python), in
``compiled_engine``. The claim rate is measured beside a bare baseline on the same table
in the same run: one ``UPDATE … RETURNING`` by primary key per transaction, the least any
claim could cost.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import compiled_engine  # noqa: E402
from callflow.config.load import load_config  # noqa: E402
from callflow.engine.calendar import Calendar  # noqa: E402
from callflow.engine.commands import (  # noqa: E402
    LookUpPendingCallback,
    LookUpQueue,
    StoreCallback,
)
from callflow.engine.events import (  # noqa: E402
    AdvisorConnected,
    AdvisorHungUp,
    CallArrived,
    CallbackStored,
    DigitPressed,
    Event,
    PendingCallbackLookedUp,
    PlaybackFinished,
    QueueLookedUp,
    TimerFired,
)
from callflow.engine.flow import FlowContext, new_call, step  # noqa: E402
from callflow.engine.forecast import CapacitySpan, QueueSnapshot  # noqa: E402
from callflow.engine.state import CallState  # noqa: E402
from callflow.store.claims import claim_next_callback  # noqa: E402
from callflow.store.migrate import upgrade  # noqa: E402
from callflow.store.models import (  # noqa: E402
    Advisor,
    AdvisorLanguage,
    AdvisorSkill,
    CallbackRequest,
)
from callflow.store.queues import sync_queues  # noqa: E402
from callflow.store.session import Database  # noqa: E402

MONDAY_10 = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
APART = timedelta(milliseconds=100)
"""Between callers of the "busy apart" line: 30,000 of them fit in an hour of the morning."""
TARGETS = {"transitions_per_s": 200_000}
"""This round's target for the busy line (issue 20); the direction is 500,000."""
POSTGRES_SERVER = os.environ.get(
    "CALLFLOW_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class FixedQueue:
    """A queue with fixed figures (two advisors, *free* of them free, a small backlog) and
    two advisors planned."""

    def __init__(self, calendar: Calendar, free: int) -> None:
        self._snapshot = QueueSnapshot(
            position=2,
            free=free,
            staffed=2,
            mean_handle=timedelta(minutes=6),
            live_load=0.3,
            callbacks_ahead=3,
        )
        self._spans = [CapacitySpan(s.start, s.end, 2) for s in _first_spans(calendar)]

    def snapshot(self) -> QueueSnapshot:
        return self._snapshot

    def spans(self, *_: object) -> Iterable[CapacitySpan]:
        return self._spans


def _first_spans(calendar: Calendar) -> list:  # type: ignore[type-arg]
    spans = []
    for span in calendar.spans_from(MONDAY_10):
        spans.append(span)
        if len(spans) == 10:
            return spans
    return spans


class Recorder:
    """Plays one caller against the engine, answering store commands as a store would
    (the queue's figures too), and keeps the events it fed in, so the same call can be
    replayed without it."""

    def __init__(self, context: FlowContext, queue: FixedQueue) -> None:
        self.context = context
        self.queue = queue
        self.now = MONDAY_10
        self.events: list[Event] = []

    def send(self, state: CallState, event: Event) -> None:
        pending = [event]
        while pending:
            current = pending.pop()
            self.events.append(current)
            for command in step(state, current, self.now, self.context):
                if isinstance(command, LookUpPendingCallback):
                    pending.append(PendingCallbackLookedUp(None))
                elif isinstance(command, LookUpQueue):
                    pending.append(QueueLookedUp(self.queue.snapshot()))
                elif isinstance(command, StoreCallback):
                    pending.append(CallbackStored(1, command.due_at))

    def hear(self, state: CallState) -> None:
        if state.playback is not None:
            self.send(state, PlaybackFinished(state.playback))

    def answered_call(self) -> list[Event]:
        """Language, topic, three announcements with callback offers let pass, an advisor."""
        self.events = []
        state = new_call("recording", self.now)
        self.send(state, CallArrived("+358401234567"))
        for key in "11":
            self.hear(state)
            self.send(state, DigitPressed(key))
        for _ in range(3):
            self.hear(state)
            if state.menu is not None:
                self.send(state, TimerFired("input", state.input_at))  # type: ignore[arg-type]
            self.send(state, TimerFired("announce", state.announce_at))  # type: ignore[arg-type]
        self.hear(state)
        self.send(state, AdvisorConnected("nurse-1"))
        self.send(state, AdvisorHungUp())
        return self.events

    def callback_call(self) -> list[Event]:
        """Language, topic, offer accepted, number read back and confirmed, stored."""
        self.events = []
        state = new_call("recording", self.now)
        self.send(state, CallArrived("+358401234567"))
        for key in "1111":
            self.hear(state)
            self.send(state, DigitPressed(key))
        self.hear(state)
        return self.events


def shifted(script: list[Event], by: timedelta) -> list[Event]:
    """*script* played *by* later: its timers fire that much later too."""
    if not by:
        return script
    return [
        TimerFired(event.name, event.at + by) if isinstance(event, TimerFired) else event
        for event in script
    ]


def replay(
    context: FlowContext,
    scripts: list[list[Event]],
    calls: int,
    apart: timedelta = timedelta(0),
) -> tuple[int, float]:
    """Replay the recorded calls through the engine alone; (transitions, CPU seconds).

    Every replayed call must end as its recording did, so no event was a no-op
    that would flatter the rate. Each call steps *apart* after the one before.
    """
    endings = []
    for script in scripts:
        state = new_call("check", MONDAY_10)
        for event in script:
            step(state, event, MONDAY_10, context)
        endings.append(state.outcome)
    played = [
        (MONDAY_10 + i * apart, shifted(scripts[i % len(scripts)], i * apart)) for i in range(calls)
    ]
    transitions = 0
    ended_as_recorded = 0
    started = time.process_time()
    for i, (now, script) in enumerate(played):
        state = new_call(f"c{i}", now)
        for event in script:
            step(state, event, now, context)
        transitions += len(script)
        ended_as_recorded += state.outcome == endings[i % len(scripts)]
    cpu = time.process_time() - started
    assert ended_as_recorded == calls, "a replayed call took another path"
    assert None not in endings, "a recorded call did not end"
    return transitions, cpu


def bench_engine(calls: int) -> dict[str, object]:
    """Busy: every caller waits three announcements, each with a callback offer, and a
    third take the callback; they all step at one instant, so they share one offer, as
    callers asking with the same inputs do. Busy apart: the same, each caller
    :data:`APART` after the one before, so every offer is worked out afresh. Calm: an
    advisor is free, callers are connected at once."""
    config = load_config(ROOT / "config" / "hotline.toml")
    calendar = Calendar.from_config(config)
    result: dict[str, object] = {}
    for name, free, apart in (
        ("busy", 0, timedelta(0)),
        ("busy_apart", 0, APART),
        ("calm", 2, timedelta(0)),
    ):
        queue = FixedQueue(calendar, free)
        context = FlowContext(config, calendar, queue)
        recorder = Recorder(context, queue)
        scripts = [recorder.callback_call(), recorder.answered_call(), recorder.answered_call()]
        if free:
            scripts = [recorder.answered_call()]
        transitions, cpu = replay(context, scripts, calls, apart)
        result[name] = {
            "transitions_per_call": round(transitions / calls, 1),
            "transitions_per_s": round(transitions / cpu),
            "calls_per_s": round(calls / cpu),
        }
    return result


def _seed(database: Database, callbacks: int, advisors: int) -> list[int]:
    config = load_config(ROOT / "config" / "hotline.toml")
    with database.transaction() as session:
        sync_queues(session, config, MONDAY_10)
        session.execute(
            Advisor.__table__.insert(),
            [
                {
                    "name": f"bench-{i}",
                    "state": "available",
                    "enabled": True,
                    "state_since": MONDAY_10,
                    "ready_at": MONDAY_10,
                    "admin": False,
                    "created_at": MONDAY_10,
                }
                for i in range(advisors)
            ],
        )
        ids = list(session.scalars(text("SELECT id FROM advisors ORDER BY id")))
        session.execute(
            AdvisorSkill.__table__.insert(), [{"advisor_id": a, "skill": "nurse"} for a in ids]
        )
        session.execute(
            AdvisorLanguage.__table__.insert(), [{"advisor_id": a, "language": "fi"} for a in ids]
        )
        session.execute(
            CallbackRequest.__table__.insert(),
            [
                {
                    "number_e164": f"+35840{i:07d}",
                    "topic": "health",
                    "language": "fi",
                    "requested_at": MONDAY_10,
                    "queue_entered_at": MONDAY_10 - timedelta(seconds=callbacks - i),
                    "not_before": MONDAY_10,
                    "due_at": MONDAY_10 + timedelta(hours=5),
                    "expected_at": MONDAY_10 + timedelta(hours=1),
                    "deadline_class": 1 + i % 2,
                    "status": "pending",
                    "attempts": 0,
                    "late": False,
                    "created_at": MONDAY_10,
                    "updated_at": MONDAY_10,
                }
                for i in range(callbacks)
            ],
        )
        return ids


def bench_claims(url: str, claims: int) -> dict[str, float]:
    """Each claim goes to a different advisor, so only the claim itself is timed."""
    database = Database.connect(url)
    upgrade(database)
    advisors = _seed(database, claims * 2, claims)
    with database.engine.connect() as connection:  # fresh statistics, as autovacuum would give
        connection.execute(text("ANALYZE"))
        connection.commit()
    lease = timedelta(seconds=90)

    started = time.perf_counter()
    for advisor in advisors:
        with database.transaction() as session:
            claimed = claim_next_callback(session, advisor, MONDAY_10, owner="bench", lease=lease)
            assert claimed is not None
    claim_s = time.perf_counter() - started

    table = CallbackRequest.__table__
    with database.transaction() as session:
        ids = list(
            session.scalars(
                text("SELECT id FROM callback_requests WHERE status = 'pending' LIMIT :n"),
                {"n": claims},
            )
        )
    started = time.perf_counter()
    for callback_id in ids:
        with database.transaction() as session:
            session.execute(
                table.update()
                .where(table.c.id == callback_id)
                .values(status="completed")
                .returning(table.c.id)
            ).one()
    bare_s = time.perf_counter() - started
    database.close()
    claims_per_s = claims / claim_s
    bare_per_s = len(ids) / bare_s
    return {
        "claims_per_s": round(claims_per_s),
        "baseline_per_s": round(bare_per_s),
        "ratio": round(claims_per_s / bare_per_s, 3),
    }


def compiled_figures(calls: int) -> dict[str, object]:
    """The same figures with the engine compiled by mypyc, from a process started in the
    build's folder (so it imports the compiled engine, and the replay check runs on it)."""
    with tempfile.TemporaryDirectory() as folder:
        progress("compiling the engine with mypyc …")
        built = compiled_engine.build(Path(folder))
        if not compiled_engine.is_compiled(built):
            raise RuntimeError("the build's folder imports the interpreted engine")
        run = subprocess.run(
            [sys.executable, "bench/engine.py", "--engine-only", "--calls", str(calls)],
            cwd=built,
            capture_output=True,
            text=True,
            check=True,
        )
    figures: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=30_000)
    parser.add_argument("--claims", type=int, default=2_000)
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="also the engine compiled with mypyc (built in a temporary folder, ~1 min)",
    )
    parser.add_argument("--engine-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    progress(f"engine: {args.calls} calls on a busy line and on a calm one …")
    engine = bench_engine(args.calls)
    if args.engine_only:  # the compiled run, in a process started in the build's folder
        print(json.dumps(engine))
        return
    busy = engine["busy"]
    assert isinstance(busy, dict)
    result: dict[str, object] = {
        "bench": "engine",
        "transitions_per_s": busy["transitions_per_s"],
        "engine": engine,
        "targets": TARGETS,
        "met": {key: busy[key] >= target for key, target in TARGETS.items()},
    }
    progress(f"engine: {engine}")
    if args.compiled:
        compiled = compiled_figures(args.calls)
        compiled_busy = compiled["busy"]
        assert isinstance(compiled_busy, dict) and isinstance(result["met"], dict)
        result["compiled_engine"] = compiled
        result["met"]["compiled_transitions_per_s"] = (
            compiled_busy["transitions_per_s"] >= TARGETS["transitions_per_s"]
        )
        progress(f"compiled engine: {compiled}")

    with tempfile.TemporaryDirectory() as folder:
        progress(f"sqlite: {args.claims} claims …")
        result["sqlite"] = bench_claims(f"sqlite:///{folder}/bench.sqlite3", args.claims)
        progress(f"sqlite: {result['sqlite']}")

    name = f"callflow_bench_{os.getpid()}"
    server = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        url = make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
        progress(f"postgresql: {args.claims} claims …")
        result["postgresql"] = bench_claims(url, args.claims)
        progress(f"postgresql: {result['postgresql']}")
    finally:
        with server.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        server.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
