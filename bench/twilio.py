"""Twilio webhooks: signed webhooks against the least an endpoint must do for them.

Run: ``python bench/twilio.py [--clients 200] [--seconds 5] [--rounds 3]
[--warm-up 2] [--databases sqlite postgresql]``. Progress goes to stderr; the
last stdout line is one JSON object, with a part for each database.

For each database — SQLite in a temporary folder (the line's default), then
PostgreSQL in a database of the bench's own on ``$CALLFLOW_BENCH_POSTGRES``
(:mod:`bench.postgres`), made and dropped — one uvicorn process serves three
endpoints as ``callflow serve`` serves its app
(:func:`~callflow.cli.http_server.serve_apps`: h11, the limits of ``[web]``,
``max_connections`` raised for the clients). Each endpoint in turn is loaded
by ``--clients`` concurrent keep-alive HTTP/1.1 connections from this process
on loopback, each sending its next request when the last is answered; the
three take turns ``--rounds`` times, so a change in the machine's speed meets
each of them. Every request is a new call to the line, as Twilio posts it: its
parameters, a fresh CallSid and caller, signed as Twilio signs.

- **Signed webhooks**: ``POST /twilio/voice`` of the real app, the webhooks
  mounted on the HTTP app as ``callflow serve`` mounts them, so each is
  checked, parsed, stepped through the engine and stored (the call's row, its
  event, its TwiML step), the line open (its clock is set to a Monday 10:00).
- **Baseline**, the work no webhook can do without: a Starlette endpoint
  beside the app that checks the signature with the provider's own verifier
  (which parses the form), commits one row (the CallSid and the caller) to the
  same database in a transaction of its own, off the event loop, and answers
  the webhook's TwiML, built in advance. On PostgreSQL the transactions run in
  Starlette's thread pool on the line's connection pool; on SQLite, which
  takes one writer at a time, in one thread (threads queueing on a lock there
  cost some 70 % more server CPU a request).
- **Hello world**: a Starlette endpoint that reads the body and answers the
  same TwiML; no signature, no parameters, no store: HTTP alone.

Requests answered between the warm-up and the end of each window are
counted; latency is from sending a request to its last byte. ``ratio`` is the
webhooks' rate over the baseline's, all rounds together (each round's is in
``ratio_by_round``); ``ratio_to_hello`` the same over HTTP alone, the second
figure; ``cpu_ratio`` the baseline's server CPU per answer over the webhook's,
which the machine's other work sways less than the rates. The load
generator's CPU is reported too: the cores are shared with it (and whatever
else runs — the load average at the start is in the result), and a client near
a whole core would be what sets the pace. After the run the rows stored are
counted: each answered webhook and baseline request has its row. Target:
webhooks ≥ 0.6 of the baseline on each database (heading for 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
# This file is named like the twilio package: its own folder must not shadow it.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, select  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from bench.postgres import bench_database  # noqa: E402
from callflow.config.load import load_config  # noqa: E402
from callflow.config.models import HotlineConfig, ProviderConfig, TwilioConfig  # noqa: E402
from callflow.providers.twilio.signatures import (  # noqa: E402
    SIGNATURE_HEADER,
    WebhookVerifier,
    sign,
)
from callflow.store.session import Database  # noqa: E402
from callflow.store.twilio_tables import TwilioCall  # noqa: E402

EXAMPLE_CONFIG = ROOT / "config" / "hotline.toml"
PUBLIC_URL = "https://bench.hotline.example"
ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "bench-auth-token"
LINE_TIME = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)  # Monday 10:00 in Helsinki: open
WEBHOOK_PATH = "/twilio/voice"
BASELINE_PATH = "/baseline"
HELLO_PATH = "/hello"
FORM = "application/x-www-form-urlencoded"
ENDPOINTS = {"webhook": WEBHOOK_PATH, "baseline": BASELINE_PATH, "hello": HELLO_PATH}
"""Loaded in this order, round after round: a drift in the machine's speed meets each."""
DATABASES = ("sqlite", "postgresql")
POSTGRES_NAME = "callflow_bench_twilio"
TARGET_RATIO = 0.6
DIRECTION_RATIO = 0.8

