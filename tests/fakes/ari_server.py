"""A fake Asterisk 22 ARI: a real HTTP + WebSocket server on 127.0.0.1 (random port).

It runs in the test's own event loop (``async with FakeAsterisk() as ari:``)
on uvicorn, so a test awaits its control methods and nothing is shared
across threads. What it serves:

* ``/ari/api-docs/...`` — Asterisk's own documents from ``../shared/ari/api-docs``,
  read at run time, ``basePath`` naming this server;
* every ARI operation those documents define, routed as Asterisk routes
  (404 ``Resource not found``, 405 ``Invalid method``), behind Basic auth
  or ``api_key`` (401 ``Authentication required``), each request checked
  against the documents (:mod:`tests.fakes.ari_docs`); the operations the
  hotline needs answer as Asterisk does (:mod:`tests.fakes.ari_rest`) from
  a small model of channels, bridges and playbacks
  (:mod:`tests.fakes.ari_asterisk`), others with 501;
* ``/ari/events?app=...`` — the event websocket (401 / 400 refusals like
  Asterisk's; a second socket for an app replaces the first, which gets
  ``ApplicationReplaced``).

Every request lands in :attr:`FakeAsterisk.requests` with its status and
the api-docs *violations* found in it; :meth:`FakeAsterisk.violations` lists
the ones not sent on purpose inside :meth:`FakeAsterisk.refusals_expected`,
so a test fails when code sends what a real Asterisk would refuse or
silently misread. A long run (``bench/ari.py``) can keep only the
violations (``history=False``) and follow events and requests as they
happen instead (:meth:`FakeAsterisk.on_event`,
:meth:`FakeAsterisk.on_request`). Control methods play the far side:
start an inbound call, press keys, answer or fail an originated call with
a hang-up cause, hang up a caller, finish a prompt; the set-up: sounds, endpoints, a module
not loaded; and the faults: drop the websockets,
stop, start, restart (losing all state, as Asterisk does), delay, hold or
fail the next request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import uvicorn

from tests.fakes.ari_asterisk import (
    DEFAULT_MODULES,
    DEFAULT_SOUNDS,
    ENDPOINT_STATES,
    LAB_DIALPLAN,
    Args,
    Asterisk,
    Behaviour,
    Phone,
    Refusal,
    now_text,
)
from tests.fakes.ari_docs import API_DOCS, ApiDocs, NotRouted, Op, check
from tests.fakes.ari_rest import HANDLERS


class _RefusedUpgrade(logging.Filter):
    """uvicorn's sans-I/O websocket logs an upgrade answered with plain HTTP (our 401
    and 400, as Asterisk answers them) as an error; it is what we mean to do."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_RefusedUpgrade())

USERNAME = "hotline"
PASSWORD = "hotline-secret"
APP = "hotline"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class RecordedRequest:
    """One request as the fake saw and answered it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any = None
    operation: str | None = None
    status: int = 0
    response: Any = None
    problems: list[str] = field(default_factory=list)
    """Why a real Asterisk would refuse or misread it; empty when it conforms."""
    deliberate: bool = False
    received_at: float = field(default_factory=time.monotonic)
    """When it had arrived whole (``time.monotonic()``), for latencies measured to it."""


EventListener = Callable[[str, dict[str, Any]], None]
"""Told of each event as it is queued for a websocket: (application, event)."""
RequestListener = Callable[[RecordedRequest], None]
"""Told of each REST request once it is answered."""


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A call from the caller's phone: ``channel_id`` is the half in our Stasis application."""

    channel_id: str
    caller_channel_id: str
    entered: bool
    """False when no websocket served the application: the call failed unseen."""


@dataclass(eq=False)
class _Fault:
    operation: str | None
    times: int
    delay: float = 0.0
    gate: asyncio.Event | None = None
    status: int | None = None
    message: str = ""


