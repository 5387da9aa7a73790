"""Running the line's HTTP apps under uvicorn: one way, for ``callflow serve`` and ``callflow web``.

Both commands serve the same app with the same limits of ``[web]`` (header size,
idle connections, connections at once) and, when ``[web]`` gives ``/metrics`` an
address of its own, a second server in the same process for it, started and
stopped with the first. Sockets are bound before uvicorn starts (and before the
database is opened), so a taken port is a clear error and ``--port 0`` can say
which port it took. ``serve`` also runs the line on the same event loop (*beside*
of :func:`serve_apps`): the Asterisk adapter beside the app, or the simulated
line alone, with no app at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import click
import structlog

from callflow.config.models import WebConfig

log = structlog.get_logger("callflow")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True, slots=True)
class Listening:
    """The bound sockets of the line's app and, when ``[web]`` gives one, of ``/metrics``."""

    api: socket.socket
    metrics: socket.socket | None

    def urls(self) -> dict[str, str]:
        """Where they serve, for the log line that says they have started."""
        api = _url_of(self.api)
        return {"url": api, "metrics_url": _url_of(self.metrics or self.api) + "/metrics"}


@contextlib.contextmanager
def listening(host: str, port: int, web: WebConfig) -> Iterator[Listening]:
    """The app's socket on *host*:*port* and ``/metrics``'s own, when ``[web]`` gives one."""
    with contextlib.ExitStack() as sockets:
        api = sockets.enter_context(listen(host, port))
        metrics = None
        if web.metrics_host is not None and web.metrics_port is not None:
            metrics = sockets.enter_context(listen(web.metrics_host, web.metrics_port))
        yield Listening(api, metrics)


def serve_apps(
    served: Sequence[tuple[Any, socket.socket]],
    web: WebConfig,
    log_level: str,
    *,
    announce: Callable[[], None],
    beside: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Each app of *served* under uvicorn on its socket, and *beside* on the same event
    loop, until Ctrl-C or SIGTERM; or until one of them ends (the others are then
    stopped), *beside*'s error then being the command's. *announce* says it has started,
    once Ctrl-C would stop it gracefully. With no app, the stop signal cancels *beside*."""
    servers = [(_uvicorn_server(app, web, log_level), sock) for app, sock in served]
    signalled: list[int] = []
    companions: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[None]]] = []

    async def serve() -> None:
        running = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
        companion = asyncio.create_task(beside()) if beside is not None else None
        if companion is not None:
            companions.append((asyncio.get_running_loop(), companion))
            if signalled and not servers:  # stopped before it started
                companion.cancel()
        try:
            await asyncio.wait(
                [*running, *([companion] if companion else [])],
                return_when=asyncio.FIRST_COMPLETED,
            )
            for server, _ in servers:
                server.should_exit = True
            await asyncio.gather(*running)
        finally:
            if companion is not None:
                companion.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await companion

    def stop(signum: int, frame: FrameType | None) -> None:
        signalled.append(signum)
        for server, _ in servers:
            server.handle_exit(signum, frame)
        if not servers:  # no server to stop first: the line alone is stopped
            for loop, companion in companions:
                loop.call_soon_threadsafe(companion.cancel)

    # Each server takes the stop signals while it serves and raises them again once it
    # has shut down, for the handler it found: the next server's, and last this one, so
    # the signal lands on servers already stopped instead of killing the process before
    # the database is closed and the stop is logged.
    previous = {n: signal.signal(n, stop) for n in STOP_SIGNALS}
    try:
        announce()
        asyncio.run(serve())
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


GRACEFUL_SHUTDOWN_S = 3
"""Seconds a stopping server waits for open connections before it closes them."""


def _uvicorn_server(app: Any, web: WebConfig, log_level: str) -> Any:
    """uvicorn serving *app* with its limits from ``[web]``; ``max_connections`` bounds
    what slow clients can hold. uvicorn has no timeout for reading a request's headers:
    in production a reverse proxy with a header timeout (e.g. nginx
    ``client_header_timeout``) must sit in front of callflow."""
    # The web stack loads only here: the simulated line need not wait for it.
    import uvicorn  # noqa: PLC0415

    config = uvicorn.Config(
        app,
        log_config=None,  # our log lines are JSON; per-request lines would repeat /metrics
        log_level=log_level,
        access_log=False,
        http="h11",  # the implementation whose header limit is set here
        h11_max_incomplete_event_size=web.max_header_bytes,
        timeout_keep_alive=math.ceil(web.keep_alive.total_seconds()),
        limit_concurrency=web.max_connections,
        # A live page's stream ends when the server is told to stop; one that was not
        # told (the line ended by itself) must not hold the stop up for good.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return uvicorn.Server(config)


def _url_of(listening: socket.socket) -> str:
    host, port = listening.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound first so a taken port is a clear error, not uvicorn's exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Named TCP, asyncio sets TCP_NODELAY on every connection it accepts: without it, an
    # answer on a kept-alive connection waits ~40 ms for the client's delayed ACK (Nagle).
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
        listening.listen()
    except OSError as exc:
        listening.close()
        raise click.ClickException(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}"
        ) from exc
    return listening
