"""Twilio webhooks: signed-webhook throughput and latency of one uvicorn process.

Run: ``python bench/twilio.py [--clients 200] [--seconds 10] [--warm-up 2]
[--database-url URL]``. Progress goes to stderr; the last stdout line is one
JSON object.

One uvicorn process serves the real app — the Twilio webhooks mounted on the
HTTP app exactly as ``callflow serve`` mounts them, on SQLite in a temporary
folder (the line's default database) unless ``--database-url`` names another
— and, through the same uvicorn server, a bare endpoint: the least a real
endpoint does, a Starlette app that routes the POST, reads its body and
answers the very TwiML the webhook answers, built in advance, without our
stack (no signature, no parameters, no engine, no store). The load is
``--clients`` concurrent keep-alive HTTP/1.1 connections from this process
on loopback, each sending its next request when the last is answered.

- **Signed webhooks**: each request is a new call to the line — ``POST
  /twilio/voice`` with Twilio's parameters, a fresh CallSid and caller, signed
  as Twilio signs — so every one is checked, parsed, stepped through the
  engine and stored (the call's row, its events, its TwiML step), the line
  open (its clock is set to a Monday 10:00).
- **Bare endpoint**: the same requests, made the same way (only the path
  differs), from the same number of clients, in the same run.

Requests answered between the warm-up and the end of the window are
counted; latency is from sending a request to its last byte. The server's
CPU per answer and the load generator's CPU are reported too: the machine's
cores are shared with the load generator (and whatever else runs — the load
average at the start is in the result), and a client near a whole core
would be what sets the pace. Targets: webhooks ≥ 1,500 requests/s and ≥ 0.6
of the bare endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import socket
import sys
import tempfile
import time
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

from callflow.config.load import load_config  # noqa: E402
from callflow.config.models import HotlineConfig, ProviderConfig, TwilioConfig  # noqa: E402
from callflow.providers.twilio.signatures import SIGNATURE_HEADER, sign  # noqa: E402

EXAMPLE_CONFIG = ROOT / "config" / "hotline.toml"
PUBLIC_URL = "https://bench.hotline.example"
ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "bench-auth-token"
LINE_TIME = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)  # Monday 10:00 in Helsinki: open
BARE_PATH = "/bare"
TARGET_PER_S = 1500.0
TARGET_RATIO = 0.6


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the server process -----------------------------------------------------------------------


class LineClock:
    """The line's time runs from a Monday 10:00, at the wall clock's pace."""

    def __init__(self) -> None:
        self._started = time.monotonic()

    def now(self) -> datetime:
        return LINE_TIME + timedelta(seconds=time.monotonic() - self._started)


def bench_config() -> HotlineConfig:
    config = load_config(EXAMPLE_CONFIG)
    voices = {
        "fi": {"voice": "Polly.Suvi", "language": "fi-FI"},
        "sv": {"voice": "Polly.Astrid", "language": "sv-SE"},
        "en": {"voice": "Polly.Amy", "language": "en-GB"},
    }
    twilio = TwilioConfig(public_url=PUBLIC_URL, voices=voices)  # type: ignore[arg-type]
    connect = config.connect.model_copy(update={"queued": False})
    return config.model_copy(update={"provider": ProviderConfig(twilio=twilio), "connect": connect})


def serve(database_url: str, ports: Queue[Any]) -> None:
    """The one uvicorn process: the app, and the bare endpoint beside it."""
    import httpx  # noqa: PLC0415
    import uvicorn  # noqa: PLC0415

    from callflow.providers.twilio.provider import TwilioProvider  # noqa: PLC0415
    from callflow.providers.twilio.settings import TwilioAccount, twilio_settings  # noqa: PLC0415
    from callflow.store.migrate import ensure_current  # noqa: PLC0415
    from callflow.store.queues import sync_queues  # noqa: PLC0415
    from callflow.store.session import Database  # noqa: PLC0415
    from callflow.web.app import create_app  # noqa: PLC0415

    config = bench_config()
    database = Database.connect(database_url)
    ensure_current(database)
    clock = LineClock()
    with database.transaction() as session:
        sync_queues(session, config, clock.now())
    settings = twilio_settings(config, TwilioAccount(ACCOUNT_SID, AUTH_TOKEN))
    provider = TwilioProvider(settings, database, clock)
    app = create_app(config, database, clock=clock, webhooks=provider.webhooks())

    async def greeting() -> bytes:
        """The webhook's answer to a new call, to serve bare."""
        path, body, signature = arrival()
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
    bare = bare_endpoint(twiml)

    async def both(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == BARE_PATH:
            await bare(scope, receive, send)
            return
        await app(scope, receive, send)

    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    listening.listen(1024)
    ports.put(listening.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(both, log_config=None, log_level="warning", access_log=False, backlog=1024)
    )
    server.run(sockets=[listening])


def bare_endpoint(twiml: bytes) -> Any:
    """The least a real endpoint does for Twilio: a Starlette app that routes the POST,
    reads its body and answers the TwiML (built beforehand); no signature, no
    parameters, no store."""
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import Response  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    async def answer(request: Request) -> Response:
        await request.body()
        return Response(twiml, media_type="application/xml")

    return Starlette(routes=[Route(BARE_PATH, answer, methods=["POST"])])


# -- the load ----------------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"


def arrival() -> tuple[str, str, str]:
    """A new call to the line, as Twilio posts it: path, body, signature."""
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
    path = "/twilio/voice"
    return path, urlencode(params), sign(AUTH_TOKEN, PUBLIC_URL + path, list(params.items()))


def request_bytes(port: int, path: str, body: str, signature: str | None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Type: {FORM}",
        f"Content-Length: {len(body.encode())}",
    ]
    if signature is not None:
        lines.append(f"{SIGNATURE_HEADER}: {signature}")
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
    port: int, server_pid: int, *, signed: bool, clients: int, warm_up: float, seconds: float
) -> Phase:
    """*clients* connections posting new calls' webhooks, signed as Twilio signs them, to
    the webhook or (the same requests, byte for byte but the path) to the bare endpoint."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    counted_from, until = start + warm_up, start + warm_up + seconds
    latencies: list[float] = []
    failures = 0
    path = "/twilio/voice" if signed else BARE_PATH

    async def client() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (sent := loop.time()) < until:
                _, body, signature = arrival()
                writer.write(request_bytes(port, path, body, signature))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds counted per phase")
    parser.add_argument("--warm-up", type=float, default=2.0, help="seconds before counting")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    args = parser.parse_args()
    load_at_start = round(os.getloadavg()[0], 2)  # others' work on these cores skews it all
    progress(f"load average (1 min) {load_at_start}")
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="callflow-bench-twilio-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        ports: Queue[Any] = context.Queue()
        server = context.Process(target=serve, args=(url, ports), daemon=True)
        server.start()
        try:
            port = ports.get(timeout=120)
            progress(f"server on 127.0.0.1:{port}; {args.clients} clients")
            options = {"clients": args.clients, "warm_up": args.warm_up, "seconds": args.seconds}
            assert server.pid is not None
            webhooks = asyncio.run(load(port, server.pid, signed=True, **options))
            progress(f"signed webhooks: {webhooks.summary()}")
            bare = asyncio.run(load(port, server.pid, signed=False, **options))
            progress(f"bare endpoint: {bare.summary()}")
        finally:
            server.terminate()
            server.join(30)
    ratio = webhooks.per_s / bare.per_s if bare.per_s else 0.0
    print(
        json.dumps(
            {
                "bench": "twilio",
                "db": url.split(":", 1)[0].split("+", 1)[0],
                "clients": args.clients,
                "webhook_per_s": round(webhooks.per_s, 1),
                "webhook_p99_ms": round(webhooks.p99_ms, 2),
                "webhook_failures": webhooks.failures,
                "bare_per_s": round(bare.per_s, 1),
                "bare_p99_ms": round(bare.p99_ms, 2),
                "ratio": round(ratio, 3),
                "webhook_server_cpu_ms": webhooks.server_ms_per_request,
                "bare_server_cpu_ms": bare.server_ms_per_request,
                "client_cpu_cores": max(webhooks.client_cores, bare.client_cores),
                "load_1m": load_at_start,
                "target_per_s": TARGET_PER_S,
                "target_ratio": TARGET_RATIO,
                "targets_met": webhooks.per_s >= TARGET_PER_S and ratio >= TARGET_RATIO,
            }
        )
    )


if __name__ == "__main__":
    main()
