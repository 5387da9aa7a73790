"""``callflow serve`` without a provider: the simulated line runs, and stops cleanly on SIGINT."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import func, select

from callflow.engine.vocabulary import EventKind
from callflow.store.models import Call, CallEvent
from callflow.store.session import Database
from tests.cli.test_phone_cmd import CALLFLOW
from tests.conftest import EXAMPLE_CONFIG

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
    url = f"sqlite:///{tmp_path / 'line.sqlite3'}"
    env = {**os.environ, "CALLFLOW_CONFIG": str(EXAMPLE_CONFIG)}
    env.pop("CALLFLOW_DATABASE_URL", None)
    command = [CALLFLOW, "serve", "--database-url", url, "--speed", "3000", "--seed", "3"]
    process = subprocess.Popen(
        [*command, "--at", "2026-01-12T09:00"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        seen = _lines_until(process, "callback.dialled")
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
