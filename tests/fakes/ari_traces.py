"""Replay a recorded Asterisk 22.10.1 trace (``../shared/ari/traces``) against the fake.

Each REST request of the trace is sent again, in order, with the same
method, path, parameters, body and credentials; the ids Asterisk chose
then (channel ``1795441572.3``, a bridge's UUID) are translated to the
ones the fake chose, learnt from the answers and events at the same place
in the sequence. Before each request the replay waits for the events the
real Asterisk had already sent at that point, so causes come before
effects as they did. Websockets open and close where the trace opened and
closed them. The result pairs every recorded status with the fake's, and
every websocket's recorded event sequence with the fake's, both reduced
to what matters (type, states, causes, digits, playback states) and to
the event types the fake emits.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.fakes.ari_docs import TRACES, require_shared
from tests.fakes.ari_server import PASSWORD, USERNAME, FakeAsterisk

COMPARED_EVENTS = frozenset(
    {
        "StasisStart",
        "StasisEnd",
        "ChannelStateChange",
        "ChannelHangupRequest",
        "ChannelDestroyed",
        "ChannelEnteredBridge",
        "ChannelLeftBridge",
        "ChannelDtmfReceived",
        "PlaybackStarted",
        "PlaybackContinuing",
        "PlaybackFinished",
        "Dial",
        "BridgeDestroyed",
        "ApplicationReplaced",
    }
)
"""What the fake emits; the lab's ChannelVarset, ChannelDialplan, ChannelCallerId and
ChannelConnectedLine are not compared."""

_ID_KEYS = ("channel", "peer", "bridge", "playback", "replace_channel")


def load(name: str) -> list[dict[str, Any]]:
    path = require_shared(TRACES) / name
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def signature(event: dict[str, Any]) -> tuple[Any, ...]:
    """An event reduced to what a replay must reproduce."""
    channel = event.get("channel") or event.get("peer") or {}
    playback = event.get("playback") or {}
    bridge = event.get("bridge") or {}
    return (
        event["type"],
        channel.get("state"),
        event.get("cause"),
        event.get("soft"),
        event.get("digit"),
        event.get("dialstatus"),
        tuple(event.get("args", ())),
        playback.get("state"),
        playback.get("media_uri"),
        bridge.get("bridge_type"),
    )


@dataclass
class _Socket:
    label: str
    connection: ClientConnection | None
    received: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class ReplayResult:
    statuses: list[tuple[str, int, int]] = field(default_factory=list)
    """(what the request was, recorded status, fake's status)."""
    events: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = field(
        default_factory=dict
    )
    """Per websocket: (recorded signatures, fake's signatures)."""
    id_conflicts: list[str] = field(default_factory=list)

    def status_mismatches(self) -> list[tuple[str, int, int]]:
        return [s for s in self.statuses if s[1] != s[2]]


class Replay:
    def __init__(self, fake: FakeAsterisk, lines: list[dict[str, Any]]) -> None:
        self.fake = fake
        self.lines = lines
        self.ids: dict[str, str] = {}
        self.sockets: dict[str, _Socket] = {}
        self.result = ReplayResult()
        self.expected: dict[str, list[dict[str, Any]]] = {}
        self.responses = {line["id"]: line for line in lines if line["dir"] == "response"}

    async def run(self, timeout: float = 3.0) -> ReplayResult:
        async with httpx.AsyncClient(base_url=self.fake.url) as http:
            for index, line in enumerate(self.lines):
                kind = line["dir"]
                if kind == "ws" and line["action"] == "connect":
                    await self._connect(line, index)
                elif kind == "ws" and line["action"] == "close":
                    await self._close(line["ws"])
                elif kind == "event":
                    self.expected.setdefault(line["ws"], []).append(line["event"])
                elif kind == "request":
                    await self._wait_for_events(timeout)
                    await self._send(http, line)
            await self._wait_for_events(timeout)
        for label in list(self.sockets):
            await self._close(label)
        for label, recorded in self.expected.items():
            wanted = [signature(e) for e in recorded if e["type"] in COMPARED_EVENTS]
            got = [signature(e) for e in self._compared(label)]
            self.result.events[label] = (wanted, got)
        return self.result

    # -- websockets ----------------------------------------------------------------------

    async def _connect(self, line: dict[str, Any], index: int) -> None:
        label = line["ws"]
        parts = urlsplit(line["url"])
        url = f"ws://127.0.0.1:{urlsplit(self.fake.url).port}{parts.path}?{parts.query}"
        outcome = next(
            (
                later
                for later in self.lines[index + 1 :]
                if later["dir"] == "ws" and later["ws"] == label
            ),
            None,
        )
        before = self.fake.websocket_connections
        try:
            connection = await connect(url, open_timeout=2)
        except InvalidStatus as exc:
            recorded = outcome["status"] if outcome else 101
            self.result.statuses.append((f"websocket {label}", recorded, exc.response.status_code))
            return
        recorded = outcome["status"] if outcome else 101
        self.result.statuses.append((f"websocket {label}", recorded, 101))
        socket = self.sockets.get(label) or _Socket(label, None)
        socket.connection = connection
        socket.reader = asyncio.create_task(self._read(socket, connection))
        self.sockets[label] = socket
        # registered on the server side before any request can cause an event for it
        await self.fake.wait_until(lambda: self.fake.websocket_connections > before)

    async def _read(self, socket: _Socket, connection: ClientConnection) -> None:
        try:
            async for message in connection:
                socket.received.append(json.loads(message))
                socket.arrived.set()
        except ConnectionClosed:
            return

    async def _close(self, label: str) -> None:
        socket = self.sockets.get(label)
        if socket is None or socket.connection is None:
            return
        await socket.connection.close()
        if socket.reader is not None:
            await socket.reader
        socket.connection = None

    def _compared(self, label: str) -> list[dict[str, Any]]:
        socket = self.sockets.get(label)
        received = socket.received if socket else []
        return [e for e in received if e["type"] in COMPARED_EVENTS]

    async def _wait_for_events(self, timeout: float) -> None:
        """Until every socket has what the real one had by now; ids learnt on the way."""
        for label, recorded in self.expected.items():
            wanted = [e for e in recorded if e["type"] in COMPARED_EVENTS]
            socket = self.sockets.get(label)
            try:
                async with asyncio.timeout(timeout):
                    while socket is not None and len(self._compared(label)) < len(wanted):
                        socket.arrived.clear()
                        await socket.arrived.wait()
            except TimeoutError:
                pass  # the comparison at the end shows what is missing
            for old, new in zip(wanted, self._compared(label), strict=False):
                if old["type"] == new["type"]:
                    self._learn_event(old, new)

    # -- requests ------------------------------------------------------------------------

    async def _send(self, http: httpx.AsyncClient, line: dict[str, Any]) -> None:
        path = "/".join(self._map(segment) for segment in line["path"].split("/"))
        query = {
            k: ",".join(self._map(v) for v in str(v).split(",")) for k, v in line["query"].items()
        }
        credentials: str | None = f"{USERNAME}:{PASSWORD}"
        if "auth" in line:
            credentials = line["auth"]
        request = http.build_request(
            line["method"],
            path,
            params=query,
            json=_remap(line["body"], self._map) if "body" in line else None,
            content=line["raw_body"].encode() if "raw_body" in line else None,
            headers=line.get("headers"),
        )
        if credentials is not None:
            token = base64.b64encode(credentials.encode()).decode()
            request.headers["Authorization"] = f"Basic {token}"
        response = await http.send(request)
        recorded = self.responses.get(line["id"], {})
        what = f"#{line['id']} {line['method']} {line['path']} ({line.get('label', '')})"
        self.result.statuses.append((what, recorded.get("status", 0), response.status_code))
        old_body = recorded.get("body")
        if isinstance(old_body, dict) and response.content:
            new_body = response.json()
            if isinstance(new_body, dict):
                self._learn(old_body.get("id"), new_body.get("id"))

    def _map(self, value: str) -> str:
        return self.ids.get(value, value)

    def _learn(self, old: Any, new: Any) -> None:
        if not isinstance(old, str) or not isinstance(new, str):
            return
        known = self.ids.get(old)
        if known is None:
            self.ids[old] = new
        elif known != new:
            self.result.id_conflicts.append(f"{old} was {known}, now {new}")

    def _learn_event(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        for key in _ID_KEYS:
            if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
                self._learn(old[key].get("id"), new[key].get("id"))


def _remap(value: Any, translate: Any) -> Any:
    if isinstance(value, str):
        return translate(value)
    if isinstance(value, dict):
        return {k: _remap(v, translate) for k, v in value.items()}
    if isinstance(value, list):
        return [_remap(v, translate) for v in value]
    return value


def mismatched_events(result: ReplayResult) -> Iterator[str]:
    for label, (wanted, got) in result.events.items():
        if wanted != got:
            yield f"{label}:\n  recorded {wanted}\n  fake     {got}"
