"""``callflow serve`` with ``[provider.twilio]``, rehearsed with ``callflow twilio dial``:
two real processes talking HTTP on 127.0.0.1, every request signed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from callflow.store.models import CallbackRequest
from callflow.store.session import Database
from tests.cli.test_phone_cmd import CALLFLOW
from tests.cli.test_serve_cmd import PATIENCE_S, _lines_until
from tests.conftest import EXAMPLE_CONFIG
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN

pytestmark = pytest.mark.slow  # real `callflow` processes

TWILIO_SECTION = """
[provider.twilio]
public_url = "https://hotline.example.fi/sote"

[provider.twilio.voices]
fi = { voice = "Polly.Suvi", language = "fi-FI" }
sv = { voice = "Polly.Astrid", language = "sv-SE" }
en = { voice = "Polly.Amy", language = "en-GB" }
"""


def twilio_line(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The example configuration with a Twilio number, and an environment with its account."""
    config = tmp_path / "hotline.toml"
    example = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    assert example.count("\nqueued = true ") == 1
    unconnected = example.replace("\nqueued = true ", "\nqueued = false ")
    config.write_text(unconnected + TWILIO_SECTION, "utf-8")
    env = {
        **os.environ,
        "CALLFLOW_CONFIG": str(config),
        "CALLFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'line.sqlite3'}",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    }
    return config, env


def test_a_rehearsal_call_against_a_served_line(tmp_path: Path) -> None:
    """Language 1, topic 2 (social), yes to the callback, yes to the number: whether the
    line is open or closed right now, the call ends with a stored request."""
    _, env = twilio_line(tmp_path)
    server = subprocess.Popen(
        [CALLFLOW, "serve", "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        started = _lines_until(server, "serve.started")[-1]
        rehearsal = ["--from", "+358401234567", "--digits", "1,2,1,1", "--hold", "0s"]
        dialled = subprocess.run(
            [CALLFLOW, "twilio", "dial", "--url", str(started["url"]), *rehearsal],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=PATIENCE_S,
        )
        assert dialled.returncode == 0, dialled.stderr
        outcome = json.loads(dialled.stdout.splitlines()[-1])
        assert outcome["ended_by"] == "line"
        assert "Soittopyyntösi on vastaanotettu" in dialled.stdout
        assert "+358401234567" not in dialled.stdout  # masked
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=PATIENCE_S)
        assert server.returncode == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    database = Database.connect(env["CALLFLOW_DATABASE_URL"])
    try:
        with database.reading() as session:
            (request,) = session.scalars(select(CallbackRequest)).all()
            assert (request.number_e164, request.topic) == ("+358401234567", "social")
    finally:
        database.close()


def test_serve_refuses_the_simulators_options_on_a_twilio_line(tmp_path: Path) -> None:
    _, env = twilio_line(tmp_path)
    refused = subprocess.run(
        [CALLFLOW, "serve", "--speed", "60"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=PATIENCE_S,
    )
    assert refused.returncode == 2
    assert "--speed: only for a simulated line" in refused.stderr


def test_serve_without_the_account_says_what_is_missing(tmp_path: Path) -> None:
    _, env = twilio_line(tmp_path)
    env.pop("TWILIO_AUTH_TOKEN")
    refused = subprocess.run(
        [CALLFLOW, "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=PATIENCE_S,
    )
    assert refused.returncode == 2
    assert "TWILIO_AUTH_TOKEN" in refused.stderr
