"""Finding and reading the configuration file, and where the database lives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from callflow.config.load import (
    CONFIG_ENV,
    DATABASE_ENV,
    DEFAULT_CONFIG,
    config_path,
    data_dir,
    database_url,
    load_config,
)
from callflow.config.models import HotlineConfig
from callflow.errors import ConfigError
from tests.conftest import EXAMPLE_CONFIG

EXAMPLE_TEXT = EXAMPLE_CONFIG.read_text(encoding="utf-8")


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Neither $CALLFLOW_CONFIG nor $CALLFLOW_DATABASE_URL is set."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    return monkeypatch


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    """A copy of the example at ``tmp_path/county/etc/hotline.toml``."""
    folder = tmp_path / "county" / "etc"
    folder.mkdir(parents=True)
    path = folder / "hotline.toml"
    shutil.copy(EXAMPLE_CONFIG, path)
    return path


class TestConfigPath:
    def test_option_wins_over_environment(self, no_env: pytest.MonkeyPatch) -> None:
        """--config is used even when $CALLFLOW_CONFIG names another file."""
        no_env.setenv(CONFIG_ENV, "/etc/callflow/from-env.toml")
        assert config_path("given.toml") == Path("given.toml")
        assert config_path(Path("/srv/given.toml")) == Path("/srv/given.toml")

    def test_environment_without_option(self, no_env: pytest.MonkeyPatch) -> None:
        """Without --config, $CALLFLOW_CONFIG is used."""
        no_env.setenv(CONFIG_ENV, "/etc/callflow/from-env.toml")
        assert config_path(None) == Path("/etc/callflow/from-env.toml")

    def test_default_without_option_or_environment(self, no_env: pytest.MonkeyPatch) -> None:
        """Without --config or $CALLFLOW_CONFIG, config/hotline.toml is used."""
        assert config_path(None) == Path("config/hotline.toml")

    def test_empty_environment_falls_back_to_default(self, no_env: pytest.MonkeyPatch) -> None:
        """An empty $CALLFLOW_CONFIG counts as unset."""
        no_env.setenv(CONFIG_ENV, "")
        assert config_path(None) == DEFAULT_CONFIG


class TestLoadConfig:
    def test_sets_source_to_the_resolved_file(
        self, copied: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The loaded configuration remembers the absolute path it was read from."""
        monkeypatch.chdir(copied.parent.parent)
        config = load_config(Path("etc") / "hotline.toml")
        assert isinstance(config, HotlineConfig)
        assert config.source == copied.resolve()
        assert config.source.is_absolute()
        assert config.line.number == "+358291234500"

    def test_example_fixture_points_at_the_example(self, config: HotlineConfig) -> None:
        """The shared example configuration knows it came from config/hotline.toml."""
        assert config.source == EXAMPLE_CONFIG.resolve()

    def test_accepts_a_string_path(self, copied: Path) -> None:
        """A path given as text loads like a Path."""
        assert load_config(str(copied)).source == copied.resolve()

    def test_source_is_not_part_of_the_dumped_configuration(self, copied: Path) -> None:
        """Dumping the configuration leaves out where it was read from."""
        assert "source" not in load_config(copied).model_dump()

    def test_problems_raise_config_error_listing_every_one(self, tmp_path: Path) -> None:
        """A broken file raises ConfigError whose problems and message list every problem."""
        path = tmp_path / "broken.toml"
        path.write_text(
            EXAMPLE_TEXT.replace('timezone = "Europe/Helsinki"', 'timezone = "Nowhere/City"')
            .replace('fallback_topic = "other"', 'fallback_topic = "billing"')
            .replace("max_attempts = 3", "max_atempts = 3"),
            encoding="utf-8",
        )
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        error = caught.value
        assert error.source == str(path)
        assert sorted(p.path for p in error.problems) == [
            "line.timezone",
            "menu.fallback_topic",
            "menu.max_atempts",
        ]
        message = str(error)
        assert message.startswith(f"{path}: 3 problem(s)\n")
        for problem in error.problems:
            assert f"  - {problem}" in message
        assert error.slug == "config-invalid"

    def test_missing_file_says_how_to_choose_one(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A missing file is a ConfigError naming --config, $CALLFLOW_CONFIG and the cwd."""
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ConfigError) as caught:
            load_config("absent.toml")
        (problem,) = caught.value.problems
        assert problem.path == "file"
        assert problem.value == "absent.toml"
        assert "--config" in problem.allowed
        assert CONFIG_ENV in problem.allowed
        assert str(tmp_path) in problem.allowed

    def test_non_utf8_file_is_a_config_error(self, tmp_path: Path) -> None:
        """A file that is not UTF-8 gives a ConfigError saying it cannot be read."""
        path = tmp_path / "latin1.toml"
        path.write_bytes(EXAMPLE_TEXT.encode("utf-8").replace("ä".encode(), b"\xe4"))
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        (problem,) = caught.value.problems
        assert problem.path == "file"
        assert problem.allowed.startswith("cannot be read: ")
        assert "utf-8" in problem.allowed
        assert isinstance(caught.value.__cause__, UnicodeDecodeError)

    def test_directory_is_a_config_error(self, tmp_path: Path) -> None:
        """A folder given as the file gives a ConfigError, not a traceback."""
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path)
        (problem,) = caught.value.problems
        assert problem.path == "file"
        assert problem.value == str(tmp_path)
        assert problem.allowed.startswith("cannot be read: ")


class TestDatabaseUrl:
    def test_override_wins(self, config: HotlineConfig, no_env: pytest.MonkeyPatch) -> None:
        """--database-url beats the environment and the file."""
        no_env.setenv(DATABASE_ENV, "sqlite:///from-env.sqlite3")
        in_file = config.model_copy(
            update={"line": config.line.model_copy(update={"database_url": "sqlite:///file.db"})}
        )
        assert database_url(in_file, "sqlite:///override.db") == "sqlite:///override.db"

    def test_environment_beats_the_file(
        self, config: HotlineConfig, no_env: pytest.MonkeyPatch
    ) -> None:
        """$CALLFLOW_DATABASE_URL beats line.database_url."""
        no_env.setenv(DATABASE_ENV, "sqlite:///from-env.sqlite3")
        in_file = config.model_copy(
            update={"line": config.line.model_copy(update={"database_url": "sqlite:///file.db"})}
        )
        assert database_url(in_file) == "sqlite:///from-env.sqlite3"
        assert database_url(in_file, None) == "sqlite:///from-env.sqlite3"

    def test_file_beats_the_default(self, copied: Path, no_env: pytest.MonkeyPatch) -> None:
        """line.database_url in the file is used when neither override nor environment is set."""
        url = "postgresql+psycopg://callflow@db.example.fi/callflow"
        copied.write_text(
            EXAMPLE_TEXT.replace(
                '# database_url = "postgresql+psycopg://callflow@db.example.fi/callflow"',
                f'database_url = "{url}"',
            ),
            encoding="utf-8",
        )
        config = load_config(copied)
        assert config.line.database_url == url
        assert database_url(config) == url

    def test_default_is_sqlite_beside_the_config_not_the_cwd(
        self, copied: Path, tmp_path: Path, no_env: pytest.MonkeyPatch
    ) -> None:
        """Without any URL the SQLite file is in data_dir, taken from the config file's folder."""
        elsewhere = tmp_path / "elsewhere" / "deep"
        elsewhere.mkdir(parents=True)
        no_env.chdir(elsewhere)
        config = load_config(copied)
        expected = (tmp_path / "county" / "data").resolve()
        assert data_dir(config) == expected
        assert database_url(config) == f"sqlite:///{expected / 'callflow.sqlite3'}"

    def test_empty_environment_is_ignored(self, copied: Path, no_env: pytest.MonkeyPatch) -> None:
        """An empty $CALLFLOW_DATABASE_URL falls through to the default SQLite file."""
        no_env.setenv(DATABASE_ENV, "")
        url = database_url(load_config(copied))
        assert url.startswith("sqlite:///")
        assert url.endswith("/county/data/callflow.sqlite3")

    def test_absolute_data_dir_is_kept(
        self, copied: Path, tmp_path: Path, no_env: pytest.MonkeyPatch
    ) -> None:
        """An absolute data_dir is used as written."""
        target = tmp_path / "var" / "callflow"
        copied.write_text(
            EXAMPLE_TEXT.replace('data_dir = "../data"', f'data_dir = "{target}"'),
            encoding="utf-8",
        )
        assert database_url(load_config(copied)) == (
            f"sqlite:///{target.resolve() / 'callflow.sqlite3'}"
        )
