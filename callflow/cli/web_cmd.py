"""``callflow web``: the advisor API, the admin API, ``/metrics`` and ``/health`` over HTTP.

One process serves the app with uvicorn; run more behind a proxy for more
throughput (the state is all in the database, metrics included). The socket
is bound before the server starts, so ``--port 0`` takes a free port and the
``web.started`` log line says which. With ``[web] metrics_host`` and
``metrics_port``, ``/metrics`` is served on that address instead, by a second
server in the same process.
"""

from __future__ import annotations

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
from callflow.cli.http_server import listen, listen_metrics, serve_app
from callflow.config.load import database_url as configured_url
from callflow.engine.clock import SystemClock

log = structlog.get_logger("callflow.web")


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
    from callflow.web.app import create_app  # noqa: PLC0415

    config = load(config_file, log_level)
    with listen(host, port) as listening, listen_metrics(config.web) as metrics_listening:
        database = open_database(config, database_url)
        try:
            clock = SystemClock()
            app = create_app(config, database, clock=clock)
            serve_app(
                app, listening, metrics_listening, config, database, clock, log_level,
                started="web.started",
                facts={"database": shown_url(configured_url(config, database_url))},
            )  # fmt: skip
        finally:
            database.close()
    log.info("web.stopped")
