"""The live pages under load: from a store commit to the browser, and the board's server time.

Run: ``python bench/board.py [--boards 25] [--desks 25] [--probes 250] [--interval 0.2]
[--calls-per-hour 720] [--sim-advisors 20] [--page-requests 200] [--profile 0]``.
Progress goes to stderr; the last stdout line is one JSON object. The bench creates
and drops its own database (``callflow_bench_board``) on the server in
``CALLFLOW_BENCH_POSTGRES``.

The line, seeded on the example configuration opened around the clock: 200 advisors
signed in (available, talking, wrapping up; of twenty "marker" advisors among them, up
to nineteen on a break at a time, see below), 1,000 callers waiting in the three
queues, 5,000 open callback requests, and the supervisors who watch the boards. Beside
this process:

- **the app**, in a process of its own, served by uvicorn the way ``callflow serve``
  serves it (:func:`~callflow.cli.http_server.serve_apps`, the limits of ``[web]``), on
  the wall clock. It is instrumented, in that process only, to time on the server each
  ``GET /board`` (from reaching the app to its last byte) and each render of a board's or
  a desk's live sections (the session checked, the store read or the app's shared read of
  the board taken, the sections rendered);
- **the simulator stepping**, in a process of its own on the wall clock: the real engine
  and store, ``--sim-advisors`` simulated advisors always on and ``--calls-per-hour``
  Poisson callers who queue, give up or take a callback, the advisors answering them and
  claiming and dialling the open requests; it commits every 100 ms tick it has work, and
  each commit wakes every open page (PostgreSQL's NOTIFY).

Measured:

- **Commit to event.** ``--boards`` supervisors on ``/board/live`` and ``--desks``
  advisors on ``/desk/live``, each signed in through ``/sign-in`` with a session of their
  own, read the server-sent events in this process as a browser's EventSource would.
  Every ``--interval`` s a probe commits one change that each of them shows: of the twenty
  marker advisors, ``(n + 1) mod 20`` are put on a break (the line's "on a break" figure,
  on every board; nothing else changes who is on a break) and the desk advisors'
  ``state_since`` moves a minute back (the "since HH:MM" on every desk). The latency runs
  from the moment that COMMIT returned to the first event on each client that shows the
  probe's figure or a later probe's (a page may fold two commits into one wake), so a
  client that never shows a probe of its own is charged until it shows the next; p50, p95,
  p99 and max over every (probe, client) pair. Figures repeat every twenty probes, so a
  client more than twenty probes behind would be matched early: none is near it.
- **The board's page.** ``GET /board`` by one more supervisor every 250 ms during the same
  run, timed on the server and by this client; then ``--page-requests`` in a row with the
  server otherwise idle (the simulator stopped, the clients gone). What the client sees
  includes TCP's: a keep-alive response whose body follows its headers waits for the
  client's delayed ACK when the server's socket has Nagle's algorithm on.
- **The board's live refresh.** Every render of a board's live sections during the run,
  timed on the server: boards woken by one commit share one read of the store, so this is
  what a board costs per wake. Beside its wall time, the render thread's CPU time and the
  time it was ready to run with no core free; the rest it slept (the GIL, a pooled
  connection, the database, another board's read). The desks' renders are timed alike.
  Then, in this process once the line is quiet, ``--page-requests`` refreshes that each
  read the store afresh (the session, the board, its sections: the board woken first by
  a commit), the most one costs alone; ``--profile N`` prints their top *N* functions by
  cumulative time.

Targets (issue 18): commit to event p99 ≤ 1 s, no probe unseen; the board's page and its
live refresh ≤ 50 ms of server time at p99, both timed on the server under the load above.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import math
import multiprocessing
import os
import pstats
import re
import sys
import time
from bisect import bisect_right
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any, Literal

import httpx
import psycopg
from fastapi import Request

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
# bench/twilio.py is named like the twilio package the app imports: this folder must not
# shadow it.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

from bench.postgres import bench_database, plain_dsn  # noqa: E402
from callflow.cli.http_server import listen, serve_apps  # noqa: E402
from callflow.config.load import load_config  # noqa: E402
from callflow.config.models import HotlineConfig  # noqa: E402
from callflow.engine.calendar import Calendar  # noqa: E402
from callflow.engine.clock import SystemClock  # noqa: E402
from callflow.engine.vocabulary import CallbackStatus  # noqa: E402
from callflow.logging import configure_logging  # noqa: E402
from callflow.providers.sim.simulation import Simulation  # noqa: E402
from callflow.providers.sim.staff import with_advisors  # noqa: E402
from callflow.reports.board import BoardReader  # noqa: E402
from callflow.service.rules import LineRules  # noqa: E402
from callflow.store.migrate import ensure_current  # noqa: E402
from callflow.store.models import AdvisorState  # noqa: E402
from callflow.store.queues import sync_queues  # noqa: E402
from callflow.store.session import Database  # noqa: E402
from callflow.store.sign_ins import (  # noqa: E402
    Person,
    issue_password_link,
    session_person,
    set_password,
)
from callflow.web import WebContext  # noqa: E402
from callflow.web.app import create_app  # noqa: E402
from callflow.web.pages import board as board_pages  # noqa: E402
from callflow.web.pages import desk as desk_pages  # noqa: E402
from callflow.web.pages.board import board_sections, board_values  # noqa: E402
from callflow.web.pages.live import live_stream  # noqa: E402
from callflow.web.pages.people import COOKIE, CSRF_FIELD  # noqa: E402
from callflow.web.pages.rendering import page_values  # noqa: E402

DATABASE_NAME = "callflow_bench_board"
EXAMPLE_CONFIG = ROOT / "config" / "hotline.toml"
PASSWORD = "bench board password"
TOPICS = ("health", "social", "other")
SKILLS = ("nurse", "social_counsellor", "service_advisor")
LANGUAGES = ("fi", "sv", "en")
ALL_DAY = {"start_minute": 0, "end_minute": 24 * 60}

ADVISORS = 200
MARKERS = 20
"""Marker advisors: the probe puts ``(n + 1) mod MARKERS`` of them on a break."""
BUSY, WRAPPING_UP = 40, 20
"""Advisors talking, and wrapping up (ready only after the run), among :data:`ADVISORS`."""
WAITING = 1_000
OPEN_CALLBACKS = 5_000

SIM_TICK = 0.1
"""Seconds between the simulator's steps (``callflow serve`` steps every 100 ms)."""
SETTLE = 2.0
"""Seconds after every client's first event before the probes start."""
TAIL = 3.0
"""Seconds the clients keep reading after the last probe."""
PAGE_EVERY = 0.25
TIMINGS_PATH = "/bench/timings"
TARGET_LATENCY_P99_MS = 1000.0
TARGET_SERVER_P99_MS = 50.0

STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.1f} s] {message}", file=sys.stderr, flush=True)


# -- the line and its database ---------------------------------------------------------


def bench_config(sim_advisors: int) -> HotlineConfig:
    """The example configuration open around the clock with no holidays, dialling at any
    hour, its staffing plan on all day with *sim_advisors* people: the bench must see the
    same busy line whenever it runs. The app and the simulator each build it the same way."""
    raw = load_config(EXAMPLE_CONFIG).model_dump(exclude={"source"})
    raw["hours"] = {day: [ALL_DAY] for day in raw["hours"]}
    raw["calendar"] = {"holidays": None, "closures": [], "special_hours": []}
    raw["callbacks"]["retry"]["allowed_hours"] = ALL_DAY
    raw["staffing"] = [
        {**block, "days": list(raw["hours"]), "hours": ALL_DAY} for block in raw["staffing"]
    ]
    return with_advisors(HotlineConfig.model_validate(raw), sim_advisors)


@dataclass(frozen=True)
class Seeded:
    """Who is who in the seeded line."""

    desks: list[tuple[int, str]]
    """(id, name) of each advisor whose desk a client watches."""
    markers: list[int]
    supervisors: list[str]
    desks_since: datetime
    """The desk advisors' ``state_since`` before the first probe."""


INSERT_ADVISOR = """
INSERT INTO advisors (name, enabled, admin, supervisor, state, state_since, ready_at, created_at)
VALUES (%(name)s, true, false, %(supervisor)s, %(state)s, %(since)s, %(ready_at)s, %(since)s)
RETURNING id
"""
INSERT_SKILL = "INSERT INTO advisor_skills (advisor_id, skill) VALUES (%s, %s)"
INSERT_LANGUAGE = "INSERT INTO advisor_languages (advisor_id, language) VALUES (%s, %s)"
COPY_PASSWORD = (
    "UPDATE advisors SET password_hash = (SELECT password_hash FROM advisors WHERE id = %s)"
)
SEED_CALLS = """
INSERT INTO calls (id, provider, provider_ref, caller_e164, withheld, started_at, language,
    topic, queue_entered_at, updated_at)
SELECT 'bench-call-' || i, 'bench', 'bench-call-' || i, '+35845' || lpad(i::text, 7, '0'),
       false, %(now)s - make_interval(secs => 40 + i * 1.7),
       (%(languages)s::text[])[i %% 7 %% 3 + 1], (%(topics)s::text[])[i %% 3 + 1],
       %(now)s - make_interval(secs => i * 1.7), %(now)s
  FROM generate_series(0, %(waiting)s - 1) AS i
"""
SEED_PLACES = """
INSERT INTO queue_places (call_id, provider, topic, language, entered_at)
SELECT id, provider, topic, language, queue_entered_at FROM calls WHERE provider = 'bench'
"""
SEED_CALLBACKS = """
INSERT INTO callback_requests (number_e164, topic, language, requested_at, queue_entered_at,
    not_before, due_at, expected_at, deadline_class, status, attempts, late, at_risk_at,
    created_at, updated_at)
SELECT '+35850' || lpad(i::text, 7, '0'), (%(topics)s::text[])[i %% 3 + 1],
       (%(languages)s::text[])[i %% 7 %% 3 + 1], %(now)s - make_interval(secs => i),
       %(now)s - make_interval(secs => i), %(now)s - make_interval(secs => i),
       %(now)s + CASE WHEN i %% 40 = 0 THEN interval '-1 hour' ELSE interval '6 hours' END,
       %(now)s + interval '1 hour', 1 + i %% 2, %(pending)s, 0, i %% 40 = 0,
       CASE WHEN i %% 10 = 1 THEN %(now)s END, %(now)s, %(now)s
  FROM generate_series(0, %(callbacks)s - 1) AS i
"""


