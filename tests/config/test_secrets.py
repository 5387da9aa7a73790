"""What configuration errors print: never a secret, never a traceback, never a wall of text.

Each test runs the command an admin would and reads exactly what it printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callflow.cli import main
from callflow.config.load import CONFIG_ENV, DATABASE_ENV
from callflow.errors import StoreError
from callflow.store.session import Database
from tests.conftest import EXAMPLE_CONFIG

EXAMPLE_TEXT = EXAMPLE_CONFIG.read_text(encoding="utf-8")
SECRET = "s3cr3t-Hunter2"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        main, list(args), env={CONFIG_ENV: None, DATABASE_ENV: None, **(env or {})}
    )


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def with_line_key(key_value: str) -> str:
    """The example with one more key in ``[line]``."""
    assert EXAMPLE_TEXT.count("[line]\n") == 1
    return EXAMPLE_TEXT.replace("[line]\n", f"[line]\n{key_value}\n")


class TestDatabaseUrl:
    @pytest.mark.parametrize(
        ("url", "shown", "why"),
        [
            (
                f"postgresql+psycopg://callflow:{SECRET}@db.example.fi:54x2/callflow",
                "'postgresql+psycopg://callflow:***@db.example.fi:54x2/callflow'",
                "its port is not a number",
            ),
            (
                f"postgresql:callflow:{SECRET}@db.example.fi/callflow",
                "'postgresql:***@db.example.fi/callflow'",
                "it is not a URL like dialect+driver://user@host:port/database",
            ),
        ],
    )
    @pytest.mark.parametrize("setting", ["--database-url", f"${DATABASE_ENV}"])
    def test_an_unreadable_url_is_named_with_its_password_hidden(
        self, setting: str, url: str, shown: str, why: str
    ) -> None:
        """The setting, why, the URL with *** for the password: exit 2, nothing else."""
        if setting == "--database-url":
            result = run("db", "upgrade", "--config", str(EXAMPLE_CONFIG), setting, url)
        else:
            result = run("db", "upgrade", "--config", str(EXAMPLE_CONFIG), env={DATABASE_ENV: url})
        assert result.exit_code == 2
        assert result.output == (
            f"error: configuration {setting} has 1 problem(s):\n"
            f"  {setting}: {shown} — {why}; use e.g. sqlite:///data/callflow.sqlite3 or "
            "postgresql+psycopg://user@host:5432/callflow\n"
        )

    def test_the_store_hides_the_password_of_a_url_it_cannot_read(self) -> None:
        """Code that connects directly gets the same care as the command line."""
        with pytest.raises(StoreError) as caught:
            Database.connect(f"postgresql://callflow:{SECRET}@db.example.fi:x/callflow")
        assert SECRET not in str(caught.value)
        assert "postgresql://callflow:***@db.example.fi:x/callflow" in str(caught.value)

    def test_a_password_in_the_file_is_refused(self, tmp_path: Path) -> None:
        """Secrets come from the environment: the file's URL with a password is refused,
        and the message says where the URL goes instead."""
        url = f"postgresql+psycopg://callflow:{SECRET}@db.example.fi/callflow"
        path = config_file(tmp_path, with_line_key(f'database_url = "{url}"'))
        result = run("config", "check", str(path))
        assert result.exit_code == 2
        assert result.output == (
            f"error: configuration {path} has 1 problem(s):\n"
            "  line.database_url: 'postgresql+psycopg://callflow:***@db.example.fi/callflow' — "
            "a password does not belong in this file; put the whole URL in the environment "
            "variable CALLFLOW_DATABASE_URL and leave line.database_url out\n"
        )

    def test_a_password_in_the_query_is_refused_too(self, tmp_path: Path) -> None:
        url = f"postgresql+psycopg://callflow@db.example.fi/callflow?password={SECRET}"
        path = config_file(tmp_path, with_line_key(f'database_url = "{url}"'))
        result = run("config", "check", str(path))
        assert result.exit_code == 2
        assert "?password=***' — a password does not belong in this file" in result.output
        assert SECRET not in result.output

    def test_a_url_without_a_password_is_fine_in_the_file(self, tmp_path: Path) -> None:
        """The documented use: the database's address in the file, its password elsewhere."""
        url = "postgresql+psycopg://callflow@db.example.fi/callflow"
        path = config_file(tmp_path, with_line_key(f'database_url = "{url}"'))
        result = run("config", "check", str(path))
        assert result.exit_code == 0, result.output


class TestMisplacedSecrets:
    @pytest.mark.parametrize(
        ("section", "key"),
        [
            (
                '[provider.ari]\nurl = "http://127.0.0.1:8088"\nusername = "callflow"\n'
                f'trunk = "PJSIP/{{number}}@trunk"\npassword = "{SECRET}"\n',
                "provider.ari.password",
            ),
            (
                '[provider.twilio]\npublic_url = "https://line.example.fi"\n'
                f'auth_token = "{SECRET}"\n'
                '[provider.twilio.voices.fi]\nvoice = "Polly.Suvi"\nlanguage = "fi-FI"\n',
                "provider.twilio.auth_token",
            ),
        ],
    )
    def test_the_key_is_named_and_its_value_never_shown(
        self, tmp_path: Path, section: str, key: str
    ) -> None:
        """A password where the file has no such key: named with its place, not shown."""
        result = run("config", "check", str(config_file(tmp_path, f"{EXAMPLE_TEXT}\n{section}")))
        assert result.exit_code == 2
        assert SECRET not in result.output
        assert f"  {key}: (not shown: a secret) — unknown key; allowed: " in result.output
        assert "secrets are read from environment variables, never from this file" in result.output

    def test_a_secret_inside_an_unknown_section_is_not_shown(self, tmp_path: Path) -> None:
        text = f'{EXAMPLE_TEXT}\n[asterisk]\nusername = "callflow"\npassword = "{SECRET}"\n'
        result = run("config", "check", str(config_file(tmp_path, text)))
        assert result.exit_code == 2
        assert SECRET not in result.output
        assert (
            "  asterisk: {'username': 'callflow', 'password': (not shown: a secret)} — "
            "unknown section; sections are: "
        ) in result.output


class TestUnreadableFiles:
    def test_a_long_value_is_cut(self, tmp_path: Path) -> None:
        """A wrong value is shown far enough to recognise it, not a screenful."""
        text = with_line_key('colour = "' + "x" * 5000 + '"')
        result = run("config", "check", str(config_file(tmp_path, text)))
        assert result.exit_code == 2
        (line,) = [row for row in result.output.splitlines() if "line.colour" in row]
        assert line.startswith("  line.colour: '" + "x" * 60)
        assert "x…" in line and len(line) < 250

    def test_nesting_thousands_deep_is_a_clear_error(self, tmp_path: Path) -> None:
        """2,000 nested [ would exhaust the parser's recursion: a problem, exit 2."""
        path = config_file(tmp_path, "skills = " + "[" * 2000 + "\n")
        result = run("config", "check", str(path))
        assert result.exit_code == 2
        assert result.output == (
            f"error: configuration {path} has 1 problem(s):\n"
            "  file: (missing) — nesting too deep: arrays or inline tables inside one another "
            "hundreds of levels deep; no setting needs more than a few\n"
        )
