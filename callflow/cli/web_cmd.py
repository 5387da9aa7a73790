"""``callflow web``: the advisor API, the admin API, ``/metrics`` and ``/health`` over HTTP.

One process serves the app with uvicorn; run more behind a proxy for more
throughput (the state is all in the database, metrics included). The socket
is bound before the server starts, so ``--port 0`` takes a free port and the
``web.started`` log line says which.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import click
import structlog

from callflow.cli.common import (
    config_option,
    database_option,
    load,
    log_level_option,
    open_database,
    reports_errors,
    shown_url,
)
from callflow.config.load import database_url as configured_url
from callflow.engine.clock import SystemClock

log = structlog.get_logger("callflow.web")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on; 0 takes a free one.",
)
@config_option
@database_option
@log_level_option("info")
@reports_errors
def web(
    host: str, port: int, config_file: Path | None, database_url: str | None, log_level: str
) -> None:
    """Serve the advisor API (OpenAPI at /docs), /metrics and /health.

    Stop with Ctrl-C: requests in progress are finished first.
    """
    # The web stack loads only here: the other commands need not wait for it.
    import uvicorn  # noqa: PLC0415

    from callflow.web.app import create_app  # noqa: PLC0415

    config = load(config_file, log_level)
    with _listen(host, port) as listening:
        database = open_database(config, database_url)
        try:
            app = create_app(config, database, clock=SystemClock())
            # uvicorn's own logging is left unconfigured: our log lines are JSON, and
            # per-request lines would only repeat what /metrics counts.
            server = uvicorn.Server(
                uvicorn.Config(app, log_config=None, log_level=log_level, access_log=False)
            )
            # From the moment we say "started", Ctrl-C or SIGTERM stops the server gracefully,
            # however far its startup has got. uvicorn raises the signal again once stopped,
            # for the handler it found; that is this one again, and the stop is done.
            previous = {n: signal.signal(n, server.handle_exit) for n in STOP_SIGNALS}
            try:
                bound_host, bound_port = listening.getsockname()[:2]
                log.info(
                    "web.started",
                    url=f"http://{_url_host(bound_host)}:{bound_port}",
                    database=shown_url(configured_url(config, database_url)),
                )
                server.run(sockets=[listening])
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
        finally:
            database.close()
    log.info("web.stopped")


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound here so a taken port is a clear error, not uvicorn's exit."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
        listening.listen()  # callers who come before the server is up wait, not bounce
    except OSError as exc:
        listening.close()
        raise click.ClickException(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}"
        ) from exc
    return listening


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