BASELINE_ROWS = Table(
    "bench_baseline_arrivals",
    MetaData(),
    Column("call_sid", String(34), primary_key=True),
    Column("caller", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""The baseline's one row per request, in the bench's database beside the line's tables."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the server process -----------------------------------------------------------------------


class LineClock:
    """The line's time runs from a Monday 10:00, at the wall clock's pace."""

    def __init__(self) -> None:
        self._started = time.monotonic()

    def now(self) -> datetime:
        return LINE_TIME + timedelta(seconds=time.monotonic() - self._started)


def bench_config(clients: int) -> HotlineConfig:
    """The example line on a Twilio number, callers never held for an advisor, and room
    for every client's connection (``[web] max_connections`` answers 503 beyond it)."""
    config = load_config(EXAMPLE_CONFIG)
    voices = {
        "fi": {"voice": "Polly.Suvi", "language": "fi-FI"},
        "sv": {"voice": "Polly.Astrid", "language": "sv-SE"},
        "en": {"voice": "Polly.Amy", "language": "en-GB"},
    }
    twilio = TwilioConfig(public_url=PUBLIC_URL, voices=voices)
    connect = config.connect.model_copy(update={"queued": False})
    web = config.web.model_copy(update={"max_connections": 2 * clients + 50})
    return config.model_copy(
        update={"provider": ProviderConfig(twilio=twilio), "connect": connect, "web": web}
    )


def serve(database_url: str, clients: int, ports: Queue[Any]) -> None:
    """The one uvicorn process: the app, and the baseline and hello-world endpoints."""
    import httpx  # noqa: PLC0415

    from callflow.cli.http_server import listen, serve_apps  # noqa: PLC0415
    from callflow.logging import configure_logging  # noqa: PLC0415
    from callflow.providers.twilio.provider import TwilioProvider  # noqa: PLC0415
    from callflow.providers.twilio.settings import TwilioAccount, twilio_settings  # noqa: PLC0415
    from callflow.store.migrate import ensure_current  # noqa: PLC0415
    from callflow.store.queues import sync_queues  # noqa: PLC0415
    from callflow.web.app import create_app  # noqa: PLC0415

    configure_logging("info")  # as callflow serve logs (stderr: stdout is the result)
    config = bench_config(clients)
    database = Database.connect(database_url)
    ensure_current(database)
    BASELINE_ROWS.create(database.engine)
    clock = LineClock()
    with database.transaction() as session:
        sync_queues(session, config, clock.now())
    settings = twilio_settings(config, TwilioAccount(ACCOUNT_SID, AUTH_TOKEN))
    provider = TwilioProvider(settings, database, clock)
    app = create_app(config, database, clock=clock, webhooks=provider.webhooks())

    async def greeting() -> bytes:
        """The webhook's answer to a new call, for the other two to answer."""
        path, body, signature = arrival(WEBHOOK_PATH)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            answer = await client.post(
                path,
                content=body,
                headers={"Content-Type": FORM, SIGNATURE_HEADER: signature},
            )
        assert answer.status_code == 200, answer.text
        return answer.content

    twiml = asyncio.run(greeting())
    others = {
        BASELINE_PATH: baseline_endpoint(twiml, provider.verifier, database, clock),
        HELLO_PATH: hello_endpoint(twiml),
    }

    async def all_three(scope: Any, receive: Any, send: Any) -> None:
        other = others.get(scope["path"]) if scope["type"] == "http" else None
        await (other or app)(scope, receive, send)

    with listen("127.0.0.1", 0) as sock:
        port = int(sock.getsockname()[1])
        serve_apps([(all_three, sock)], config.web, "warning", announce=lambda: ports.put(port))
    database.close()


def baseline_endpoint(
    twiml: bytes, verifier: WebhookVerifier, database: Database, clock: LineClock
) -> Starlette:
    """The work no webhook can do without: the provider's signature check and form, one
    row committed in a transaction of its own, and the answer (built beforehand)."""
    insert = BASELINE_ROWS.insert()
    # SQLite takes one writer at a time: one thread writes, rather than many queueing.
    writer = ThreadPoolExecutor(1) if database.dialect == "sqlite" else None

    def commit(call_sid: str, caller: str) -> None:
        with database.engine.begin() as connection:
            connection.execute(
                insert, {"call_sid": call_sid, "caller": caller, "created_at": clock.now()}
            )

    async def answer(request: Request) -> Response:
        body = await request.body()
        query = request.scope["query_string"].decode("latin-1")
        form = verifier.parameters(request.scope["path"], query, request.headers, body)
        if writer is None:
            await run_in_threadpool(commit, form["CallSid"], form["From"])
        else:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(writer, commit, form["CallSid"], form["From"])
        return Response(twiml, media_type="application/xml")

    return Starlette(routes=[Route(BASELINE_PATH, answer, methods=["POST"])])


def hello_endpoint(twiml: bytes) -> Starlette:
    """HTTP alone: a Starlette app that routes the POST, reads its body and answers the
    TwiML (built beforehand); no signature, no parameters, no store."""

    async def answer(request: Request) -> Response:
        await request.body()
        return Response(twiml, media_type="application/xml")

    return Starlette(routes=[Route(HELLO_PATH, answer, methods=["POST"])])


# -- the load ----------------------------------------------------------------------------------


def arrival(path: str) -> tuple[str, str, str]:
    """A new call to the line, as Twilio posts it to *path*: path, body, signature."""
    caller = f"+35840{secrets.randbelow(10_000_000):07d}"
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": "CA" + secrets.token_hex(16),
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": caller,
        "Caller": caller,
        "To": "+358291234500",
        "Called": "+358291234500",
    }
    return path, urlencode(params), sign(AUTH_TOKEN, PUBLIC_URL + path, list(params.items()))


def request_bytes(port: int, path: str, body: str, signature: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Type: {FORM}",
        f"Content-Length: {len(body.encode())}",
        f"{SIGNATURE_HEADER}: {signature}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


@dataclass
class Phase:
    answered: int
    latencies: list[float]
    failures: int
    window: float
    server_cpu_s: float | None
    """CPU seconds the server process spent in the window (None where /proc is not)."""
    client_cpu_s: float

    def __add__(self, other: Phase) -> Phase:
        """Two windows' figures as one's."""
        server_cpu = (
            None
            if self.server_cpu_s is None or other.server_cpu_s is None
            else self.server_cpu_s + other.server_cpu_s
        )
        return Phase(
            self.answered + other.answered,
            self.latencies + other.latencies,
            self.failures + other.failures,
            self.window + other.window,
            server_cpu,
            self.client_cpu_s + other.client_cpu_s,
        )

    @property
    def per_s(self) -> float:
        return self.answered / self.window

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000

    @property
    def server_ms_per_request(self) -> float | None:
        """The server's CPU per answer: what a request costs, whatever else runs."""
        if self.server_cpu_s is None or not self.answered:
            return None
        return round(self.server_cpu_s / self.answered * 1000, 3)

    @property
    def client_cores(self) -> float:
        """How busy the load generator was: near 1, it and not the server set the pace."""
        return round(self.client_cpu_s / self.window, 2)

    def summary(self) -> dict[str, float | int | None]:
        return {
            "per_s": round(self.per_s, 1),
            "p99_ms": round(self.p99_ms, 2),
            "answered": self.answered,
            "failures": self.failures,
            "server_cpu_ms_per_request": self.server_ms_per_request,
            "client_cpu_cores": self.client_cores,
        }


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU of process *pid* so far, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    port: int, server_pid: int, path: str, *, clients: int, warm_up: float, seconds: float
) -> Phase:
    """*clients* connections posting new calls' webhooks to *path*, signed for it."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    counted_from, until = start + warm_up, start + warm_up + seconds
    latencies: list[float] = []
    failures = 0

    async def client() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (sent := loop.time()) < until:
                writer.write(request_bytes(port, *arrival(path)))
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                answered = loop.time()
                if sent >= counted_from and answered <= until:
                    latencies.append(answered - sent)
                    if not head.startswith(b"HTTP/1.1 200"):
                        failures += 1
        finally:
            writer.close()

    async def meter() -> tuple[float | None, float]:
        await asyncio.sleep(counted_from - loop.time())
        server, client = cpu_seconds(server_pid), time.process_time()
        await asyncio.sleep(until - loop.time())
        server_after = cpu_seconds(server_pid)
        used = None if server is None or server_after is None else server_after - server
        return used, time.process_time() - client

    metered = asyncio.ensure_future(meter())
    await asyncio.gather(*(client() for _ in range(clients)))
    server_cpu, client_cpu = await metered
    return Phase(len(latencies), latencies, failures, seconds, server_cpu, client_cpu)


def stored_rows(url: str) -> tuple[int, int]:
    """How many calls the webhooks stored and how many rows the baseline committed."""
    database = Database.connect(url)
    try:
        with database.reading() as session:
            calls = session.scalar(select(func.count()).select_from(TwilioCall))
            rows = session.scalar(select(func.count()).select_from(BASELINE_ROWS))
        return int(calls or 0), int(rows or 0)
    finally:
        database.close()


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The three endpoints' figures on the database at *url*, in one server's run."""
    context = multiprocessing.get_context("spawn")
    ports: Queue[Any] = context.Queue()
    server = context.Process(target=serve, args=(url, args.clients, ports), daemon=True)
    server.start()
    rounds: list[dict[str, Phase]] = []
    try:
        port = ports.get(timeout=120)
        db = url.split(":", 1)[0].split("+", 1)[0]
        progress(f"{db}: server on 127.0.0.1:{port}; {args.clients} clients")
        options = {"clients": args.clients, "warm_up": args.warm_up, "seconds": args.seconds}
        assert server.pid is not None
        for number in range(1, args.rounds + 1):
            phases = {}
            for name, path in ENDPOINTS.items():
                phases[name] = asyncio.run(load(port, server.pid, path, **options))
                progress(f"{db} round {number} {name}: {phases[name].summary()}")
            rounds.append(phases)
    finally:
        server.terminate()
        server.join(30)
    calls, rows = stored_rows(url)
    webhook, baseline, hello = (sum_of(rounds, name) for name in ENDPOINTS)
    # Each counted answer was stored (and more were, in the warm-up and after the window).
    assert calls >= webhook.answered and rows >= baseline.answered, (calls, rows)
    return {
        "webhook_per_s": round(webhook.per_s, 1),
        "webhook_p99_ms": round(webhook.p99_ms, 2),
        "baseline_per_s": round(baseline.per_s, 1),
        "baseline_p99_ms": round(baseline.p99_ms, 2),
        "hello_per_s": round(hello.per_s, 1),
        "hello_p99_ms": round(hello.p99_ms, 2),
        "ratio": _ratio(webhook.per_s, baseline.per_s),
        "ratio_by_round": [_ratio(r["webhook"].per_s, r["baseline"].per_s) for r in rounds],
        "ratio_to_hello": _ratio(webhook.per_s, hello.per_s),
        # The baseline's server CPU per answer over the webhook's: less swayed than the rates
        # by whatever else the machine's cores run meanwhile.
        "cpu_ratio": _ratio(
            baseline.server_ms_per_request or 0.0, webhook.server_ms_per_request or 0.0
        ),
        "failures": webhook.failures + baseline.failures + hello.failures,
        "webhook_server_cpu_ms": webhook.server_ms_per_request,
        "baseline_server_cpu_ms": baseline.server_ms_per_request,
        "hello_server_cpu_ms": hello.server_ms_per_request,
        "client_cpu_cores": max(phase.client_cores for r in rounds for phase in r.values()),
    }


def sum_of(rounds: list[dict[str, Phase]], name: str) -> Phase:
    """Endpoint *name*'s figures over all *rounds*."""
    total = rounds[0][name]
    for phases in rounds[1:]:
        total += phases[name]
    return total


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 3) if whole else 0.0