def seed(url: str, config: HotlineConfig, desks: int, supervisors: int) -> Seeded:
    """The line as the bench measures it (seeding is not measured): the advisors and
    supervisors, every one with the same password (hashed once, through a password link,
    and copied: argon2 takes its time on purpose), the waiting callers and the open
    requests."""
    now = datetime.now(UTC)
    since = now - timedelta(hours=1)
    database = Database.connect(url)
    ensure_current(database)
    with database.transaction() as session:
        sync_queues(session, config, now)
    available, busy, wrap_up = AdvisorState.AVAILABLE, AdvisorState.BUSY, AdvisorState.WRAP_UP
    plan = [("desk", available)] * desks + [("marker", available)] * MARKERS
    plan += [("busy", busy)] * BUSY + [("wrap_up", wrap_up)] * WRAPPING_UP
    plan += [("available", available)] * (ADVISORS - len(plan))
    ready_at = {available: since, wrap_up: now + timedelta(hours=2)}  # none ready during the run
    advisors: dict[str, list[tuple[int, str]]] = {"desk": [], "marker": []}
    supervisor_names = [f"bench-supervisor-{n:02d}" for n in range(supervisors)]
    with psycopg.connect(plain_dsn(url)) as connection:
        for n, (kind, state) in enumerate(plan):
            name = f"bench-{kind}-{n:03d}"
            advisor_id = _insert_advisor(connection, name, state, since, ready_at.get(state))
            advisors.setdefault(kind, []).append((advisor_id, name))
            connection.execute(INSERT_SKILL, (advisor_id, SKILLS[n % len(SKILLS)]))
            for language in ("fi", LANGUAGES[1 + n % 2]):
                connection.execute(INSERT_LANGUAGE, (advisor_id, language))
        for name in supervisor_names:
            _insert_advisor(connection, name, AdvisorState.OFFLINE, since, None, supervisor=True)
        parameters = {
            "now": now,
            "waiting": WAITING,
            "callbacks": OPEN_CALLBACKS,
            "topics": list(TOPICS),
            "languages": list(LANGUAGES),
            "pending": CallbackStatus.PENDING.value,
        }
        for statement in (SEED_CALLS, SEED_PLACES, SEED_CALLBACKS):
            connection.execute(statement, parameters)
        connection.commit()
    first = min(advisor_id for kind in advisors.values() for advisor_id, _ in kind)
    # One real password through its link; every other account gets a copy of its hash.
    with database.transaction() as session:
        set_password(session, issue_password_link(session, first, now), PASSWORD, now)
    with psycopg.connect(plain_dsn(url), autocommit=True) as connection:
        connection.execute(COPY_PASSWORD, (first,))
        connection.execute("ANALYZE")  # fresh statistics, as autovacuum would give
    database.close()
    return Seeded(
        desks=advisors["desk"],
        markers=[advisor_id for advisor_id, _ in advisors["marker"]],
        supervisors=supervisor_names,
        desks_since=since,
    )


def _insert_advisor(
    connection: psycopg.Connection[Any],
    name: str,
    state: AdvisorState,
    since: datetime,
    ready_at: datetime | None,
    *,
    supervisor: bool = False,
) -> int:
    row = connection.execute(
        INSERT_ADVISOR,
        {
            "name": name,
            "supervisor": supervisor,
            "state": state.value,
            "since": since,
            "ready_at": ready_at,
        },
    ).fetchone()
    assert row is not None
    return int(row[0])


