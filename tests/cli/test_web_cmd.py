"""``callflow web``: serves the API on a free port, and stops cleanly on SIGINT."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from callflow.cli import main
from tests.cli.test_phone_cmd import CALLFLOW
from tests.conftest import EXAMPLE_CONFIG

PATIENCE_S = 30.0


def _started(process: subprocess.Popen[str]) -> dict[str, object]:
    """The ``web.started`` log line (JSON: stderr is not a terminal)."""
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + PATIENCE_S
    seen = []
    while time.monotonic() < deadline and selector.select(timeout=deadline - time.monotonic()):
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("{") and json.loads(line)["event"] == "web.started":
            started: dict[str, object] = json.loads(line)
            return started
    raise AssertionError(f"no web.started within {PATIENCE_S} s; saw {seen}")


@pytest.mark.slow
def test_web_serves_the_api_and_stops_on_sigint(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "line.sqlite3"
    shutil.copy(sqlite_template, path)  # already migrated: the test need not wait for it
    url = f"sqlite:///{path}"
    env = {**os.environ, "CALLFLOW_CONFIG": str(EXAMPLE_CONFIG)}
    env.pop("CALLFLOW_DATABASE_URL", None)
    process = subprocess.Popen(
        [CALLFLOW, "web", "--port", "0", "--database-url", url],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        started = _started(process)
        base = str(started["url"])
        assert base.startswith("http://127.0.0.1:") and not base.endswith(":0")
        schema = httpx.get(f"{base}/openapi.json", timeout=PATIENCE_S)
        metrics = httpx.get(f"{base}/metrics", timeout=PATIENCE_S)
        me = httpx.get(f"{base}/advisor/me", timeout=PATIENCE_S)
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=PATIENCE_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert schema.status_code == 200 and "/advisor/assignment" in schema.json()["paths"]
    assert metrics.status_code == 200 and "callflow_callbacks_open" in metrics.text
    assert me.status_code == 401
    assert process.returncode == 0, rest
    assert json.loads(rest.strip().splitlines()[-1])["event"] == "web.stopped"


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = ["--port", str(port), "--database-url", f"sqlite:///{tmp_path}/line.sqlite3"]
        result = CliRunner().invoke(main, ["web", "--config", str(EXAMPLE_CONFIG), *options])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1 port {port}" in result.output
    assert not (tmp_path / "line.sqlite3").exists(), "nothing is opened before the port is had"


@pytest.mark.slow
def test_web_serves_metrics_apart_with_the_limits_of_its_config(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """``[web]`` puts /metrics on an address of its own, a second server in the process,
    and sets uvicorn's limits: headers growing past ``max_header_bytes`` are refused
    without waiting for their end."""
    path = tmp_path / "line.sqlite3"
    shutil.copy(sqlite_template, path)
    config = tmp_path / "hotline.toml"
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[web]\n", '[web]\nmetrics_host = "127.0.0.1"\nmetrics_port = 0\n').replace(
            "max_header_bytes = 16_384", "max_header_bytes = 2048"
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "CALLFLOW_CONFIG": str(config)}
    env.pop("CALLFLOW_DATABASE_URL", None)
    process = subprocess.Popen(
        [CALLFLOW, "web", "--port", "0", "--database-url", f"sqlite:///{path}"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        started = _started(process)
        base, metrics_url = str(started["url"]), str(started["metrics_url"])
        apart = httpx.get(metrics_url, timeout=PATIENCE_S)
        on_the_api = httpx.get(f"{base}/metrics", timeout=PATIENCE_S)
        health = httpx.get(f"{base}/health", headers={"X-Note": "n" * 1000}, timeout=PATIENCE_S)
        bloated = _unfinished_headers(base, 3000)
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=PATIENCE_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert metrics_url.startswith("http://127.0.0.1:") and not metrics_url.startswith(base)
    assert apart.status_code == 200 and "callflow_callbacks_open" in apart.text
    assert on_the_api.status_code == 404
    assert health.status_code == 200
    assert bloated.startswith(b"HTTP/1.1 400 ")
    assert process.returncode == 0, rest
    assert json.loads(rest.strip().splitlines()[-1])["event"] == "web.stopped"


def _unfinished_headers(base: str, size: int) -> bytes:
    """What the server answers to *size* bytes of headers that never end."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=PATIENCE_S) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: web\r\nX-Note: " + b"n" * size)
        return connection.recv(1024)
