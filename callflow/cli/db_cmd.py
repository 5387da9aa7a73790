"""``callflow db``: the database schema."""

from __future__ import annotations

from pathlib import Path

import click

from callflow.cli.common import (
    config_option,
    database_option,
    load,
    log_level_option,
    reports_errors,
    shown_url,
)
from callflow.config.load import database_url as resolve_database_url
from callflow.store.migrate import current_revision, head_revision, upgrade
from callflow.store.session import Database


@click.group("db")
def db_group() -> None:
    """The database schema."""


@db_group.command("upgrade")
@config_option
@database_option
@log_level_option("info")
@reports_errors
def db_upgrade(config_file: Path | None, database_url: str | None, log_level: str) -> None:
    """Bring the database to the current schema (safe to run again)."""
    config = load(config_file, log_level)
    url = resolve_database_url(config, database_url)
    database = Database.connect(url)
    try:
        before = current_revision(database)
        upgrade(database)
        after = current_revision(database)
    finally:
        database.close()
    change = "already current" if before == after else f"upgraded from {before or 'empty'}"
    click.echo(f"{shown_url(url)}: schema {after} (head {head_revision()}), {change}")
