"""The report over a million calls, on SQLite and PostgreSQL, beside a bare scan.

Run: ``python bench/report.py [--calls 1000000] [--databases sqlite,postgresql]``.
Progress goes to stderr; the last stdout line is one JSON object.

The event log is written straight into a fresh database (COPY on
PostgreSQL, executemany on SQLite), shaped as the engine writes it: calls
answered after a wait, abandoned in the menus or the queue, arriving while
closed, or taking a callback that is claimed, dialled and completed (or
retried) later. Then, in the same run on the same table:

- ``bare_scan_s``: ``SELECT count(*), avg(…)`` over the whole event table;
- ``rebuild_s``: ``callflow report --rebuild`` work, the roll-up built from nothing;
- ``report_s``: the report for the whole period once the roll-up is current
  (what an admin waits for), and ``ratio`` = report_s / bare_scan_s.

Targets: report ≤ 2 s and ≤ 5× the bare scan.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callflow.config.load import load_config  # noqa: E402
from callflow.engine.calendar import Calendar  # noqa: E402
from callflow.logging import configure_logging  # noqa: E402
from callflow.providers.sim.draws import weighted_choice  # noqa: E402
from callflow.reports.kpis import compute_report  # noqa: E402
from callflow.reports.rollup import rebuild_rollup, refresh_rollup  # noqa: E402
from callflow.store.migrate import ensure_current  # noqa: E402
from callflow.store.queues import sync_queues  # noqa: E402
from callflow.store.session import Database  # noqa: E402

POSTGRES_SERVER = os.environ.get(
    "CALLFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
FIRST_DAY = date(2024, 1, 8)
TOPICS = (("health", 0.45), ("social", 0.23), ("other", 0.32))
LANGUAGES = (("fi", 0.9), ("sv", 0.07), ("en", 0.03))
EVENT_COLUMNS = ("at", "kind", "call_id", "callback_id", "topic", "language", "data")


class Log:
    """Rows for calls, callback requests and events, generated call by call."""

    def __init__(self, calls: int, calls_per_day: int, seed: int = 1) -> None:
        config = load_config(ROOT / "config" / "hotline.toml")
        self.calendar = Calendar.from_config(config)
        self.calls = calls
        self.calls_per_day = calls_per_day
        self.rng = random.Random(seed)
        self.callbacks: list[tuple[Any, ...]] = []
        self.last_day = FIRST_DAY

    def working_days(self) -> Iterator[tuple[date, datetime, datetime]]:
        day = FIRST_DAY
        while True:
            spans = self.calendar.day(day).spans
            if spans:
                yield day, spans[0].start, spans[-1].end
            day += timedelta(days=1)

    def rows(self) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
        """(calls row, its events) for every call; callback rows collect in ``callbacks``."""
        days = self.working_days()
        number = 0
        while number < self.calls:
            day, opens, closes = next(days)
            self.last_day = day
            length = (closes - opens).total_seconds()
            for _ in range(min(self.calls_per_day, self.calls - number)):
                number += 1
                yield self._call(number, opens, closes, length)

    def _call(
        self, number: int, opens: datetime, closes: datetime, length: float
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        rng = self.rng
        call_id = f"bench{number:027d}"
        topic, language = weighted_choice(rng, TOPICS), weighted_choice(rng, LANGUAGES)
        fate = rng.random()
        if fate < 0.05:  # arrives while closed
            at = closes + timedelta(seconds=rng.uniform(60, 7200))
            events = [
                (at, "call.arrived", {"withheld": False, "number_known": True, "open": False}),
                (at, "call.closed_hours", {"next_opening": opens.isoformat()}),
                (at + timedelta(seconds=20), "call.ended", {"outcome": "closed"}),
            ]
            return self._rows(call_id, at, None, None, events, "closed", None, None)
        at = opens + timedelta(seconds=rng.uniform(0, length - 900))
        entered = at + timedelta(seconds=rng.uniform(8, 25))
        events = [
            (at, "call.arrived", {"withheld": False, "number_known": True, "open": True}),
            (at, "call.language_chosen", {"language": language, "by": "digit"}),
        ]
        if fate < 0.08:
            gone = at + timedelta(seconds=rng.uniform(3, 20))
            events += [
                (gone, "call.abandoned", {"stage": "ivr", "topic": None, "wait_s": None}),
                (gone, "call.ended", {"outcome": "abandoned_ivr"}),
            ]
            return self._rows(call_id, at, language, None, events, "abandoned_ivr", None, None)
        events += [
            (entered, "call.topic_chosen", {"topic": topic, "language": language, "by": "digit"}),
            (entered, "call.queue_entered", {"topic": topic, "language": language}),
        ]
        wait = rng.expovariate(1 / 70)
        if fate < 0.18:
            gone = entered + timedelta(seconds=wait)
            events += [
                (gone, "call.queue_left", {"topic": topic, "reason": "hangup", "wait_s": wait}),
                (gone, "call.abandoned", {"stage": "queue", "topic": topic, "wait_s": wait}),
                (gone, "call.ended", {"outcome": "abandoned_queue"}),
            ]
            return self._rows(
                call_id, at, language, topic, events, "abandoned_queue", entered, None
            )
        if fate < 0.30:
            return self._callback(call_id, at, entered, wait, topic, language, events, closes)
        answered = entered + timedelta(seconds=wait)
        ended = answered + timedelta(seconds=rng.expovariate(1 / 360))
        events += [
            (answered, "call.answered", {"topic": topic, "language": language, "wait_s": wait}),
            (ended, "contact.coded", self._coding("call", topic)),
            (ended, "call.ended", {"outcome": "answered"}),
        ]
        return self._rows(call_id, at, language, topic, events, "answered", entered, answered)

    def _callback(
        self,
        call_id: str,
        at: datetime,
        entered: datetime,
        wait: float,
        topic: str,
        language: str,
        events: list[tuple[Any, ...]],
        closes: datetime,
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        rng = self.rng
        callback_id = len(self.callbacks) + 1
        asked = entered + timedelta(seconds=min(wait, 120))
        due = closes if topic == "health" else closes + timedelta(days=1)
        dialled = asked + timedelta(seconds=rng.expovariate(1 / 5400))
        reached = rng.random() < 0.85
        done = dialled + timedelta(seconds=rng.expovariate(1 / 300) if reached else 30)
        self.callbacks.append(
            (callback_id, call_id, topic, language, asked, entered, due, reached, done)
        )
        cb = {"callback_id": callback_id, "topic": topic, "language": language}
        events += [
            (asked, "call.callback_accepted", {"topic": topic, "after_hours": False}),
            (asked, "call.queue_left", {"topic": topic, "reason": "callback", "wait_s": wait}),
            (
                asked,
                "callback.requested",
                {**cb, "due_at": due.isoformat(), "queue_entered_at": entered.isoformat()},
            ),
            (asked + timedelta(seconds=30), "call.ended", {"outcome": "callback_requested"}),
            (dialled - timedelta(seconds=10), "callback.claimed", {**cb, "attempt_no": 1}),
            (dialled, "callback.dialled", {**cb, "attempt_no": 1}),
            (
                done,
                "callback.attempt_ended",
                {**cb, "attempt_no": 1, "result": "reached" if reached else "no_answer"},
            ),
        ]
        if reached:
            events += [
                (done, "callback.completed", {**cb, "attempt_no": 1}),
                (done, "contact.coded", {**cb, **self._coding("callback", topic)}),
            ]
        return self._rows(call_id, at, language, topic, events, "callback_requested", entered, None)

    def _coding(self, channel: str, topic: str) -> dict[str, Any]:
        solved = self.rng.random() < 0.5
        return {
            "channel": channel,
            "reason": topic if topic in ("health", "social") else "contact_details",
            "referral": "none" if solved else "own_services",
            "resolution": "no_service_need" if solved else "simple_need",
        }

    @staticmethod
    def _rows(
        call_id: str,
        at: datetime,
        language: str | None,
        topic: str | None,
        events: list[tuple[Any, ...]],
        outcome: str,
        entered: datetime | None,
        answered: datetime | None,
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        ended = events[-1][0] if events[-1][1] == "call.ended" else at
        for when, kind, _ in events:
            if kind == "call.ended":
                ended = when
        call = (call_id, "sim", at, ended, language, topic, entered, answered, outcome)
        rows = [
            (
                when,
                kind,
                call_id,
                data.get("callback_id"),
                data.get("topic", topic),
                data.get("language", language),
                data,
            )
            for when, kind, data in events
        ]
        return call, rows


def _text_time(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_call(call: tuple[Any, ...]) -> tuple[Any, ...]:
    call_id, provider, started, ended, language, topic, entered, answered, outcome = call
    times = (started, ended, entered, answered)
    started_t, ended_t, entered_t, answered_t = (_text_time(t) for t in times)
    return (call_id, provider, started_t, ended_t, language, topic, entered_t, answered_t,
            outcome, ended_t)  # fmt: skip


def _sqlite_callback(cb: tuple[Any, ...]) -> tuple[Any, ...]:
    callback_id, call_id, topic, language, asked, entered, due, reached, done = cb
    asked_t, entered_t, due_t, done_t = (_text_time(t) for t in (asked, entered, due, done))
    status = "completed" if reached else "pending"
    return (callback_id, call_id, topic, language, asked_t, entered_t, asked_t, due_t, due_t,
            status, done_t, asked_t, done_t)  # fmt: skip


def load_sqlite(path: Path, log: Log) -> int:
    connection = sqlite3.connect(path)
    events = 0
    calls: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        connection.executemany(
            "INSERT INTO calls (id, provider, started_at, ended_at, language, topic, "
            "queue_entered_at, answered_at, outcome, withheld, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
            [_sqlite_call(c) for c in calls],
        )
        connection.executemany(
            f"INSERT INTO call_events ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(_text_time(r[0]), *r[1:6], json.dumps(r[6])) for r in rows],
        )
        calls.clear()
        rows.clear()

    connection.execute("PRAGMA foreign_keys=OFF")  # callback rows go in after their events
    for call, call_events in log.rows():
        calls.append(call)
        rows.extend(call_events)
        events += len(call_events)
        if len(rows) > 200_000:
            flush()
    flush()
    connection.executemany(
        "INSERT INTO callback_requests (id, call_id, number_e164, topic, language, requested_at, "
        "queue_entered_at, not_before, due_at, expected_at, deadline_class, status, attempts, "
        "late, closed_at, created_at, updated_at) "
        "VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, 1, ?, 1, 0, ?, ?, ?)",
        [_sqlite_callback(cb) for cb in log.callbacks],
    )
    connection.commit()
    connection.close()
    return events


def load_postgres(url: str, log: Log) -> int:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    events = 0
    # Two connections, two COPY streams written side by side; foreign keys are checked
    # by neither (replica role), as the callback rows only go in at the end.
    with psycopg.connect(dsn) as first, psycopg.connect(dsn) as second:
        for connection in (first, second):
            connection.execute("SET session_replication_role = replica")
        with (
            first.cursor().copy(
                "COPY calls (id, provider, started_at, ended_at, language, topic, "
                "queue_entered_at, answered_at, outcome, withheld, updated_at) FROM STDIN"
            ) as calls_copy,
            second.cursor().copy(
                f"COPY call_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
            ) as events_copy,
        ):
            for call, call_events in log.rows():
                calls_copy.write_row((*call, False, call[3]))
                for row in call_events:
                    events_copy.write_row((*row[:6], json.dumps(row[6])))
                events += len(call_events)
        second.commit()
        with first.cursor().copy(
            "COPY callback_requests (id, call_id, topic, language, requested_at, "
            "queue_entered_at, not_before, due_at, expected_at, deadline_class, status, "
            "attempts, late, closed_at, created_at, updated_at) FROM STDIN"
        ) as callbacks_copy:
            for cb in log.callbacks:
                status = "completed" if cb[7] else "pending"
                callbacks_copy.write_row(
                    (*cb[:6], cb[4], cb[6], cb[6], 1, status, 1, False, cb[8], cb[4], cb[8])
                )
        first.execute("SELECT setval('callback_requests_id_seq', %s)", (len(log.callbacks) + 1,))
        first.commit()
        first.execute("ANALYZE")
    return events


def measure(database: Database, log: Log) -> dict[str, float]:
    config = load_config(ROOT / "config" / "hotline.toml")
    with database.engine.connect() as connection:
        began = time.perf_counter()
        connection.execute(
            text("SELECT count(*), avg(coalesce(callback_id, 0)) FROM call_events")
        ).one()
        bare = time.perf_counter() - began
    began = time.perf_counter()
    rebuild_rollup(database, config)
    rebuild = time.perf_counter() - began
    refresh_rollup(database, config)
    now = datetime.now(UTC)
    began = time.perf_counter()
    figures = compute_report(database, config, FIRST_DAY, log.last_day, now=now)
    report = time.perf_counter() - began
    assert figures["offered"] > 0
    return {
        "bare_scan_s": round(bare, 3),
        "rebuild_s": round(rebuild, 2),
        "report_s": round(report, 3),
        "ratio": round(report / bare, 2),
        "offered": figures["offered"],
    }


def run(kind: str, calls: int, calls_per_day: int, directory: Path) -> dict[str, Any]:
    log = Log(calls, calls_per_day)
    if kind == "sqlite":
        path = directory / "report.sqlite3"
        url = f"sqlite:///{path}"
        database = Database.connect(url)
        _prepare(database)
        began = time.perf_counter()
        events = load_sqlite(path, log)
    else:
        server = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
        name = f"callflow_bench_{os.getpid()}"
        with server.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(text(f"CREATE DATABASE {name}"))
        url = make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
        database = Database.connect(url)
        _prepare(database)
        began = time.perf_counter()
        events = load_postgres(url, log)
    loaded = time.perf_counter() - began
    print(f"{kind}: {calls} calls, {events} events loaded in {loaded:.0f} s", file=sys.stderr)
    try:
        figures = measure(database, log)
    finally:
        database.close()
        if kind != "sqlite":
            with server.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            server.dispose()
    print(f"{kind}: {figures}", file=sys.stderr)
    return {"events": events, "load_s": round(loaded, 1), **figures}


def _prepare(database: Database) -> None:
    config = load_config(ROOT / "config" / "hotline.toml")
    ensure_current(database)
    with database.transaction() as session:
        sync_queues(session, config, datetime.now(UTC))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--calls-per-day", type=int, default=2000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    configure_logging("warning")
    figures: dict[str, Any] = {"calls": args.calls}
    with tempfile.TemporaryDirectory() as directory:
        for kind in args.databases.split(","):
            figures[kind] = run(kind, args.calls, args.calls_per_day, Path(directory))
    figures["targets"] = {"report_s": 2.0, "ratio": 5.0}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