@contextmanager
def database_url(db: str) -> Iterator[str]:
    """A fresh database of kind *db* for one server's run, gone afterwards."""
    if db == "postgresql":
        with bench_database(POSTGRES_NAME) as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="callflow-bench-twilio-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds counted per phase")
    parser.add_argument("--rounds", type=int, default=3, help="of the three phases, in turn")
    parser.add_argument("--warm-up", type=float, default=2.0, help="seconds before counting")
    parser.add_argument("--databases", nargs="+", choices=DATABASES, default=list(DATABASES))
    args = parser.parse_args()
    load_at_start = round(os.getloadavg()[0], 2)  # others' work on these cores skews it all
    progress(f"load average (1 min) {load_at_start}")
    figures: dict[str, dict[str, Any]] = {}
    for db in args.databases:
        with database_url(db) as url:
            figures[db] = measure(url, args)
    print(
        json.dumps(
            {
                "bench": "twilio",
                "clients": args.clients,
                "seconds": args.seconds,
                "rounds": args.rounds,
                **figures,
                "load_1m": load_at_start,
                "target_ratio": TARGET_RATIO,
                "direction_ratio": DIRECTION_RATIO,
                "targets_met": all(
                    f["ratio"] >= TARGET_RATIO and not f["failures"] for f in figures.values()
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