# -- the app's process -------------------------------------------------------------------

Asgi = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class ServerTimings:
    """Server time of the board's page and of each live render, kept in the app's process
    and handed out (and forgotten) by ``GET`` :data:`TIMINGS_PATH`.

    A page is timed from reaching the app to its last byte (ms). A render is kept as
    ``[wall, cpu, runnable]`` ms: its wall time, its thread's CPU time, and the time its
    thread was ready to run but had no core (Linux's ``schedstat``: the machine's other
    processes). What is left of the wall time is spent asleep: waiting for the GIL while
    the process's other threads run, for a pooled connection, for the database, for the
    board read another board is making.
    """

    def __init__(self) -> None:
        self.kept: dict[str, list[Any]] = {"page": [], "board": [], "desk": []}

    def instrument(self) -> None:
        """Time every render of the board's and the desk's live sections. The pages look
        :func:`live_stream` up in their own module when a stream opens, so wrapping it
        there times exactly the render each stream runs, and nothing else changes."""

        def timed(kept: list[Any]) -> Callable[..., Any]:
            def stream(request: Request, render: Callable[[], Any]) -> Any:
                def timed_render() -> Any:
                    began, cpu, runnable = time.perf_counter(), time.thread_time(), _runnable()
                    try:
                        return render()
                    finally:
                        kept.append(
                            [
                                (time.perf_counter() - began) * 1000,
                                (time.thread_time() - cpu) * 1000,
                                _runnable() - runnable,
                            ]
                        )

                return live_stream(request, timed_render)

            return stream

        board_pages.live_stream = timed(self.kept["board"])  # type: ignore[attr-defined]
        desk_pages.live_stream = timed(self.kept["desk"])  # type: ignore[attr-defined]

    def wrap(self, app: Asgi) -> Asgi:
        """*app*, with ``GET /board`` timed from reaching the app to its last byte."""

        async def timed(
            scope: MutableMapping[str, Any],
            receive: Callable[[], Awaitable[Any]],
            send: Callable[[Any], Awaitable[None]],
        ) -> None:
            path = scope.get("path") if scope["type"] == "http" else None
            if path == TIMINGS_PATH:
                body = json.dumps(self.kept).encode()
                for kept in self.kept.values():
                    kept.clear()
                headers = [(b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            if path != "/board":
                await app(scope, receive, send)
                return
            began = time.perf_counter()

            async def timed_send(message: Any) -> None:
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    self.kept["page"].append((time.perf_counter() - began) * 1000)
                await send(message)

            await app(scope, receive, timed_send)

        return timed


def _runnable() -> float:
    """ms this thread has spent ready to run without a core, so far (Linux)."""
    with open("/proc/thread-self/schedstat") as schedstat:
        return int(schedstat.read().split()[1]) / 1e6


def serve(url: str, sim_advisors: int, ports: Queue[int]) -> None:
    """The app's process: the app as ``callflow serve`` serves it, timed, until SIGTERM."""
    configure_logging("warning")  # stderr: this bench's stdout is its result
    config = bench_config(sim_advisors)
    database = Database.connect(url)
    timings = ServerTimings()
    timings.instrument()
    app = timings.wrap(create_app(config, database, clock=SystemClock()))
    with listen("127.0.0.1", 0) as sock:
        port = int(sock.getsockname()[1])
        serve_apps([(app, sock)], config.web, "warning", announce=lambda: ports.put(port))
    database.close()


# -- the simulator's process -------------------------------------------------------------


def simulate(
    url: str,
    sim_advisors: int,
    calls_per_hour: float,
    ready: EventType,
    stop: EventType,
    tallies: Queue[dict[str, int]],
) -> None:
    """The simulated line on the wall clock, a tick at a time, until *stop*; then its
    tally on *tallies*."""
    configure_logging("warning")
    config = bench_config(sim_advisors)
    database = Database.connect(url)
    now = datetime.now(UTC)
    simulation = Simulation(config, database, seed=1, start=now, shows_places=True)
    simulation.sign_in_everyone()
    workload = simulation.stage.workload
    hours = 1.0  # far longer than a run
    simulation.schedule_callers(
        workload.caller(at) for at in workload.stationary(now, hours, calls_per_hour)
    )
    ready.set()
    try:
        while not stop.is_set():
            simulation.run_until(datetime.now(UTC))
            stop.wait(SIM_TICK)
    finally:
        simulation.close()
        database.close()
    tally = simulation.tally
    tallies.put(
        {
            "arrived": tally.arrived,
            "answered": tally.answered,
            "abandoned": tally.abandoned,
            "callbacks_requested": tally.callbacks_requested,
            "callbacks_dialled": tally.callbacks_dialled,
        }
    )


# -- the clients ---------------------------------------------------------------------------

HIDDEN_CSRF = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')
ADVISOR_FIGURES = re.compile(r'<dl class="figures small">(.*?)</dl>', re.DOTALL)
FIGURE = re.compile(r'<dd class="figure[^"]*">(\d+)</dd>')
CLOCK_TIME = re.compile(r"\b(\d{2}:\d{2})\b")
LINE_SECTION, DESK_SECTION = "line-total", "desk-state"


def on_break_shown(sections: dict[str, str]) -> str | None:
    """The line's "on a break" figure, if this event carries the line's card: the fifth
    of its advisors' figures (signed in, free, talking, wrap-up, on a break)."""
    card = sections.get(LINE_SECTION)
    if card is None:
        return None
    advisors = ADVISOR_FIGURES.search(card)
    figures = FIGURE.findall(advisors.group(1)) if advisors else []
    if len(figures) != 5:
        raise SystemExit(f"the board's line card changed shape; cannot read it: {card[:500]}")
    return str(figures[4])


def since_shown(sections: dict[str, str]) -> str | None:
    """The desk's "since HH:MM", if this event carries the desk's state."""
    state = sections.get(DESK_SECTION)
    if state is None:
        return None
    found = CLOCK_TIME.search(state)
    if found is None:
        raise SystemExit(f"the desk's state has no time; cannot read it: {state[:500]}")
    return found.group(1)


Kind = Literal["board", "desk"]
LIVE_PATHS: dict[Kind, str] = {"board": "/board/live", "desk": "/desk/live"}
MARKER_READERS: dict[Kind, Callable[[dict[str, str]], str | None]] = {
    "board": on_break_shown,
    "desk": since_shown,
}


@dataclass
class Client:
    """One signed-in browser following a live page."""

    kind: Kind
    name: str
    http: httpx.AsyncClient
    shown: list[tuple[float, str]] = field(default_factory=list)
    """(``time.monotonic()`` when an event ended, the probe's figure it showed)."""
    events: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def follow(self) -> None:
        """Read the page's events until cancelled, noting what each showed and when."""
        read_marker = MARKER_READERS[self.kind]
        headers = {"accept": "text/event-stream"}
        async with self.http.stream("GET", LIVE_PATHS[self.kind], headers=headers) as answer:
            if answer.status_code != 200:
                raise SystemExit(f"{self.name}: {LIVE_PATHS[self.kind]} {answer.status_code}")
            event, data = "", []
            async for line in answer.aiter_lines():
                if line:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)
                    continue
                ended = time.monotonic()  # before parsing: a browser's event fires here
                if event == "signed-out":
                    raise SystemExit(f"{self.name} was signed out")
                if event == "sections":
                    self.events += 1
                    marker = read_marker(json.loads("\n".join(data)))
                    if marker is not None:
                        self.shown.append((ended, marker))
                    self.connected.set()
                event, data = "", []
        raise SystemExit(f"{self.name}: the server ended {LIVE_PATHS[self.kind]}")


def new_browser(base_url: str) -> httpx.AsyncClient:
    # A live stream is quiet for 5 s at most (its refresh), pings every 15 s.
    return httpx.AsyncClient(
        base_url=base_url, headers={"accept-language": "en"}, timeout=httpx.Timeout(30.0)
    )


async def sign_in(http: httpx.AsyncClient, name: str) -> None:
    form = await http.get("/sign-in")
    found = HIDDEN_CSRF.search(form.text)
    if found is None:
        raise SystemExit(f"no CSRF field on /sign-in ({form.status_code})")
    answer = await http.post(
        "/sign-in",
        data={"name": name, "password": PASSWORD, CSRF_FIELD: found.group(1), "next": "/"},
    )
    if answer.status_code != 303 or COOKIE not in http.cookies:
        raise SystemExit(f"{name} could not sign in: {answer.status_code}")


# -- the probe -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    committed: float
    """``time.monotonic()`` just after its COMMIT returned."""
    commit_ms: float
    board: str
    """The line's "on a break" figure it makes every board show."""
    desk: str
    """The "since HH:MM" it makes every desk show."""

    def marker(self, kind: Kind) -> str:
        return self.board if kind == "board" else self.desk


REST = """
UPDATE advisors
   SET state = CASE WHEN id = ANY(%(resting)s::int[]) THEN 'break' ELSE 'available' END,
       break_reason = CASE WHEN id = ANY(%(resting)s::int[]) THEN 'pause' END,
       ready_at = CASE WHEN id = ANY(%(resting)s::int[]) THEN NULL ELSE %(now)s END,
       state_since = %(now)s
 WHERE id = ANY(%(markers)s::int[])
"""
MOVE_SINCE = "UPDATE advisors SET state_since = %(since)s WHERE id = ANY(%(desks)s::int[])"


async def run_probes(
    url: str, seeded: Seeded, calendar: Calendar, count: int, interval: float
) -> list[Probe]:
    """*count* probes, one every *interval* s, each one transaction that changes what
    every board and every desk shows."""
    probes: list[Probe] = []
    desks = [advisor_id for advisor_id, _ in seeded.desks]
    async with await psycopg.AsyncConnection.connect(plain_dsn(url)) as connection:
        began = time.monotonic()
        for n in range(count):
            resting = seeded.markers[: (n + 1) % MARKERS]
            since = seeded.desks_since - timedelta(minutes=n + 1)
            parameters = {
                "resting": resting,
                "markers": seeded.markers,
                "now": datetime.now(UTC),
                "since": since,
                "desks": desks,
            }
            async with connection.transaction():
                await connection.execute(REST, parameters)
                await connection.execute(MOVE_SINCE, parameters)
                committing = time.monotonic()
            committed = time.monotonic()
            shown_since = calendar.local(since).strftime("%H:%M")
            probes.append(
                Probe(committed, (committed - committing) * 1000, str(len(resting)), shown_since)
            )
            await asyncio.sleep(max(0.0, began + (n + 1) * interval - time.monotonic()))
    return probes


def latencies(probes: list[Probe], clients: list[Client]) -> tuple[list[float], int]:
    """(ms from each probe's commit to each client showing it or a later probe, how many
    (probe, client) pairs never showed)."""
    found: list[float] = []
    missed = 0
    for client in clients:
        times = [at for at, _ in client.shown]
        for n, probe in enumerate(probes):
            shown_at = None
            for at, marker in client.shown[bisect_right(times, probe.committed) :]:
                later = (p.marker(client.kind) for p in probes[n:] if p.committed < at)
                if marker in later:
                    shown_at = at
                    break
            if shown_at is None:
                missed += 1
            else:
                found.append((shown_at - probe.committed) * 1000)
    return found, missed


# -- the run under load ----------------------------------------------------------------------


@dataclass
class LoadFigures:
    latencies: list[float]
    missed: int
    commit_ms: list[float]
    events_per_client_s: float
    page_client_ms: list[float]
    page_idle_client_ms: list[float]
    server: dict[str, list[Any]]
    """Server timings under load, as :class:`ServerTimings` keeps them."""
    server_idle: dict[str, list[Any]]
    server_cpu_cores: float | None
    db_commits_per_s: float
    at_end: dict[str, int]
    page_cookie: str


async def under_load(
    url: str,
    base_url: str,
    server_pid: int,
    seeded: Seeded,
    calendar: Calendar,
    stop_simulator: Callable[[], None],
    args: argparse.Namespace,
) -> LoadFigures:
    """Sign the clients in, follow their pages while the probes run, then time the board's
    page with the line quiet."""
    boards = [
        Client("board", name, new_browser(base_url)) for name in seeded.supervisors[: args.boards]
    ]
    desks = [Client("desk", name, new_browser(base_url)) for _, name in seeded.desks]
    clients = boards + desks
    page = new_browser(base_url)
    progress(f"signing in {len(clients) + 1} browsers")
    for client in clients:
        await sign_in(client.http, client.name)
    await sign_in(page, seeded.supervisors[args.boards])
    following = [asyncio.create_task(client.follow()) for client in clients]
    try:
        await _first_events(clients, following)
        await asyncio.sleep(SETTLE)
        await _drain(page)
        progress(f"{len(clients)} clients connected; {args.probes} probes")
        counter = await psycopg.AsyncConnection.connect(plain_dsn(url), autocommit=True)
        commits_before, counted_from = await _commits(counter), time.monotonic()
        cpu_before = cpu_seconds(server_pid)
        events_before = sum(client.events for client in clients)
        page_client_ms: list[float] = []
        polling = asyncio.create_task(_poll_page(page, page_client_ms))
        probes = await run_probes(url, seeded, calendar, args.probes, args.interval)
        polling.cancel()
        line = (await page.get("/board.json")).json()["line"]
        await asyncio.sleep(TAIL)
        window = time.monotonic() - counted_from
        cpu_after = cpu_seconds(server_pid)
        commits = (await _commits(counter)) - commits_before
        await counter.close()
        events = sum(client.events for client in clients) - events_before
        server = await _drain(page)
        for task in following:
            if task.done():
                task.result()  # a client that stopped early: its error is the bench's
    finally:
        for task in following:
            task.cancel()
        await asyncio.gather(*following, return_exceptions=True)
        for client in clients:
            await client.http.aclose()
    progress("clients gone; stopping the simulator")
    stop_simulator()
    found, missed = latencies(probes, clients)
    progress(f"  {len(found)} latencies, {missed} missed; {args.page_requests} idle GET /board")
    idle_ms = [await _timed_get(page, "/board") for _ in range(args.page_requests)]
    server_idle = await _drain(page)
    await page.aclose()
    return LoadFigures(
        latencies=found,
        missed=missed,
        commit_ms=[probe.commit_ms for probe in probes],
        events_per_client_s=events / len(clients) / window,
        page_client_ms=page_client_ms,
        page_idle_client_ms=idle_ms,
        server=server,
        server_idle=server_idle,
        server_cpu_cores=None
        if cpu_before is None or cpu_after is None
        else (cpu_after - cpu_before) / window,
        db_commits_per_s=commits / window,
        at_end={"waiting": line["waiting"], "open_callbacks": line["callbacks"]["open"]},
        page_cookie=page.cookies[COOKIE],
    )


async def _first_events(clients: list[Client], following: list[asyncio.Task[None]]) -> None:
    deadline = time.monotonic() + 60
    while not all(client.connected.is_set() for client in clients):
        for task in following:
            if task.done():
                task.result()  # a client that failed to follow its page: its error is the bench's
        if time.monotonic() > deadline:
            raise SystemExit("not every client had its first event within 60 s")
        await asyncio.sleep(0.05)  # waiting for pages to open, not timing them


async def _poll_page(page: httpx.AsyncClient, durations: list[float]) -> None:
    while True:
        durations.append(await _timed_get(page, "/board"))
        await asyncio.sleep(PAGE_EVERY)


async def _timed_get(http: httpx.AsyncClient, path: str) -> float:
    began = time.perf_counter()
    answer = await http.get(path)
    elapsed = (time.perf_counter() - began) * 1000
    if answer.status_code != 200:
        raise SystemExit(f"GET {path}: {answer.status_code}")
    return elapsed


async def _drain(http: httpx.AsyncClient) -> dict[str, list[Any]]:
    """The app's server timings since the last call (and forget them there)."""
    kept: dict[str, list[Any]] = (await http.get(TIMINGS_PATH)).json()
    return kept


async def _commits(connection: psycopg.AsyncConnection[Any]) -> int:
    """Transactions committed in the bench database so far (every process's)."""
    cursor = await connection.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU of process *pid* so far, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- a refresh that reads the store afresh, in this process -------------------------------


def refreshes_in_process(
    url: str, config: HotlineConfig, cookie: str, count: int, profile: int
) -> list[float]:
    """ms for each of *count* board refreshes as a live board's render does them (its
    session, the board, its sections), each reading the store afresh; today's measures
    kept between reads as the app keeps them. With *profile*, their top functions."""
    database = Database.connect(url)
    clock = SystemClock()
    context = WebContext(rules=LineRules.fixed(config), database=database, clock=clock)
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/board/live",
            "query_string": b"",
            "headers": [(b"accept-language", b"en")],
        }
    )
    reader = BoardReader(config)

    def refresh() -> None:
        with database.transaction() as session:
            person: Person | None = session_person(session, cookie, clock.now())
        assert person is not None
        board = reader.read(database, clock.now())
        values = page_values(request, context, person)
        values |= board_values(values, config, "full", None)
        board_sections(board, values)

    refresh()  # the first computes today's measures, as an app's first board does
    durations = []
    for _ in range(count):
        began = time.perf_counter()
        refresh()
        durations.append((time.perf_counter() - began) * 1000)
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(count):
            refresh()
        profiler.disable()
        report = io.StringIO()
        pstats.Stats(profiler, stream=report).sort_stats("cumulative").print_stats(profile)
        print(report.getvalue(), file=sys.stderr)
    database.close()
    return durations


