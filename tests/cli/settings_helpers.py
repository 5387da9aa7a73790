"""What the tests of the commands that change the line while it runs share: the command
run as an admin runs it, and what is then in force, read back as a running process reads
it (:meth:`LineRules.load`) and as the store keeps it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner, Result

from callflow.cli import main
from callflow.config.load import CONFIG_ENV, DATABASE_ENV, load_config
from callflow.engine.clock import SystemClock
from callflow.service.rules import LineRules, RulesInForce
from callflow.store.line_settings import LineChangeView, Settings, history, read_settings
from callflow.store.session import Database
from tests.conftest import EXAMPLE_CONFIG

HELSINKI = ZoneInfo("Europe/Helsinki")
EXAMPLE_TEXT = EXAMPLE_CONFIG.read_text(encoding="utf-8")
IN_FORCE_SOON = "In force on every running process within 2 s."
ARI_SECTION = (
    '\n[provider.ari]\nurl = "http://127.0.0.1:8088"\nusername = "callflow"\n'
    'trunk = "PJSIP/{number}@trunk"\n'
)


def run(database_url: str, *args: str, config: Path = EXAMPLE_CONFIG) -> Result:
    """``callflow ARGS`` on the line of *config* with its settings in *database_url*."""
    options = ["--config", str(config), "--database-url", database_url]
    return CliRunner().invoke(main, [*args, *options], env={CONFIG_ENV: None, DATABASE_ENV: None})


def line_file(tmp_path: Path, extra: str) -> Path:
    """The example line with *extra* TOML appended, in a file of its own."""
    path = tmp_path / "hotline.toml"
    path.write_text(f"{EXAMPLE_TEXT}\n{extra}", encoding="utf-8")
    return path


def in_force(database_url: str, config: Path = EXAMPLE_CONFIG) -> RulesInForce:
    """The rules a process starting now would run under."""
    database = Database.connect(database_url)
    try:
        return LineRules.load(load_config(config), database).current
    finally:
        database.close()


def stored(database_url: str) -> Settings:
    database = Database.connect(database_url)
    try:
        with database.reading() as session:
            return read_settings(session)
    finally:
        database.close()


def changes(database_url: str) -> list[LineChangeView]:
    """Every change kept, the latest first."""
    database = Database.connect(database_url)
    try:
        with database.reading() as session:
            return history(session, limit=1000)
    finally:
        database.close()


def local_now() -> datetime:
    """The line's wall-clock time now, as the commands read it."""
    return SystemClock().now().astimezone(HELSINKI).replace(tzinfo=None)


def refused(result: Result, *lines: str) -> None:
    """The command refused the change: exit 2, each problem on stderr as ``config check``
    prints one, nothing on stdout."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: change refused, nothing stored;"), result.stderr
    for line in lines:
        assert f"\n  {line}" in result.stderr, result.stderr