@dataclass(eq=False)
class _Socket:
    apps: list[str]
    send: Send
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class FakeAsterisk:
    """The server and its control surface; see the module docstring."""

    def __init__(
        self,
        *,
        username: str = USERNAME,
        password: str = PASSWORD,
        api_docs: ApiDocs | None = None,
        time_scale: float = 1.0,
        technologies: Iterable[str] = ("Local", "PJSIP"),
        dialplan: Mapping[tuple[str, str], Behaviour] | None = None,
        devices: Mapping[str, Phone] | None = None,
        sounds: Mapping[str, float | None] | None = None,
        sounds_dir: Path | None = None,
        endpoints: Mapping[str, str] | None = None,
        history: bool = True,
    ) -> None:
        """*sounds_dir*: Asterisk's sounds directory, whose files play as well as *sounds*.
        *history* False keeps no event history and, of the requests, only those with
        violations: a long run's memory and time stay flat."""
        self.username = username
        self.password = password
        self.docs = api_docs or ApiDocs(API_DOCS)
        self.time_scale = time_scale
        self.technologies = tuple(technologies)
        self.dialplan = dict(LAB_DIALPLAN if dialplan is None else dialplan)
        self.devices = dict(devices or {})
        self.sounds = dict(DEFAULT_SOUNDS if sounds is None else sounds)
        self.sounds_dir = sounds_dir
        self.modules = dict(DEFAULT_MODULES)
        self.endpoints = dict(endpoints or {})
        self.requests: list[RecordedRequest] = []
        self.events_sent: list[tuple[str, dict[str, Any]]] = []
        """Every event written to a websocket, as (application, event)."""
        self.websocket_connections = 0
        self.history = history
        self._event_listeners: list[EventListener] = []
        self._request_listeners: list[RequestListener] = []
        self._faults: list[_Fault] = []
        self._deliberate = False
        self._active: dict[str, _Socket] = {}
        self._sockets: set[_Socket] = set()
        self._server: uvicorn.Server | None = None
        self._port = 0
        self._epoch = int(time.time())
        self._changed = asyncio.Event()
        self.model = self._boot()

    # -- life cycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Asterisk's HTTP server, as ``[provider.ari] url`` names it."""
        return f"http://127.0.0.1:{self._port}"

    async def __aenter__(self) -> FakeAsterisk:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _boot(self) -> Asterisk:
        return Asterisk(
            emit=self._deliver,
            is_active=lambda app: app in self._active,
            time_scale=self.time_scale,
            technologies=self.technologies,
            dialplan=self.dialplan,
            devices=self.devices,
            sounds=self.sounds,
            sounds_dir=self.sounds_dir,
            epoch=self._epoch,
            modules=self.modules,
            endpoints=self.endpoints,
        )

    async def start(self) -> None:
        """Listen (on the same port again after a stop)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit it; without it every answer waits for a delayed ACK
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind(("127.0.0.1", self._port))
        listener.listen(128)
        listener.setblocking(False)
        self._port = listener.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            lifespan="off",
            interface="asgi3",
            log_level="error",  # an exception in the fake shows; see _RefusedUpgrade
            access_log=False,
            ws="websockets-sansio",
            ws_ping_interval=None,
            # Asterisk's websocket takes no extension: its 101 names none (traces 00, 07), so
            # every event crosses uncompressed whatever the client offers.
            ws_per_message_deflate=False,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[listener])
        self._server = server

    async def stop(self) -> None:
        """Go away at once, like a crashed Asterisk: connections are cut, not closed."""
        server, self._server = self._server, None
        if server is None:
            return
        for listening in server.servers:
            listening.close()
        for sock in list(self._sockets):
            self._unregister(sock)
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        tasks = list(server.server_state.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for listening in server.servers:
            await listening.wait_closed()
        self.model.shutdown()

    async def restart(self) -> None:
        """Asterisk restarts: every connection cut, every channel, bridge and playback
        forgotten, channel ids from a new epoch."""
        await self.stop()
        self._epoch = max(int(time.time()), self._epoch + 1)
        self.model = self._boot()
        await self.start()

    async def drop_websockets(self) -> None:
        """Close every event websocket; the applications stay registered but inactive."""
        for sock in list(self._sockets):
            self._unregister(sock)
            sock.outbox.put_nowait(None)

    # -- the far side --------------------------------------------------------------------

    async def start_inbound_call(
        self,
        exten: str = "100",
        *,
        number: str = "+358401234567",
        name: str = "",
        context: str = "hotline-in",
    ) -> InboundCall:
        """A caller dials in: ``Local/<exten>@<context>``, its ``;2`` half enters Stasis."""
        caller_id = f'"{name}" <{number}>' if number else name
        args = Args(
            {
                "endpoint": f"Local/{exten}@{context}",
                "context": "caller",
                "extension": exten,
                "callerId": caller_id,
                "timeout": "-1",
            },
            {},
        )
        phone = self.model.originate(args, None)
        await asyncio.sleep(0)  # the dialplan runs on the next turn of the loop
        line = phone.peer
        assert line is not None
        entered = line.id in self.model.channels and line.stasis_app is not None
        return InboundCall(channel_id=line.id, caller_channel_id=phone.id, entered=entered)

    async def press_digits(self, channel_id: str, digits: str, duration_ms: int = 100) -> None:
        """The caller presses keys: one ``ChannelDtmfReceived`` per key."""
        self.model.press(self._channel(channel_id), digits, duration_ms)

    async def hang_up_far_end(self, channel_id: str, cause: int = 16) -> None:
        """The other party hangs up: the caller of an inbound call, an answered advisor."""
        self.model.hang_up_far_end(self._channel(channel_id), cause)

    async def answer_originate(self, channel_id: str, talk: float | None = None) -> None:
        """The dialled phone picks up (and hangs up after *talk* seconds, if given)."""
        channel = self._channel(channel_id)
        if channel.created_by_ari:
            self.model.answer_created(channel, talk)
        else:
            self.model.answer_dialled(channel, talk)

    async def fail_originate(self, channel_id: str, cause: int) -> None:
        """The dialled phone refuses: 17 busy, 19 no answer, 21 rejected, 34 congestion..."""
        self.model.fail(self._channel(channel_id), cause)

    def add_sound(self, name: str, seconds: float | None = None) -> None:
        """A sound file Asterisk has (``sound:<name>``); None: it plays until stopped or
        finished by the test. It survives a restart, as files do."""
        self.sounds[name] = seconds
        self.model.sounds[name] = seconds

    def unload_module(self, name: str) -> None:
        """Asterisk runs without module *name* (``app_amd.so`` declines to load without
        ``amd.conf``); it stays so across a restart, as the missing file would."""
        self.modules.pop(name, None)
        self.model.modules.pop(name, None)

    def add_endpoint(self, name: str, state: str = "online") -> None:
        """An endpoint Asterisk has configured (``PJSIP/advisor-12`` in pjsip.conf): online
        while its phone is registered, offline when not. It survives a restart."""
        if state not in ENDPOINT_STATES:
            raise ValueError(f"endpoint state {state!r} is not one of {ENDPOINT_STATES}")
        self.endpoints[name] = state
        self.model.endpoints[name] = state

    async def push_event(self, event: Mapping[str, Any], app: str = APP) -> None:
        """Send *event* as it is (``type`` and fields; envelope added) to *app*'s websocket:
        for event types or shapes the model never produces."""
        self._deliver([app], {"timestamp": now_text(), **event})

    async def push_message(self, text: str, app: str = APP) -> None:
        """Send raw text, JSON or not, to *app*'s websocket."""
        sock = self._active.get(app)
        if sock is not None:
            sock.outbox.put_nowait(text)

    async def finish_playback(self, playback_id: str) -> None:
        """The prompt plays to its end (every remaining media item)."""
        playback = self.model.playbacks.get(playback_id)
        while playback is not None and playback.id in self.model.playbacks:
            if playback.state == "queued":
                raise AssertionError(f"playback {playback_id} has not started")
            self.model.media_ended(playback)

    def _channel(self, channel_id: str) -> Any:
        channel = self.model.channels.get(channel_id)
        if channel is None:
            raise AssertionError(f"the fake Asterisk has no channel {channel_id}")
        return channel

    # -- faults and the record -----------------------------------------------------------

    def fail_next(
        self,
        operation: str | None = None,
        *,
        status: int = 500,
        message: str = "Internal Server Error",
        times: int = 1,
    ) -> None:
        """The next request for *operation* (``channels.answer``; None: any) is refused."""
        self._faults.append(_Fault(operation, times, status=status, message=message))

    def delay_next(self, operation: str | None = None, *, seconds: float, times: int = 1) -> None:
        self._faults.append(_Fault(operation, times, delay=seconds))

    def hold_next(self, operation: str | None = None, *, times: int = 1) -> asyncio.Event:
        """The next request waits until the returned event is set."""
        gate = asyncio.Event()
        self._faults.append(_Fault(operation, times, gate=gate))
        return gate

    @contextlib.contextmanager
    def refusals_expected(self) -> Iterator[None]:
        """Requests sent inside are bad on purpose: their violations are not counted."""
        self._deliberate = True
        try:
            yield
        finally:
            self._deliberate = False

    def violations(self) -> list[RecordedRequest]:
        """Requests a real Asterisk would refuse or misread, not sent on purpose."""
        return [r for r in self.requests if r.problems and not r.deliberate]

    def sent(self, app: str = APP) -> list[dict[str, Any]]:
        """The events written to *app*'s websockets, in order."""
        return [event for name, event in self.events_sent if name == app]

    def on_event(self, listener: EventListener) -> None:
        """Call *listener* with every event as it is queued for an application's websocket."""
        self._event_listeners.append(listener)

    def on_request(self, listener: RequestListener) -> None:
        """Call *listener* with every REST request once it is answered (its ``received_at``
        says when it arrived)."""
        self._request_listeners.append(listener)

    def is_connected(self, app: str = APP) -> bool:
        return app in self._active

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 2.0) -> None:
        """Wait until *condition* holds; it is checked whenever the fake's state changes."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def _touch(self) -> None:
        self._changed.set()

    # -- websocket -----------------------------------------------------------------------

    def _deliver(self, apps: Iterable[str], event: dict[str, Any]) -> None:
        for app in sorted(set(apps)):
            sock = self._active.get(app)
            if sock is None:
                continue  # nobody listening: lost, as on a real Asterisk
            message = {**event, "asterisk_id": self.model.entity_id, "application": app}
            if self.history:
                self.events_sent.append((app, message))
            sock.outbox.put_nowait(json.dumps(message))
            for listener in self._event_listeners:
                listener(app, message)
        self._touch()

    def _register(self, sock: _Socket) -> None:
        self._sockets.add(sock)
        self.websocket_connections += 1
        for app in sock.apps:
            previous = self._active.get(app)
            if previous is not None:
                replaced = {
                    "type": "ApplicationReplaced",
                    "timestamp": now_text(),
                    "asterisk_id": self.model.entity_id,
                    "application": app,
                }
                self.events_sent.append((app, replaced))
                previous.outbox.put_nowait(json.dumps(replaced))
            self._active[app] = sock
            self.model.registered.add(app)
        self._touch()

    def _unregister(self, sock: _Socket) -> None:
        self._sockets.discard(sock)
        for app in sock.apps:
            if self._active.get(app) is sock:
                del self._active[app]
        self._touch()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        query = dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
        headers = _headers(scope)
        record = RecordedRequest("GET", scope["path"], query, deliberate=self._deliberate)
        self.requests.append(record)
        routed = self.docs.route("GET", scope["path"].removeprefix("/ari/").split("/"))
        if isinstance(routed, NotRouted) or not routed.op.websocket:
            record.status = 404
            record.problems.append(f"no websocket at {scope['path']}")
            await _deny(send, 404, {"message": "Resource not found"})
            return
        record.operation = routed.op.name
        values = {k: v for k, v in query.items() if k != "api_key"}
        record.problems.extend(check(routed.op, values, None))
        if not self._authorised(headers, query):
            record.status = 401
            await _deny(send, 401, {"message": "Authentication required"}, challenge=True)
            return
        apps = [a for a in query.get("app", "").split(",") if a]
        if not apps:
            record.status = 400
            await _deny(send, 400, None)
            return
        record.status = 101
        await send({"type": "websocket.accept"})
        sock = _Socket(apps=apps, send=send)
        self._register(sock)
        pump = asyncio.create_task(self._pump(sock))
        try:
            while (await receive())["type"] != "websocket.disconnect":
                pass
        finally:
            self._unregister(sock)
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump(self, sock: _Socket) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            while (text := await sock.outbox.get()) is not None:
                await sock.send({"type": "websocket.send", "text": text})
            await sock.send({"type": "websocket.close", "code": 1001})

    # -- HTTP ----------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
        record = RecordedRequest(
            method=scope["method"],
            path=scope["raw_path"].decode(),
            query=query,
            deliberate=self._deliberate,
        )
        if self.history:
            self.requests.append(record)
        status, body, extra = await self._answer(scope, raw, query, record)
        record.status, record.response = status, body
        if record.problems and not self.history:
            self.requests.append(record)
        for listener in self._request_listeners:
            listener(record)
        self._touch()
        headers = [(b"server", b"Asterisk/22.10.1"), *extra]
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(
        self, scope: Scope, raw: bytes, query: dict[str, str], record: RecordedRequest
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        headers = _headers(scope)
        path = scope["raw_path"].decode().split("?", 1)[0]
        if not path.startswith("/ari/"):
            record.problems.append("not under /ari")
            return 404, {"message": "Not found"}, []
        if not self._authorised(headers, query):
            challenge = [(b"www-authenticate", b'Basic realm="Asterisk REST Interface"')]
            return 401, {"message": "Authentication required"}, challenge
        segments = [unquote(s) for s in path[len("/ari/") :].split("/")]
        method = scope["method"]
        if segments[0] == "api-docs":
            return self._api_docs(method, segments, headers, record)
        body, refusal = _body(raw, headers.get("content-type", ""))
        record.body = body
        if refusal is not None:
            record.problems.append("request body is not JSON")
            return 400, {"message": refusal}, []
        routed = self.docs.route(method, segments)
        if isinstance(routed, NotRouted):
            record.problems.append(f"{method} {path}: {routed.message}")
            return routed.status, {"message": routed.message}, []
        op = routed.op
        record.operation = op.name
        values = {k: v for k, v in query.items() if k != "api_key"}
        if isinstance(body, dict):
            for name, value in body.items():
                param = op.params.get(name)
                if param is not None and param.kind == "query":
                    values[name] = _as_text(value)
        record.problems.extend(check(op, values, body if isinstance(body, dict) else None))
        self._touch()  # a test may wait for this request to arrive
        forced = await self._apply_faults(op)
        if forced is not None:
            return forced[0], {"message": forced[1]}, []
        handler = HANDLERS.get(op.name)
        if handler is None:
            record.problems.append(f"{op.name} is not modelled by the fake Asterisk")
            return 501, {"message": f"{op.name} is not modelled by the fake Asterisk"}, []
        missing = [
            p.name
            for p in op.params.values()
            if p.required
            and p.kind == "query"
            and p.name not in values
            and p.name not in handler.checks
        ]
        if missing:
            return 400, {"message": f"Missing parameter {missing[0]}"}, []
        variables = body.get("variables") if isinstance(body, dict) else None
        args = Args(
            values,
            routed.path_params,
            {str(k): str(v) for k, v in variables.items()} if isinstance(variables, dict) else None,
            received_at=record.received_at,
        )
        try:
            reply = handler.run(self.model, args)
        except Refusal as refusal_:
            if refusal_.malformed:
                record.problems.append(f"refused: {refusal_.message}")
            return refusal_.status, {refusal_.key: refusal_.message}, []
        return reply.status, reply.body, []

    def _api_docs(
        self, method: str, segments: list[str], headers: Mapping[str, str], record: RecordedRequest
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if method != "GET":
            record.problems.append("api-docs are GET only")
            return 405, {"message": "Unsupported method"}, []
        host = headers.get("host", f"127.0.0.1:{self._port}")
        document = self.docs.document("/".join(segments[1:]), f"http://{host}/ari")
        if document is None:
            record.problems.append("no such api-docs document")
            return 404, {"message": "Resource not found"}, []
        return 200, document, []

    async def _apply_faults(self, op: Op) -> tuple[int, str] | None:
        """Delay, hold or refuse this request if a fault waits for it."""
        for fault in self._faults:
            if fault.operation not in (None, op.name):
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.gate is not None:
                await fault.gate.wait()
            if fault.status is not None:
                return fault.status, fault.message
            return None
        return None

    def _authorised(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        """Basic auth first, then ``?api_key=user:pass`` (res_ari.c ``authenticate_user``)."""
        credentials = None
        header = headers.get("authorization", "")
        if header.lower().startswith("basic "):
            with contextlib.suppress(ValueError):
                credentials = base64.b64decode(header[6:]).decode()
        elif "api_key" in query:
            credentials = query["api_key"]
        return credentials == f"{self.username}:{self.password}"


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode().lower(): v.decode() for k, v in scope["headers"]}


def _body(raw: bytes, content_type: str) -> tuple[Any, str | None]:
    """The JSON body (an object, or None), or Asterisk's refusal of an unparsable one."""
    if not raw.strip():
        return None, None
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode(), keep_blank_values=True)), None
    if not content_type.startswith("application/json"):
        return None, None
    try:
        body = json.loads(raw)
    except ValueError:
        return None, "Error parsing request body"
    # a JSON body that is not an object is ignored (trace 06)
    return (body if isinstance(body, dict) else None), None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_as_text(v) for v in value)
    return str(value)


async def _deny(send: Send, status: int, body: Any, *, challenge: bool = False) -> None:
    """Refuse a websocket upgrade with a plain HTTP answer, as Asterisk does."""
    if body is None:
        payload = (
            b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n'
            b"<title>400 Bad Request</title>\r\n</head><body>\r\n<h1>Bad Request</h1>\r\n"
            b"<p>HTTP request is missing param: [app]</p>\r\n</body></html>\r\n"
        )
        content_type = b"text/html"
    else:
        payload = json.dumps(body).encode()
        content_type = b"application/json"
    headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
    if challenge:
        headers.append((b"www-authenticate", b'Basic realm="Asterisk REST Interface"'))
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": payload})
