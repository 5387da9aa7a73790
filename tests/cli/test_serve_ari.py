"""``callflow serve`` with ``[provider.ari]``: the real command against the fake Asterisk,
the adapter and the HTTP app on one event loop, stopped cleanly by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from callflow.config.load import load_config
from callflow.providers.ari.sounds import sound_files
from tests.cli.test_phone_cmd import CALLFLOW
from tests.fakes.ari_server import APP, PASSWORD, FakeAsterisk
from tests.providers.ari.lines import ari_line_file

pytestmark = pytest.mark.slow  # real `callflow serve` processes

PATIENCE_S = 60.0


ALWAYS_OPEN = "[hours]\n" + "".join(
    f'{day} = ["00:00-24:00"]\n'
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
)
"""Hours for a test that must find the line open at whatever real time it runs."""


def ari_line(tmp_path: Path, fake: FakeAsterisk, *, always_open: bool = False) -> dict[str, str]:
    """The example configuration on *fake* (open round the clock, no holidays nor
    closures, if *always_open*), and an environment with its password."""
    config = ari_line_file(tmp_path, fake.url)
    if always_open:
        text = config.read_text(encoding="utf-8")
        week = re.compile(r"^\[hours\]\n.*?^# -{10,}$", re.DOTALL | re.MULTILINE)
        calendar = ALWAYS_OPEN + '\n[calendar]\nholidays = ""\n\n# ' + "-" * 20
        text, replaced = week.subn(lambda _: calendar, text)
        assert replaced == 1, "the example config's [hours] and [calendar] were not found"
        config.write_text(text, encoding="utf-8")
    hotline = load_config(config)
    assert hotline.provider.ari is not None
    for sound in sound_files(hotline, hotline.provider.ari):
        fake.add_sound(sound.name, 1.0)
    return {
        **os.environ,
        "CALLFLOW_CONFIG": str(config),
        "CALLFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'line.sqlite3'}",
        "ARI_PASSWORD": PASSWORD,
    }


async def logged_until(server: asyncio.subprocess.Process, wanted: str) -> list[dict[str, str]]:
    """The server's log lines (JSON: stderr is not a terminal) up to the first *wanted*."""
    assert server.stderr is not None
    seen: list[dict[str, str]] = []
    async with asyncio.timeout(PATIENCE_S):
        while line := await server.stderr.readline():
            seen.append(json.loads(line))
            if seen[-1]["event"] == wanted:
                return seen
    raise AssertionError(f"the server ended before {wanted}; saw {seen}")


async def started_server(env: dict[str, str], fake: FakeAsterisk) -> asyncio.subprocess.Process:
    """``callflow serve`` on *env*, once its adapter's websocket is up on *fake*."""
    connections = fake.websocket_connections
    server = await asyncio.create_subprocess_exec(
        CALLFLOW, "serve", "--port", "0", env=env, stderr=asyncio.subprocess.PIPE
    )
    await logged_until(server, "serve.started")
    await fake.wait_until(
        lambda: fake.is_connected() and fake.websocket_connections > connections, PATIENCE_S
    )
    return server


def played(fake: FakeAsterisk, channel_id: str, sound: str) -> bool:
    return any(
        r.operation == "channels.play" and channel_id in r.path and sound in str(r.query)
        for r in fake.requests
    )


def test_a_call_goes_on_in_the_next_process_after_a_kill(tmp_path: Path) -> None:
    """``kill -9`` mid-call writes nothing on the way out. The next ``callflow serve``
    restores the call from the store: the caller, at the topic menu when the first
    process died, presses their topic and is queued."""

    async def scenario() -> None:
        async with FakeAsterisk(time_scale=0.01) as fake:
            env = ari_line(tmp_path, fake, always_open=True)
            # The menu waits longer than a slow machine takes to start the next process.
            config = Path(env["CALLFLOW_CONFIG"])
            text = config.read_text(encoding="utf-8")
            assert 'input_timeout = "6s"' in text
            config.write_text(
                text.replace('input_timeout = "6s"', 'input_timeout = "2m"'), encoding="utf-8"
            )
            first = await started_server(env, fake)
            second = None
            try:
                call = await fake.start_inbound_call(number="+358401234567")
                channel = call.channel_id
                await fake.wait_until(lambda: played(fake, channel, "language_option"), PATIENCE_S)
                await fake.press_digits(channel, "1")
                await fake.wait_until(lambda: played(fake, channel, "topic_option"), PATIENCE_S)
                first.kill()
                await first.wait()

                second = await started_server(env, fake)
                await fake.press_digits(channel, "1")
                queue = "cf-queue-health"
                await fake.wait_until(
                    lambda: (
                        queue in fake.model.bridges
                        and channel in fake.model.bridges[queue].channels
                    ),
                    PATIENCE_S,
                )
                second.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(second.wait(), PATIENCE_S) == 0
            finally:
                for server in (first, second):
                    if server is not None and server.returncode is None:
                        server.kill()
                        await server.wait()
            assert not fake.violations()

    asyncio.run(scenario())


def test_serve_answers_calls_beside_the_http_app_and_stops_on_sigterm(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeAsterisk(time_scale=0.01) as fake:
            env = ari_line(tmp_path, fake)
            server = await asyncio.create_subprocess_exec(
                CALLFLOW, "serve", "--port", "0", env=env, stderr=asyncio.subprocess.PIPE
            )
            try:
                started = (await logged_until(server, "serve.started"))[-1]
                assert (started["provider"], started["app"]) == ("ari", APP)
                await fake.wait_until(fake.is_connected, PATIENCE_S)

                call = await fake.start_inbound_call(number="+358401234567")
                channel = fake.model.channels[call.channel_id]
                # Open or closed at this real hour, the line answers and speaks.
                await fake.wait_until(
                    lambda: (
                        channel.state == "Up"
                        and any(
                            r.operation == "channels.play" and call.channel_id in r.path
                            for r in fake.requests
                        )
                    ),
                    PATIENCE_S,
                )
                async with httpx.AsyncClient(base_url=started["url"]) as http:
                    metrics = await http.get("/metrics")
                assert metrics.status_code == 200

                server.send_signal(signal.SIGTERM)
                stopped = await logged_until(server, "serve.stopped")
                assert stopped[-1]["provider"] == "ari"
                assert await asyncio.wait_for(server.wait(), PATIENCE_S) == 0
                await fake.wait_until(lambda: not fake.is_connected(), PATIENCE_S)
            finally:
                if server.returncode is None:
                    server.kill()
                    await server.wait()
            assert not fake.violations()

    asyncio.run(scenario())