# -- the run ---------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least *share* of them at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(values: list[float], *shares: float) -> dict[str, float | int]:
    if not values:
        return {"samples": 0}
    figures: dict[str, float | int] = {
        f"p{round(share * 100)}": round(percentile(values, share), 1) for share in shares
    }
    return {**figures, "max": round(max(values), 1), "samples": len(values)}


def render_figures(renders: list[list[float]]) -> dict[str, Any]:
    """Wall time of the renders kept by :class:`ServerTimings`, their CPU time, and where
    the mean render's wall time went."""
    if not renders:
        return {"samples": 0}
    wall, cpu, runnable = (list(column) for column in zip(*renders, strict=True))
    mean = {
        "wall": sum(wall) / len(wall),
        "cpu": sum(cpu) / len(cpu),
        "runnable_no_core": sum(runnable) / len(runnable),
    }
    mean["asleep"] = mean["wall"] - mean["cpu"] - mean["runnable_no_core"]
    return {
        **summary(wall, 0.5, 0.99),
        "cpu": summary(cpu, 0.5, 0.99),
        "mean_split": {key: round(value, 1) for key, value in mean.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=25)
    parser.add_argument("--desks", type=int, default=25)
    parser.add_argument("--probes", type=int, default=250)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between probes")
    parser.add_argument("--calls-per-hour", type=float, default=720.0)
    parser.add_argument("--sim-advisors", type=int, default=20)
    parser.add_argument("--page-requests", type=int, default=200)
    parser.add_argument("--profile", type=int, default=0, help="top functions of a refresh")
    args = parser.parse_args()
    began = time.monotonic()
    load_at_start = round(os.getloadavg()[0], 2)  # others' work on these cores skews it all
    config = bench_config(args.sim_advisors)
    calendar = Calendar.from_config(config)
    spawn = multiprocessing.get_context("spawn")
    with bench_database(DATABASE_NAME) as url:
        progress("seeding")
        seeded = seed(url, config, args.desks, args.boards + 1)
        ports: Queue[int] = spawn.Queue()
        server = spawn.Process(target=serve, args=(url, args.sim_advisors, ports))
        ready, stop, tallies = spawn.Event(), spawn.Event(), spawn.Queue()
        simulator = spawn.Process(
            target=simulate,
            args=(url, args.sim_advisors, args.calls_per_hour, ready, stop, tallies),
        )
        server.start()
        simulator.start()
        tally: dict[str, int] = {}

        def stop_simulator() -> None:
            stop.set()
            tally.update(tallies.get(timeout=60))
            simulator.join(30)

        try:
            port = ports.get(timeout=120)
            if not ready.wait(120):
                raise SystemExit("the simulator did not start within 120 s")
            progress(f"app on 127.0.0.1:{port}; simulator stepping")
            assert server.pid is not None
            figures = asyncio.run(
                under_load(
                    url,
                    f"http://127.0.0.1:{port}",
                    server.pid,
                    seeded,
                    calendar,
                    stop_simulator,
                    args,
                )
            )
        finally:
            stop.set()
            server.terminate()  # SIGTERM: uvicorn shuts down as for callflow serve
            for process in (server, simulator):
                process.join(30)
                if process.is_alive():
                    process.kill()
        progress(f"{args.page_requests} refreshes in this process, the line quiet")
        uncached = refreshes_in_process(
            url, config, figures.page_cookie, args.page_requests, args.profile
        )
    latency = summary(figures.latencies, 0.5, 0.95, 0.99)
    page_server = figures.server["page"]
    renders = [wall for wall, _, _ in figures.server["board"]]
    met = {
        "commit_to_event_p99": figures.missed == 0
        and percentile(figures.latencies, 0.99) <= TARGET_LATENCY_P99_MS,
        "board_page_server_p99": percentile(page_server, 0.99) <= TARGET_SERVER_P99_MS,
        "board_refresh_server_p99": percentile(renders, 0.99) <= TARGET_SERVER_P99_MS,
    }
    result = {
        "bench": "board",
        "db": "postgresql",
        "advisors": ADVISORS,
        "waiting": WAITING,
        "open_callbacks": OPEN_CALLBACKS,
        "at_end": figures.at_end,
        "sim_advisors": args.sim_advisors,
        "simulator": tally,
        "clients": args.boards + args.desks,
        "boards": args.boards,
        "desks": args.desks,
        "commit_to_event_ms": {**latency, "missed": figures.missed},
        "probe_commit_ms_p50": round(percentile(figures.commit_ms, 0.5), 1),
        "events_per_client_s": round(figures.events_per_client_s, 2),
        "board_page_ms": {
            **summary(page_server, 0.5, 0.99),
            "client": summary(figures.page_client_ms, 0.5, 0.99),
            "idle_server": summary(figures.server_idle["page"], 0.5, 0.99),
            "idle_client": summary(figures.page_idle_client_ms, 0.5, 0.99),
        },
        "board_refresh_ms": {
            **render_figures(figures.server["board"]),
            "fresh_read_in_process": summary(uncached, 0.5, 0.99),
        },
        "desk_refresh_ms": render_figures(figures.server["desk"]),
        "server_cpu_cores": None
        if figures.server_cpu_cores is None
        else round(figures.server_cpu_cores, 2),
        "db_commits_per_s": round(figures.db_commits_per_s, 1),
        "load_at_start": load_at_start,
        "wall_s": round(time.monotonic() - began, 1),
        "met": met,
        "targets_met": all(met.values()),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
