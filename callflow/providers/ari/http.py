"""HTTP/1.1 to Asterisk's REST interface: h11 over a free list of keep-alive connections.

The adapter sends a request for nearly every event of every call, to one
server, over a few dozen connections. httpx's pool (httpcore) looks at every
connection it has, and polls the socket of each idle one, for every request
and again for every response: under a stampede of callers that was most of
the adapter's time, and every event waited behind it. Here a request takes
the connection that finished last (a stack: the warmest one, while those
left idle sink to the bottom, where they expire), opens a new one if none is
free, or waits for its turn when *max_connections* requests are under way.
Nothing is scanned and no socket is polled: a connection the server closed
says so when the event loop reads its end of file.

What a request can meet is one of two things: a :class:`Reply` (any status)
or :class:`HttpFailed` (the server out of reach, too slow, or not speaking
HTTP). A connection that failed or timed out is closed, never reused.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11

KEEPALIVE_EXPIRY = 4.0
"""Seconds a connection may sit idle before it is closed rather than used: under the
5 s of httpx's pool, which this replaces, and Asterisk's ``session_keep_alive`` (15 s
by default), so a server's close of an idle connection does not race our next
request on it."""
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose request says how long its body is even when it has none, as the general
client this replaces said it to Asterisk (a server may refuse such a request without)."""


class HttpFailed(Exception):
    """No answer: the server could not be reached, took longer than the timeout, or did
    not speak HTTP. The message names which, never a credential."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The server's answer to one request."""

    status: int
    reason: str
    body: bytes

    def json(self) -> Any:
        """The body as JSON (:class:`ValueError` if it is not)."""
        return json.loads(self.body)


class Connections:
    """Requests to one server (*base_url*: scheme, host and port count), at most
    *max_connections* at once, each bounded by *timeout* seconds from its start to its
    answer (the wait for a connection included); *headers* go with every request."""

    def __init__(
        self,
        base_url: str,
        headers: Sequence[tuple[str, str]],
        *,
        timeout: float,
        max_connections: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.hostname is None:
            raise ValueError(f"no host in {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._headers = [("Host", parts.netloc), *headers]
        self._timeout = timeout
        self._turns = asyncio.Semaphore(max_connections)
        self._idle: deque[_Connection] = deque()
        """Free connections, the one that finished last at the right."""
        self._clock = clock
        self._closed = False

    async def request(
        self, method: str, target: str, body: bytes | None = None, *, content_type: str = ""
    ) -> Reply:
        """Send *method* *target* (path and query, already encoded) with *body*."""
        headers = list(self._headers)
        if body is not None:
            headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        elif method in BODY_METHODS:
            headers.append(("Content-Length", "0"))
        request = h11.Request(method=method, target=target, headers=headers)
        try:
            async with asyncio.timeout(self._timeout), self._turns:
                connection = self._free() or await self._open()
                try:
                    reply = await connection.exchange(request, body)
                except BaseException:
                    connection.close()  # half an exchange: its next bytes are not ours
                    raise
                if connection.reusable() and not self._closed:
                    connection.idle_since = self._clock()
                    self._idle.append(connection)
                else:
                    connection.close()
                return reply
        except TimeoutError:
            raise HttpFailed(f"no answer within {self._timeout:g} s") from None

    @property
    def idle(self) -> int:
        """Free connections the server has not closed."""
        return sum(not connection.closed for connection in self._idle)

    async def aclose(self) -> None:
        """Close the free connections (those under way close when they are done)."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    def _free(self) -> _Connection | None:
        """The connection that finished last, if any is still fit to use; those idle too
        long, or closed by the server, are closed and dropped on the way."""
        expired = self._clock() - KEEPALIVE_EXPIRY
        while self._idle and (self._idle[0].idle_since < expired or self._idle[0].closed):
            self._idle.popleft().close()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                _Connection,
                self._host,
                self._port,
                ssl=self._tls,
                server_hostname=self._host if self._tls else None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise HttpFailed(f"cannot connect: {type(exc).__name__}") from exc
        return connection


class _Connection(asyncio.Protocol):
    """One keep-alive connection: an exchange at a time, parsed by h11 as bytes arrive."""

    def __init__(self) -> None:
        self._http = h11.Connection(h11.CLIENT)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[Reply] | None = None
        self._status = 0
        self._reason = ""
        self._body: list[bytes] = []
        self.closed = False
        self.idle_since = 0.0

    async def exchange(self, request: h11.Request, body: bytes | None) -> Reply:
        transport = self._transport
        if transport is None or self.closed:
            raise HttpFailed("the connection closed")
        self._answer = asyncio.get_running_loop().create_future()
        self._body = []
        try:
            data = self._http.send(request)
            if body:
                data += self._http.send(h11.Data(data=body))
            data += self._http.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise HttpFailed(f"cannot send the request: {exc}") from exc
        transport.write(data)
        try:
            return await self._answer
        finally:
            self._answer = None

    def reusable(self) -> bool:
        """Both sides finished their message and neither asked to close."""
        http = self._http
        if self.closed or http.our_state is not h11.DONE or http.their_state is not h11.DONE:
            return False
        http.start_next_cycle()
        return True

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._http.receive_data(data)
        self._read()

    def eof_received(self) -> bool | None:
        self.closed = True
        self._http.receive_data(b"")
        self._read()
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(HttpFailed("the server closed the connection"))

    def _read(self) -> None:
        """Take what h11 has parsed; the answer is whole at its ``EndOfMessage``."""
        while True:
            try:
                event = self._http.next_event()
            except h11.RemoteProtocolError as exc:
                self._fail(HttpFailed(f"not an HTTP answer: {exc}"))
                self.close()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self._status, self._reason = event.status_code, event.reason.decode("latin-1")
            elif isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                if self._answer is not None and not self._answer.done():
                    self._answer.set_result(Reply(self._status, self._reason, b"".join(self._body)))
                return
            elif isinstance(event, h11.ConnectionClosed):
                self.closed = True
                self._fail(HttpFailed("the server closed the connection without an answer"))
                return

    def _fail(self, error: HttpFailed) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
