"""What every command shares: ``--config``, logging, clear errors, the database."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog

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
            click.echo(
                f"error: configuration {exc.source} has {len(exc.problems)} problem(s):", err=True
            )
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


def shown_url(url: str) -> str:
    return printable_url(url)
