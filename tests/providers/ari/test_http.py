"""REST's connections to Asterisk: kept alive and reused, never more than allowed at once,
and one the server closed or left idle too long is not used again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import h11
import pytest

from callflow.providers.ari.http import KEEPALIVE_EXPIRY, Connections, HttpFailed, Reply
from tests.providers.ari.rig import run


@dataclass
class Server:
    """An HTTP/1.1 server on loopback that answers ``{}`` to everything, counting its
    connections; *close_after_answer* hangs up after each answer (without saying so),
    *gate* holds every answer until set, *garbage* answers what is not HTTP."""

    close_after_answer: bool = False
    garbage: bool = False
    gate: asyncio.Event | None = None
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    targets: list[str] = field(default_factory=list)
    lengths: list[bytes | None] = field(default_factory=list)
    """Each request's ``Content-Length``."""
    url: str = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        http = h11.Connection(h11.SERVER)
        try:
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    http.receive_data(await reader.read(65536))
                    continue
                if isinstance(event, h11.ConnectionClosed):
                    return
                if isinstance(event, h11.Request):
                    self.targets.append(event.target.decode())
                    self.lengths.append(dict(event.headers).get(b"content-length"))
                if not isinstance(event, h11.EndOfMessage):
                    continue
                if self.gate is not None:
                    await self.gate.wait()
                if self.garbage:
                    writer.write(b"SMTP ready\r\n\r\n")
                    await writer.drain()
                    return
                headers = [("Content-Type", "application/json"), ("Content-Length", "2")]
                data = http.send(h11.Response(status_code=200, headers=headers))
                writer.write(data + http.send(h11.Data(data=b"{}")) + http.send(h11.EndOfMessage()))
                await writer.drain()
                if self.close_after_answer:
                    return
                http.start_next_cycle()
        finally:
            self.open_now -= 1
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[Server]:
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}/ari/"
    try:
        yield server
    finally:
        listening.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connections(server: Server, clock: Clock | None = None, **options: float) -> Connections:
    limits = {"timeout": 2.0, "max_connections": 4, **options}
    return Connections(
        server.url,
        [("Authorization", "Basic x")],
        timeout=limits["timeout"],
        max_connections=int(limits["max_connections"]),
        clock=clock or Clock(),
    )


def test_requests_one_after_another_share_one_connection() -> None:
    async def scenario() -> tuple[list[Reply], Server]:
        async with serving(Server()) as server:
            http = connections(server)
            replies = [await http.request("GET", f"/ari/channels?n={n}") for n in range(5)]
            await http.aclose()
            return replies, server

    replies, server = run(scenario())
    assert [(r.status, r.json()) for r in replies] == [(200, {})] * 5
    assert server.targets == [f"/ari/channels?n={n}" for n in range(5)]
    assert server.connections == 1


def test_no_more_requests_at_once_than_allowed() -> None:
    """Ten requests at once on a limit of three: three connections, every request answered."""

    async def scenario() -> tuple[list[Reply], Server]:
        async with serving(Server(gate=asyncio.Event())) as server:
            assert server.gate is not None
            http = connections(server, max_connections=3)
            requests = [asyncio.create_task(http.request("GET", "/ari/bridges")) for _ in range(10)]
            while server.open_now < 3:
                await asyncio.sleep(0.001)
            server.gate.set()
            replies = await asyncio.gather(*requests)
            await http.aclose()
            return replies, server

    replies, server = run(scenario())
    assert len(replies) == 10
    assert server.connections == server.most_open == 3


def test_a_connection_the_server_closed_is_not_used_again() -> None:
    async def scenario() -> Server:
        async with serving(Server(close_after_answer=True)) as server:
            http = connections(server)
            for _ in range(3):
                assert (await http.request("POST", "/ari/channels/c1/answer")).status == 200
                async with asyncio.timeout(2):
                    while http.idle:  # until the server's close has reached us
                        await asyncio.sleep(0.001)
            await http.aclose()
            return server

    assert run(scenario()).connections == 3


def test_a_connection_idle_past_the_keep_alive_expiry_is_replaced() -> None:
    async def scenario() -> Server:
        clock = Clock()
        async with serving(Server()) as server:
            http = connections(server, clock)
            await http.request("GET", "/ari/channels")
            clock.now += KEEPALIVE_EXPIRY / 2
            await http.request("GET", "/ari/channels")
            clock.now += KEEPALIVE_EXPIRY + 0.1
            await http.request("GET", "/ari/channels")
            await http.aclose()
            return server

    assert run(scenario()).connections == 2


def test_a_server_that_does_not_speak_http_is_a_failure() -> None:
    async def scenario() -> None:
        async with serving(Server(garbage=True)) as server:
            http = connections(server)
            with pytest.raises(HttpFailed):
                await http.request("GET", "/ari/channels")
            await http.aclose()

    run(scenario())


def test_a_server_too_slow_is_a_failure_and_its_connection_is_not_reused() -> None:
    async def scenario() -> Server:
        gate = asyncio.Event()
        async with serving(Server(gate=gate)) as server:
            http = connections(server, timeout=0.05)
            with pytest.raises(HttpFailed, match="no answer within"):
                await http.request("GET", "/ari/channels")
            gate.set()
            assert (await http.request("GET", "/ari/channels")).status == 200
            await http.aclose()
            return server

    assert run(scenario()).connections == 2


def test_a_request_says_how_long_its_body_is() -> None:
    """A POST without a body says it has none; a GET says nothing."""

    async def scenario() -> Server:
        async with serving(Server()) as server:
            http = connections(server)
            await http.request("POST", "/ari/channels/c1/answer")
            await http.request("POST", "/ari/channels", b'{"a":1}', content_type="application/json")
            await http.request("GET", "/ari/channels")
            await http.aclose()
            return server

    assert run(scenario()).lengths == [b"0", b"7", None]


def test_a_request_under_way_when_closing_leaves_no_connection_open() -> None:
    async def scenario() -> Server:
        gate = asyncio.Event()
        async with serving(Server(gate=gate)) as server:
            http = connections(server)
            under_way = asyncio.create_task(http.request("GET", "/ari/channels"))
            while not server.open_now:
                await asyncio.sleep(0.001)
            await http.aclose()
            gate.set()
            assert (await under_way).status == 200
            async with asyncio.timeout(2):
                while server.open_now:  # until our close has reached the server
                    await asyncio.sleep(0.001)
            return server

    assert run(scenario()).open_now == 0
