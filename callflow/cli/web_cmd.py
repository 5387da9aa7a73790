"""``callflow web``: the advisor API, the admin API, ``/metrics`` and ``/health`` over HTTP.

One process serves the app with uvicorn; run more behind a proxy for more
throughput (the state is all in the database, metrics included). The socket
is bound before the server starts, so ``--port 0`` takes a free port and the
``web.started`` log line says which. With ``[web] metrics_host`` and
``metrics_port``, ``/metrics`` is served on that address instead, by a second
server in the same process. On a line whose carrier calls it over HTTP
(Twilio), the app carries its webhooks too (:func:`~callflow.cli.composition.open_web`).
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
    reports_errors,
    shown_url,
)
from callflow.cli.composition import Overrides, choose, open_web
from callflow.cli.http_server import listening, serve_apps
from callflow.config.load import database_url as configured_url

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
    config = load(config_file, log_level)
    overrides = Overrides(database_url=database_url)
    choice = choose(config, overrides)
    shown = shown_url(configured_url(config, database_url))
    with (
        listening(host, port, config.web) as sockets,
        open_web(config, choice, overrides, sockets) as web_apps,
    ):
        serve_apps(
            web_apps.apps,
            config.web,
            log_level,
            announce=lambda: log.info("web.started", **sockets.urls(), database=shown),
            beside=web_apps.run,
        )
    log.info("web.stopped")
