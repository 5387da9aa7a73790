"""The composition root: the configuration chooses the provider, the commands only run it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from callflow.cli import main
from callflow.cli.composition import Overrides, choose, open_line, open_web
from callflow.cli.http_server import listening
from callflow.config.models import HotlineConfig
from callflow.errors import ConfigError
from callflow.providers.ari.settings import PASSWORD_ENV
from callflow.providers.sim.dialler import SimulatedDialler
from callflow.providers.twilio.dialler import TwilioDialler
from callflow.store.session import Database
from tests.cli.test_twilio_cmd import twilio_line
from tests.conftest import EXAMPLE_CONFIG
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN
from tests.providers.ari.lines import ari_line_file, with_ari
from tests.providers.twilio.conftest import with_twilio


def overrides_on(database: Database) -> Overrides:
    return Overrides(database_url=database.engine.url.render_as_string(hide_password=False))


@pytest.fixture
def twilio_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)


def test_the_configuration_chooses_the_provider(config: HotlineConfig) -> None:
    chosen = {
        name: (choice.name, choice.simulated, choice.webhooks)
        for name, choice in (
            ("none", choose(config, Overrides())),
            ("twilio", choose(with_twilio(config), Overrides())),
            ("ari", choose(with_ari(config), Overrides())),
        )
    }
    assert chosen == {
        "none": ("sim", True, False),
        "twilio": ("twilio", False, True),
        "ari": ("ari", False, False),
    }


@pytest.mark.usefixtures("twilio_account")
def test_each_line_is_built_on_its_store_with_its_dialler(
    config: HotlineConfig, database: Database
) -> None:
    async def dialler_of(line_config: HotlineConfig) -> type:
        choice = choose(line_config, overrides_on(database))
        with open_line(line_config, choice, overrides_on(database)) as line:
            assert line.database.engine.url == database.engine.url
            async with line.provider.dialling() as dialler:
                return type(dialler)

    assert asyncio.run(dialler_of(config)) is SimulatedDialler
    assert asyncio.run(dialler_of(with_twilio(config))) is TwilioDialler


@pytest.mark.parametrize("line", ["twilio", "ari"])
def test_a_line_without_its_secret_says_which(
    config: HotlineConfig, database: Database, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    line_config = with_twilio(config) if line == "twilio" else with_ari(config)
    choice = choose(line_config, overrides_on(database))
    with (
        pytest.raises(ConfigError) as refused,
        open_line(line_config, choice, overrides_on(database)),
    ):
        pass
    missing = "TWILIO_AUTH_TOKEN" if line == "twilio" else PASSWORD_ENV
    assert [problem.path for problem in refused.value.problems] == [missing]


def routes_of(config: HotlineConfig, database: Database) -> set[str]:
    overrides = overrides_on(database)
    with (
        listening("127.0.0.1", 0, config.web) as sockets,
        open_web(config, choose(config, overrides), overrides, sockets) as web,
    ):
        ((app, _),) = web.apps
        return {getattr(route, "path", "") for route in app.routes} | set(app.openapi()["paths"])


@pytest.mark.usefixtures("twilio_account")
def test_the_web_app_carries_the_webhooks_of_a_twilio_line(
    config: HotlineConfig, database: Database
) -> None:
    assert "/twilio" in routes_of(with_twilio(config), database)
    assert "/twilio" not in routes_of(config, database)


def test_the_web_app_of_an_asterisk_line_needs_no_asterisk_password(
    config: HotlineConfig, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert "/advisor/me" in routes_of(with_ari(config), database)


# -- the commands' options, refused before anything is opened ------------------------------------


def refused(tmp_path: Path, config_file: Path, *arguments: str) -> str:
    database = tmp_path / "line.sqlite3"
    result = CliRunner().invoke(
        main,
        [*arguments, "--config", str(config_file), "--database-url", f"sqlite:///{database}"],
        env={"CALLFLOW_DATABASE_URL": None},
    )
    assert result.exit_code == 2, result.output
    assert not database.exists(), "nothing is opened before the options are judged"
    return result.output


@pytest.mark.parametrize(
    ("line", "arguments", "says"),
    [
        ("sim", ("--dev-unsigned-webhooks",), "--dev-unsigned-webhooks: only for a line on Twilio"),
        ("ari", ("--seed", "3", "--at", "2026-01-12T09:00"), "--seed, --at: only for a simulated"),
        ("ari", ("--dev-unsigned-webhooks",), "--dev-unsigned-webhooks: only for a line on Twilio"),
        ("twilio", ("--speed", "60"), "--speed: only for a simulated line"),
    ],
)
def test_serve_refuses_the_options_its_line_does_not_take(
    tmp_path: Path, line: str, arguments: tuple[str, ...], says: str
) -> None:
    if line == "sim":
        config_file = EXAMPLE_CONFIG
    else:
        config_file = ari_line_file(tmp_path) if line == "ari" else twilio_line(tmp_path)[0]
    assert says in refused(tmp_path, config_file, "serve", *arguments)


def test_worker_refuses_the_simulators_options_on_a_real_line(tmp_path: Path) -> None:
    config_file, _ = twilio_line(tmp_path)
    output = refused(tmp_path, config_file, "worker", "--seed", "3")
    assert "--speed and --seed are for simulated phones, not a real line" in output
