"""``callflow serve`` with ``[provider.ari]``: the real command against the fake Asterisk,
the adapter and the HTTP app on one event loop, stopped cleanly by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import httpx

from callflow.config.load import load_config
from callflow.providers.ari.sounds import sound_files
from tests.cli.test_phone_cmd import CALLFLOW
from tests.fakes.ari_server import APP, PASSWORD, FakeAsterisk
from tests.providers.ari.lines import ari_line_file

PATIENCE_S = 60.0


def ari_line(tmp_path: Path, fake: FakeAsterisk) -> dict[str, str]:
    """The example configuration on *fake*, and an environment with its password."""
    config = ari_line_file(tmp_path, fake.url)
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
