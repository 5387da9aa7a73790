"""``callflow serve``: the simulated line runs beside its web app, on one clock, and stops
cleanly on SIGINT; on a provider (here Asterisk), /metrics can run on an address of its
own, stopped with the rest."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from callflow.cli.composition import Overrides, choose, open_line
from callflow.config.models import HotlineConfig
from callflow.engine.clock import AcceleratedClock, SystemClock
from callflow.engine.vocabulary import EventKind
from callflow.providers.sim.provider import SimulatedProvider
from callflow.store.models import Call, CallEvent
from callflow.store.session import Database
from tests.cli.test_phone_cmd import CALLFLOW
from tests.cli.test_serve_ari import ari_line, logged_until
from tests.conftest import EXAMPLE_CONFIG
from tests.fakes.ari_server import FakeAsterisk

pytestmark = pytest.mark.slow  # real `callflow serve` processes

PATIENCE_S = 90.0
"""How long to wait for the server's log lines before calling the run broken."""


def _lines_until(process: subprocess.Popen[str], wanted: str) -> list[dict[str, object]]:
    """Log lines (JSON: stderr is not a terminal) up to the first *wanted* event."""
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + PATIENCE_S
    seen: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        if not selector.select(timeout=deadline - time.monotonic()):
            break
        line = process.stderr.readline()
        if not line:
            break
        seen.append(json.loads(line))
        if seen[-1]["event"] == wanted:
            return seen
    raise AssertionError(f"no {wanted} within {PATIENCE_S} s; saw {[s['event'] for s in seen]}")


def test_serve_runs_the_simulated_line_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    """The web app answers while the line runs, and the log says where its pages are."""
    url = f"sqlite:///{tmp_path / 'line.sqlite3'}"
    env = {**os.environ, "CALLFLOW_CONFIG": str(EXAMPLE_CONFIG)}
    env.pop("CALLFLOW_DATABASE_URL", None)
    command = [CALLFLOW, "serve", "--database-url", url, "--speed", "3000", "--seed", "3"]
    process = subprocess.Popen(
        [*command, "--at", "2026-01-12T09:00", "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        seen = _lines_until(process, "callback.dialled")
        health = httpx.get(f"{seen[0]['url']}/health", timeout=PATIENCE_S)
        sign_in = httpx.get(str(seen[0]["sign_in"]), timeout=PATIENCE_S)
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        _, rest = process.communicate(timeout=PATIENCE_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, rest
    started = seen[0]
    assert started["event"] == "serve.started" and started["provider"] == "sim"
    assert started["line_time"] == "2026-01-12T09:00:00+02:00"
    site = str(started["url"])
    assert site.startswith("http://127.0.0.1:") and not site.endswith(":0")
    pages = {name: started[name] for name in ("desk", "board", "admin", "sign_in")}
    assert pages == {
        "desk": f"{site}/desk",
        "board": f"{site}/board",
        "admin": f"{site}/admin",
        "sign_in": f"{site}/sign-in",
    }
    assert (health.status_code, sign_in.status_code) == (200, 200)
    events = {line["event"] for line in seen}
    assert {"call.arrived", "call.answered", "callback.requested"} <= events
    assert all("+358" not in json.dumps(line) for line in seen), "numbers must be masked"
    stopped = json.loads(rest.strip().splitlines()[-1])
    assert stopped["event"] == "serve.stopped"
    assert stopped["calls"] >= 1 and stopped["callbacks_dialled"] >= 1

    database = Database.connect(url)
    try:
        with database.reading() as session:
            calls = session.scalar(select(func.count()).select_from(Call))
            dialled = session.scalar(
                select(func.count()).where(CallEvent.kind == EventKind.CALLBACK_DIALLED)
            )
    finally:
        database.close()
    assert calls == stopped["calls"], "every call the server took is in the store"
    assert dialled == stopped["callbacks_dialled"]


def test_serve_runs_metrics_apart_and_stops_both_servers_on_sigterm(tmp_path: Path) -> None:
    """With ``[web] metrics_host``/``metrics_port`` the line's ``serve`` runs a second server
    for /metrics; SIGTERM stops it with the API's and the Asterisk adapter."""

    async def scenario() -> None:
        async with FakeAsterisk(time_scale=0.01) as fake:
            env = ari_line(tmp_path, fake)
            config = Path(env["CALLFLOW_CONFIG"])
            text = config.read_text(encoding="utf-8")
            apart = '[web]\nmetrics_host = "127.0.0.1"\nmetrics_port = 0\n'
            config.write_text(text.replace("[web]\n", apart), encoding="utf-8")
            server = await asyncio.create_subprocess_exec(
                CALLFLOW, "serve", "--port", "0", env=env, stderr=asyncio.subprocess.PIPE
            )
            try:
                started = (await logged_until(server, "serve.started"))[-1]
                async with httpx.AsyncClient() as http:
                    scraped = await http.get(started["metrics_url"])
                    on_the_api = await http.get(f"{started['url']}/metrics")
                    health = await http.get(f"{started['url']}/health")
                server.send_signal(signal.SIGTERM)
                await logged_until(server, "serve.stopped")
                assert await asyncio.wait_for(server.wait(), PATIENCE_S) == 0
            finally:
                if server.returncode is None:
                    server.kill()
                    await server.wait()
            assert scraped.status_code == 200 and "callflow_callbacks_open" in scraped.text
            assert (on_the_api.status_code, health.status_code) == (404, 200)
            assert started["metrics_url"] != f"{started['url']}/metrics"

    asyncio.run(scenario())


def test_the_simulated_line_and_its_web_app_read_one_clock(
    config: HotlineConfig, database: Database
) -> None:
    """The board's "now" is the simulated line's: the app is built on the line's clock,
    which stands at --at until the line runs; a worker beside it keeps the wall clock."""
    at = datetime(2026, 1, 12, 7, 0, tzinfo=UTC)
    overrides = Overrides(
        database_url=database.engine.url.render_as_string(hide_password=False),
        speed=60,
        start=at,
    )
    choice = choose(config, overrides)
    with open_line(config, choice, overrides, running=True) as line:
        assert isinstance(line.clock, AcceleratedClock)
        assert (line.clock.now(), line.clock.speed) == (at, 60)
        assert isinstance(line.provider, SimulatedProvider)
        assert line.provider.clock is line.clock
    with open_line(config, choice, overrides) as worker_line:
        assert isinstance(worker_line.clock, SystemClock)
