"""Finding, reading and checking the configuration file.

Every command takes ``--config FILE``; without it ``$CALLFLOW_CONFIG``, and
without that ``config/hotline.toml``. Relative paths inside the file resolve
against the file's own folder, so the line behaves the same from any
working directory. Secrets never live in the file: they come from the
environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from callflow.config.check import parse_text
from callflow.config.database_url import database_url_problem, printable_url
from callflow.config.layers import rules_in_force
from callflow.config.models import HotlineConfig
from callflow.config.rules import DATABASE_ENV
from callflow.errors import ConfigError, Problem

DEFAULT_CONFIG = Path("config/hotline.toml")
CONFIG_ENV = "CALLFLOW_CONFIG"


def config_path(option: str | Path | None) -> Path:
    """The file to read: the option, else ``$CALLFLOW_CONFIG``, else the default."""
    if option:
        return Path(option)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG


def load_config(path: str | Path) -> HotlineConfig:
    """Read and check *path*; raise :class:`ConfigError` listing every problem."""
    return checked(Path(path), read_file(path))


def read_file(path: str | Path) -> dict[str, Any]:
    """*path* as TOML reads it, unchecked (the baseline the stored settings are laid
    over); :class:`ConfigError` when it cannot be read or parsed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path),
            [
                Problem(
                    "file",
                    str(path),
                    f"not found; pass --config FILE or set {CONFIG_ENV} "
                    f"(working directory: {Path.cwd()})",
                )
            ],
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            str(path), [Problem("file", str(path), f"cannot be read: {exc}")]
        ) from exc
    raw, problem = parse_text(text)
    if raw is None:
        raise ConfigError(str(path), [problem] if problem else [])
    return raw


def checked(
    path: Path, raw_file: Mapping[str, Any], settings: Mapping[str, Any] | None = None
) -> HotlineConfig:
    """The configuration of the file at *path* (read as *raw_file*) with the stored
    *settings* laid over it; :class:`ConfigError` listing every problem."""
    config, problems = rules_in_force(raw_file, settings or {})
    if config is None:
        raise ConfigError(str(path), problems)
    return config.model_copy(update={"source": path.resolve()})


def data_dir(config: HotlineConfig) -> Path:
    """The data directory, relative paths taken from the config file's folder."""
    base = config.source.parent if config.source else Path.cwd()
    return (base / config.line.data_dir).resolve()


def database_url(config: HotlineConfig, override: str | None = None) -> str:
    """The database to use: an explicit *override* (``--database-url``),
    ``$CALLFLOW_DATABASE_URL``, the file's ``line.database_url``, or a SQLite file in the
    data directory. A URL that cannot be read is a :class:`ConfigError` naming where it
    came from, the URL shown with its password hidden."""
    settings = (
        ("--database-url", override),
        (f"${DATABASE_ENV}", os.environ.get(DATABASE_ENV)),
        ("line.database_url", config.line.database_url),
    )
    for setting, candidate in settings:
        if not candidate:
            continue
        problem = database_url_problem(candidate)
        if problem is not None:
            shown = printable_url(candidate)
            raise ConfigError(setting, [Problem(setting, shown, problem)])
        return candidate
    return f"sqlite:///{data_dir(config) / 'callflow.sqlite3'}"


__all__ = [
    "DATABASE_ENV",
    "checked",
    "config_path",
    "data_dir",
    "database_url",
    "load_config",
    "read_file",
]
