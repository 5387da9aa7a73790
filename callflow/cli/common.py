"""What every command shares: ``--config``, logging, clear errors, the database."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click
import structlog
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from callflow.config.database_url import printable_url
from callflow.config.load import CONFIG_ENV, DATABASE_ENV, config_path, database_url, load_config
from callflow.config.models import HotlineConfig
from callflow.engine.clock import SystemClock
from callflow.errors import CallflowError, ConfigError
from callflow.logging import LEVELS, configure_logging
from callflow.store.migrate import ensure_current
from callflow.store.queues import sync_queues
from callflow.store.session import Database
from callflow.values.numbers import mask_numbers_in

F = TypeVar("F", bound=Callable[..., Any])

log = structlog.get_logger("callflow.cli")

CHECK_CONNECT_TIMEOUT = "3"
"""Seconds a command that only reads waits to reach PostgreSQL before saying it cannot."""

EXIT_CONFIG = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def config_option(function: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Configuration file [default: ${CONFIG_ENV}, else config/hotline.toml].",
    )(function)


def database_option(function: F) -> F:
    return click.option(
        "--database-url",
        default=None,
        help=f"SQLAlchemy URL [default: ${DATABASE_ENV}, else the file's, else SQLite].",
    )(function)


def log_level_option(default: str) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        return click.option(
            "--log-level",
            type=click.Choice(LEVELS),
            default=default,
            show_default=True,
            help="Least important log lines shown (on stderr).",
        )(function)

    return decorate


def reports_errors(function: F) -> F:
    """Turn errors into a clear message and an exit status, never a raw traceback
    (one could carry a caller's number; the logged one is masked)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except click.ClickException:
            raise  # usage errors: click explains them
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise SystemExit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (`| head`): nothing more to say, and nowhere to say it.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(EXIT_FAILURE) from None
        except ConfigError as exc:
            click.echo(f"error: {exc.headline}", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            raise SystemExit(EXIT_CONFIG) from None
        except CallflowError as exc:
            click.echo(f"error: {mask_numbers_in(str(exc))}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
        except Exception as exc:
            structlog.get_logger("callflow.cli").exception("cli.failed")
            first = mask_numbers_in(str(exc)).splitlines()[0] if str(exc) else ""
            click.echo(f"error: unexpected {type(exc).__name__}: {first}", err=True)
            click.echo("this is a bug in callflow; please report it with the command", err=True)
            raise SystemExit(EXIT_FAILURE) from None

    return wrapper  # type: ignore[return-value]


def load(config_file: Path | None, log_level: str) -> HotlineConfig:
    configure_logging(log_level)
    return load_config(config_path(config_file))


def open_database(config: HotlineConfig, override: str | None) -> Database:
    """Connect, migrate to the current schema, and mirror the configured queues."""
    database = Database.connect(database_url(config, override))
    ensure_current(database)
    with database.transaction() as session:
        sync_queues(session, config, SystemClock().now())
    return database


def with_stored_settings(config: HotlineConfig) -> HotlineConfig:
    """*config* with the settings stored in the line's database laid over it, for the
    commands that work from the line's rules without opening it as the line does:
    ``callflow simulate`` (a rehearsal on a database of its own: a closure stored for
    tomorrow closes a rehearsal of tomorrow too) and ``callflow prompts build`` (a text
    changed live is rendered). Where they cannot be read (no
    database yet, another release's schema, out of reach), the file alone, said once."""
    from callflow.cli.settings_common import read_stored  # noqa: PLC0415 - a cycle
    from callflow.config.layers import baseline_of  # noqa: PLC0415
    from callflow.config.load import checked  # noqa: PLC0415

    read = read_stored(config, None)
    if read.settings is None:
        log.info("settings.not_read", reason=read.why_not, using="the file alone")
        return config
    assert config.source is not None
    return checked(config.source, baseline_of(config), read.settings.values)


def open_to_read(url: str) -> Database | None:
    """The database at *url*, opened to read: a SQLite file read-only (None when it is not
    there: opening it as the line does would create it); PostgreSQL with a short connect
    timeout, so a check does not hang on a host out of reach."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if "connect_timeout" not in parsed.query:
            parsed = parsed.update_query_dict({"connect_timeout": CHECK_CONNECT_TIMEOUT})
        return Database.connect(parsed.render_as_string(hide_password=False))
    path = parsed.database
    if not path or path == ":memory:" or not Path(path).is_file():
        return None
    read_only = parsed.set(database=f"file:{quote(path)}", query={"mode": "ro", "uri": "true"})
    return Database(create_engine(read_only))


def shown_url(url: str) -> str:
    return printable_url(url)
