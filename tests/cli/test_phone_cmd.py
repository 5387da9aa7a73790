"""`callflow phone` as an admin runs it: the real command, a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from callflow.cli import main
from callflow.config.load import load_config
from callflow.engine.vocabulary import CallbackStatus
from callflow.providers.sim import console as phone
from callflow.service.rules import LineRules
from callflow.store.migrate import head_revision
from callflow.store.models import CallbackRequest
from callflow.store.session import Database
from tests.conftest import EXAMPLE_CONFIG

CALLFLOW = str(Path(sys.executable).with_name("callflow"))
EXAMPLE = ["--at", "2026-01-12T10:00", "--from", "0401234567", "--digits", "1,1,1,1", "--busy", "5"]


def callflow(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLFLOW_CONFIG": str(EXAMPLE_CONFIG)}
    env.pop("CALLFLOW_DATABASE_URL", None)
    if database_url:
        env["CALLFLOW_DATABASE_URL"] = database_url
    return subprocess.run(
        [CALLFLOW, *args], capture_output=True, text=True, env=env, check=False, timeout=120
    )


@pytest.mark.slow
def test_the_issue_example_stores_a_callback(database_url: str) -> None:
    """Finnish, health, yes, yes: the last line is the JSON result, the request is stored."""
    result = callflow("phone", *EXAMPLE, database_url=database_url)
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["outcome"] == "callback_requested"
    assert last["callback"]["topic"] == "health" and last["callback"]["language"] == "fi"
    assert "0401234567" not in result.stdout + result.stderr
    database = Database.connect(database_url)
    with database.transaction() as session:
        request = session.scalars(select(CallbackRequest)).one()
        assert request.id == last["callback"]["id"]
        assert (request.number_e164, request.status) == ("+358401234567", CallbackStatus.PENDING)
    database.close()


@pytest.mark.slow
def test_keys_given_together_are_pressed_one_by_one(database_url: str) -> None:
    """--digits 1111 is four key presses typed ahead: the same callback as 1,1,1,1."""
    keys_together = [*EXAMPLE[: EXAMPLE.index("--digits")], "--digits", "1111", "--busy", "5"]
    result = callflow("phone", *keys_together, database_url=database_url)
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["outcome"] == "callback_requested"
    assert (last["callback"]["topic"], last["callback"]["language"]) == ("health", "fi")


@pytest.mark.slow
def test_an_empty_sqlite_file_is_created_and_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'line.sqlite3'}"
    result = callflow("phone", *EXAMPLE, database_url=url)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fresh" / "line.sqlite3").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--digits", "1,x,1"], "item 2 ('x') is not keypad input"),
        (["--at", "Monday"], "'Monday' is not a time like 2026-01-12T10:00"),
        (["--from", "call me"], "'call me' is not a phone number"),
        (["--from", "0401234567", "--withheld"], "not both"),
        (["--busy", "-1"], "-1 is not in the range x>=0"),
        (["--patience", "forever"], "'forever' is not a duration"),
        (["--patience", "3000000d"], "give a wait between 1s and 12h"),
        (["--at", "9999-12-31T23:00"], "outside the years 2000–2099"),
        (["--at", "2026-03-29T03:30"], "does not happen in Europe/Helsinki"),
        (["--from", "(040) 123 456x"], "'(***) *** 456x' is not a phone number"),
    ],
)
def test_bad_arguments_are_explained_and_touch_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    database = tmp_path / "untouched.sqlite3"
    result = callflow("phone", *args, database_url=f"sqlite:///{database}")
    assert result.returncode == 2
    assert message in result.stderr
    assert not database.exists()


@pytest.mark.slow
def test_a_broken_config_is_explained(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(EXAMPLE_CONFIG.read_text().replace("Europe/Helsinki", "Europe/Helsinky"))
    result = callflow("phone", "--config", str(broken), *EXAMPLE)
    assert result.returncode == 2
    assert "line.timezone: 'Europe/Helsinky'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_db_upgrade_reports_the_schema_and_is_repeatable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    first = callflow("db", "upgrade", database_url=url)
    assert first.returncode == 0, first.stderr
    head = head_revision()
    assert f"schema {head} (head {head}), upgraded from empty" in first.stdout
    again = callflow("db", "upgrade", database_url=url)
    assert "already current" in again.stdout


@pytest.mark.slow
def test_an_unreachable_database_is_a_clear_error() -> None:
    result = callflow(
        "phone", *EXAMPLE, database_url="postgresql+psycopg://nobody@127.0.0.1:9/none"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: database postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert "is not available: connection failed" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_an_unwritable_sqlite_folder_is_a_clear_error() -> None:
    result = callflow("phone", *EXAMPLE, database_url="sqlite:////proc/no-such-place/x.sqlite3")
    assert result.returncode == 1
    assert "cannot create /proc/no-such-place for the SQLite database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_missing_database_driver_is_a_clear_error() -> None:
    result = callflow("phone", *EXAMPLE, database_url="postgresql+asyncpg://u@127.0.0.1/x")
    assert result.returncode == 1
    assert "no driver installed for 'postgresql+asyncpg'" in result.stderr


def test_an_unexpected_failure_prints_no_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a bug's message is masked, and there is no raw traceback on the terminal."""

    def crash(self: object) -> None:
        raise RuntimeError("lost call from +358401234567")

    monkeypatch.setattr(phone.ConsolePhone, "run", crash)
    monkeypatch.setenv("CALLFLOW_CONFIG", str(EXAMPLE_CONFIG))
    result = CliRunner().invoke(main, ["phone", *EXAMPLE])
    assert result.exit_code == 1
    assert "error: unexpected RuntimeError: lost call from +*********567" in result.stderr
    assert "358401234567" not in result.stderr + result.stdout


@pytest.mark.slow
def test_a_closure_stored_for_tomorrow_closes_a_rehearsal_of_tomorrow(tmp_path: Path) -> None:
    """The console phone rehearses the line as it will run: a closure stored for Tuesday
    10-12 closes a call at Tuesday 10:30, and Tuesday 12:30 is open again."""
    url = f"sqlite:///{tmp_path / 'line.sqlite3'}"
    assert callflow("db", "upgrade", database_url=url).returncode == 0
    database = Database.connect(url)
    closure = {"start": "2026-01-13T10:00:00", "end": "2026-01-13T12:00:00", "reason": "Drill"}
    LineRules.load(load_config(EXAMPLE_CONFIG), database).change(
        "calendar.closures.2026-01-13T10:00", closure, by="test", now=datetime.now(UTC)
    )
    database.close()

    def outcome(at: str, keys: str) -> str:
        result = callflow("phone", "--at", at, "--withheld", "--digits", keys, database_url=url)
        assert result.returncode == 0, result.stderr
        return str(json.loads(result.stdout.strip().splitlines()[-1])["outcome"])

    assert outcome("2026-01-13T10:30", "1") == "closed"
    assert outcome("2026-01-13T12:30", "1,1") == "answered"
