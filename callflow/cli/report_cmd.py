"""``callflow report``: the line's measures for a period, as a table, CSV, JSON or an HTML page."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from callflow.cli.common import (
    config_option,
    database_option,
    load,
    log_level_option,
    open_database,
    reports_errors,
)
from callflow.cli.times import LocalDate
from callflow.config.load import database_url as configured_url
from callflow.engine.clock import SystemClock
from callflow.reports.kpis import compute_report
from callflow.reports.rollup import rebuild_rollup
from callflow.reports.text import render_csv, render_table

FORMATS = ("table", "csv", "json", "html")


@click.command("report")
@click.option("--from", "start", type=LocalDate(), required=True, help="First local date.")
@click.option("--to", "end", type=LocalDate(), required=True, help="Last local date (included).")
@click.option("--queue", default=None, help="Only this queue (topic) [default: all].")
@config_option
@database_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for a terminal, csv (section,key,measure,value rows), json, or one html page.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
@click.option(
    "--rebuild", is_flag=True, help="Rebuild the report roll-up from the whole event log first."
)
@log_level_option("warning")
@reports_errors
def report(
    start: date,
    end: date,
    queue: str | None,
    config_file: Path | None,
    database_url: str | None,
    output_format: str,
    output: Path | None,
    rebuild: bool,
    log_level: str,
) -> None:
    """The line's measures for local dates FROM..TO, computed by SQL over the event log.

    docs/reference/measures.md defines every figure.
    """
    if output is not None and not output.parent.is_dir():
        raise click.BadParameter(
            f"no folder {output.parent} to write {output.name} in", param_hint="-o"
        )
    if end < start:
        raise click.BadParameter(f"{end} is before --from {start}", param_hint="--to")
    config = load(config_file, log_level)
    if queue is not None and queue not in config.queues:
        raise click.BadParameter(
            f"no queue {queue!r}; the configured ones are {', '.join(config.topic_order)}",
            param_hint="--queue",
        )
    url = make_url(configured_url(config, database_url))
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        # A report never creates a database: a mistyped path would report an empty line.
        raise click.BadParameter(
            f"no database at {url.database}; give the one the line or a simulation wrote to",
            param_hint="--database-url",
        )
    database = open_database(config, database_url)
    try:
        if rebuild:
            rebuild_rollup(database, config)
        figures = compute_report(database, config, start, end, queue=queue, now=SystemClock().now())
    finally:
        database.close()
    text = _render(figures, output_format)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.FileError(str(output), hint=exc.strerror or str(exc)) from exc
    click.echo(f"wrote {output}", err=True)


def _render(figures: dict[str, object], output_format: str) -> str:
    if output_format == "json":
        return json.dumps(figures, ensure_ascii=False, indent=2) + "\n"
    if output_format == "csv":
        return render_csv(figures)
    if output_format == "html":
        # matplotlib takes a second to import: only when a page is asked for.
        from callflow.reports.html import render_html  # noqa: PLC0415

        return render_html(figures)
    return render_table(figures)
