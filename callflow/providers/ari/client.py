"""A thin asynchronous ARI client: REST over HTTP/1.1 keep-alive connections, events over one
websocket.

::

    async with AriClient("http://127.0.0.1:8088", "hotline", password, "hotline") as ari:
        events = ari.events.subscribe()
        asyncio.create_task(ari.events.run(on_connected=resync))
        async for event in events:
            match event:
                case StasisStart(channel=channel):
                    await ari.channels.answer(channel.id)

Refusals become callflow's errors: a channel that hung up between its
event and our request is :class:`ChannelGone` (404, or "not in Stasis
application"), an ended playback :class:`PlaybackGone`, any other refusal
:class:`ProviderRejected` with Asterisk's status and message, and an
unreachable, slow or unready Asterisk :class:`ProviderUnavailable`. Every
request and the websocket go to the configured URL only (no redirects are
followed, ids are quoted whole into their path segment); the password
travels in the Basic ``Authorization`` header, never in a URL, and is
never logged. The client knows nothing of calls or the engine.

REST goes through :mod:`~callflow.providers.ari.http`, not a general HTTP
client: a line under load sends a request for nearly every event, and the
general pool's bookkeeping cost more than the requests themselves.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random as random_module
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from callflow.errors import (
    ChannelGone,
    PlaybackGone,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from callflow.providers.ari.http import Connections, HttpFailed, Reply
from callflow.providers.ari.models import Snapshot
from callflow.providers.ari.resources import (
    ApiDocs,
    Applications,
    Asterisk,
    Bridges,
    Channels,
    Operation,
    ParamValue,
    Playbacks,
)
from callflow.providers.ari.stream import Backoff, EventStream

CHANNEL_GONE_MESSAGES = frozenset(
    {
        "Channel not found",
        "Provided channel was not found",
        "Channel not in Stasis application",
        "Callee not found",
        "Channel cannot be found.",
    }
)
"""Asterisk's words for "that channel is no longer yours" (404, 409, and 400/422 on bridges)."""

PLAYBACK_GONE_MESSAGES = frozenset({"Playback not found"})


class AriClient:
    """One Asterisk, one Stasis application: ``channels``, ``bridges``, ``playbacks``,
    ``asterisk``, ``applications``, ``api_docs`` and the ``events`` stream.

    *url* is Asterisk's HTTP server (``http://127.0.0.1:8088``; a trailing
    ``/ari`` is accepted). *timeout* bounds each REST request in seconds;
    *max_connections* bounds concurrent requests (Asterisk's http.conf
    ``sessionlimit`` defaults to 100, the websocket included). *backoff*
    paces reconnection; *sleep*, *clock* and *random* are for tests.
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        app: str,
        *,
        subscribe_all: bool = False,
        timeout: float = 5.0,
        max_connections: int = 50,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random_module.random,
    ) -> None:
        if not app:
            raise ValueError("an ARI client needs the name of its Stasis application")
        self.base_url = _ari_base(url)
        self.app = app
        self.username = username
        authorization = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._base_path = urlsplit(self.base_url).path
        self._http = Connections(
            self.base_url,
            [("Authorization", authorization)],
            timeout=timeout,
            max_connections=max_connections,
        )
        self.channels = Channels(self)
        self.bridges = Bridges(self)
        self.playbacks = Playbacks(self)
        self.asterisk = Asterisk(self)
        self.applications = Applications(self)
        self.api_docs = ApiDocs(self)
        self.events = EventStream(
            url=_events_url(self.base_url, app, subscribe_all),
            authorization=authorization,
            backoff=backoff,
            sleep=sleep,
            clock=clock,
            random=random,
        )

    def __repr__(self) -> str:
        return f"AriClient({self.base_url!r}, user={self.username!r}, app={self.app!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the event stream (handlers finish) and the HTTP connections."""
        await self.events.aclose()
        await self._http.aclose()

    async def snapshot(self) -> Snapshot:
        """All channels and bridges, read side by side: what a resync compares against."""
        channels, bridges = await asyncio.gather(self.channels.list(), self.bridges.list())
        return Snapshot(channels=channels, bridges=bridges)

    # -- REST ----------------------------------------------------------------------------

    async def call(
        self,
        operation: Operation,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, ParamValue] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one operation; the decoded JSON answer, or None for 204 (and for a 404 the
        operation declares as "absent")."""
        target = self._base_path + _expand(operation, path or {})
        params = _query(operation, query or {})
        if params:
            target += "?" + urlencode(params)
        payload = None
        if body is not None:
            unknown = set(body) - set(operation.body)
            if unknown:
                raise ValueError(f"{operation} takes no body field {sorted(unknown)}")
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        response = await self._send(operation, target, payload)
        if response.status < 400:
            return _json(response, operation) if response.status != 204 else None
        message = _message(response)
        if response.status == 404 and operation.absent and message == operation.absent:
            return None
        raise _refusal(operation, response.status, message)

    async def get_document(self, name: str) -> Any:
        """One of the server's api-docs (``resources.json``, ``channels.json``)."""
        operation = Operation("api-docs", name, "GET", f"/api-docs/{name}")
        target = f"{self._base_path}api-docs/{quote(name, safe='')}"
        response = await self._send(operation, target, None)
        if response.status >= 400:
            raise _refusal(operation, response.status, _message(response))
        return _json(response, operation)

    async def _send(self, operation: Operation, target: str, body: bytes | None) -> Reply:
        try:
            return await self._http.request(
                operation.method, target, body, content_type="application/json"
            )
        except HttpFailed as exc:
            raise ProviderUnavailable(
                f"Asterisk at {self.base_url} did not answer {operation}: {exc}"
            ) from exc


