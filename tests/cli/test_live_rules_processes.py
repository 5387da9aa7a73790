"""Real processes on one PostgreSQL database: two ``callflow serve`` and a ``callflow
worker``. A change made anywhere is in force in all of them within 2 s, and ``SIGHUP``
with a broken file leaves a server serving on the rules it had."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from callflow.config.load import load_config
from callflow.service.rules import LineRules
from callflow.store.session import Database
from tests.cli.test_phone_cmd import CALLFLOW
from tests.conftest import EXAMPLE_CONFIG

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

PATIENCE_S = 60.0
IN_FORCE_WITHIN_S = 2.0


class Process:
    """A callflow command running, its JSON log read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.started: dict[str, Any] = {}
        """Its log line saying it has started."""

    async def logged(self, wanted: str, **fields: Any) -> dict[str, Any]:
        """The first log line from now on that is *wanted* with *fields*."""
        assert self.process.stderr is not None
        async with asyncio.timeout(PATIENCE_S):
            while line := await self.process.stderr.readline():
                entry: dict[str, Any] = json.loads(line)
                if entry["event"] == wanted and all(entry.get(k) == v for k, v in fields.items()):
                    return entry
        raise AssertionError(f"the process ended before logging {wanted} {fields}")


@asynccontextmanager
async def running(env: dict[str, str], *args: str, started: str) -> AsyncIterator[Process]:
    process = await asyncio.create_subprocess_exec(
        CALLFLOW, *args, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        command = Process(process)
        command.started = await command.logged(started)
        yield command
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def listening(database: Database, processes: int) -> None:
    """Until *processes* connections LISTEN for changes (one sent before is lost to them)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%callflow_line_changes%'"
    )
    async with asyncio.timeout(PATIENCE_S):
        while True:
            with database.reading() as session:
                if (session.scalar(query) or 0) >= processes:
                    return
            await asyncio.sleep(0.05)


@pytest.fixture
def line(tmp_path: Path, database_url: str) -> tuple[Path, dict[str, str]]:
    config = tmp_path / "hotline.toml"
    shutil.copy(EXAMPLE_CONFIG, config)
    env = {**os.environ, "CALLFLOW_CONFIG": str(config), "CALLFLOW_DATABASE_URL": database_url}
    return config, env


def test_a_change_is_in_force_in_every_process_within_two_seconds(
    line: tuple[Path, dict[str, str]], database: Database
) -> None:
    config_file, env = line

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            processes = [
                await stack.enter_async_context(
                    running(env, "serve", "--port", "0", started="serve.started")
                ),
                await stack.enter_async_context(
                    running(env, "serve", "--port", "0", started="serve.started")
                ),
                await stack.enter_async_context(running(env, "worker", started="worker.started")),
            ]
            await listening(database, len(processes))
            rules = LineRules.load(load_config(config_file), database)
            made_at = time.monotonic()
            change = await asyncio.to_thread(
                rules.change,
                "queues.health.overflow.queue_length",
                6,
                by="test",
                now=datetime.now(UTC),
            )
            for process in processes:
                await process.logged("config.in_force", version=change.id)
                assert time.monotonic() - made_at < IN_FORCE_WITHIN_S

    asyncio.run(scenario())


def test_sighup_with_a_broken_file_keeps_serving(
    line: tuple[Path, dict[str, str]], database: Database
) -> None:
    config_file, env = line

    async def scenario() -> None:
        async with running(env, "serve", "--port", "0", started="serve.started") as server:
            await server.logged("config.following")  # SIGHUP is ours from here
            good = config_file.read_text(encoding="utf-8")
            config_file.write_text(
                good.replace('fallback_topic = "other"', 'fallback_topic = "dental"'),
                encoding="utf-8",
            )
            server.process.send_signal(signal.SIGHUP)
            refused = await server.logged("config.reload_refused")
            assert any("menu.fallback_topic" in p for p in refused["problems"])
            url = server.started["url"]
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{url}/health")).status_code == 200
            assert server.process.returncode is None

            config_file.write_text(
                good.replace("queue_length = 3,", "queue_length = 5,", 1), "utf-8"
            )
            server.process.send_signal(signal.SIGHUP)
            await server.logged("config.reloaded", reason="sighup")

    asyncio.run(scenario())