def _ari_base(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Asterisk's URL must be http(s)://host[:port], got {url!r}")
    if parts.username or parts.password:
        raise ValueError("put the ARI credentials in the config and ARI_PASSWORD, not the URL")
    path = parts.path.rstrip("/")
    if not path.endswith("/ari"):
        path += "/ari"
    return urlunsplit((parts.scheme, parts.netloc, path + "/", "", ""))


def _events_url(base_url: str, app: str, subscribe_all: bool) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = urlencode({"app": app, "subscribeAll": "true" if subscribe_all else "false"})
    return urlunsplit((scheme, parts.netloc, parts.path + "events", query, ""))


def _expand(operation: Operation, path: Mapping[str, str]) -> str:
    url = operation.path
    for name, value in path.items():
        if not value:
            raise ValueError(f"{operation}: {name} must not be empty")
        # quoted whole, so an id can never reach another path (or host)
        url = url.replace("{" + name + "}", quote(value, safe=""))
    if "{" in url:
        raise ValueError(f"{operation}: missing path parameter in {url}")
    return url.lstrip("/")


def _query(operation: Operation, query: Mapping[str, ParamValue]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in query.items():
        if value is None:
            continue
        if name not in operation.query:
            raise ValueError(f"{operation} takes no parameter {name!r}")
        params[name] = _wire(value)
    return params


def _wire(value: str | int | bool | Sequence[str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    return ",".join(value)


def _json(response: Reply, operation: Operation) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(
            f"Asterisk answered {operation} with {response.status} and a body that is not JSON"
        ) from exc


def _message(response: Reply) -> str:
    """Asterisk's reason: ``{"message": ...}``, or ``{"error": ...}`` for its 500s."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or f"HTTP {response.status}"
    if isinstance(body, dict):
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return response.reason or f"HTTP {response.status}"


def _refusal(operation: Operation, status: int, message: str) -> ProviderError:
    where = str(operation)
    if status == 503:
        return ProviderUnavailable(f"Asterisk is not ready for {where}: {message}")
    if message in CHANNEL_GONE_MESSAGES or (status == 404 and "{channelId}" in operation.path):
        return ChannelGone("ari", status, message, operation=where)
    if message in PLAYBACK_GONE_MESSAGES or (status == 404 and "{playbackId}" in operation.path):
        return PlaybackGone("ari", status, message, operation=where)
    return ProviderRejected("ari", status, message, operation=where)
