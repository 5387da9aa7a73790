"""``callflow ari doctor``: the command an admin runs against their Asterisk (here a fake one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callflow.cli import main
from callflow.config.load import load_config
from callflow.providers.ari.settings import PASSWORD_ENV, ari_section
from callflow.providers.ari.sounds import sound_files
from tests.fakes.ari_server import PASSWORD, FakeAsterisk
from tests.providers.ari.lines import ari_line_file
from tests.providers.ari.rig import run


def doctor(config_file: Path) -> Result:
    return CliRunner().invoke(
        main,
        ["ari", "doctor", "--config", str(config_file), "--timeout", "2"],
        env={PASSWORD_ENV: PASSWORD},
    )


def test_missing_sounds_fail_until_they_are_there(tmp_path: Path) -> None:
    """First the sounds are missing: exit 1, each language's finding with its fix. Then
    they are there: exit 0, the stopped line only a warning."""
    fake = FakeAsterisk()

    async def scenario() -> tuple[Result, Result]:
        async with fake:
            config_file = ari_line_file(tmp_path, fake.url)
            # the command runs its own event loop; the fake answers from this one
            before = await asyncio.to_thread(doctor, config_file)
            config = load_config(config_file)
            for file in sound_files(config, ari_section(config)):
                fake.add_sound(file.name)
            after = await asyncio.to_thread(doctor, config_file)
        return before, after

    before, after = run(scenario(), timeout=30)
    assert not fake.violations()
    assert before.exit_code == 1, before.output
    assert "OK    Asterisk version: 22.10.1" in before.output
    assert "FAIL  sounds (fi): " in before.output
    assert "fix: on the Asterisk host run `callflow prompts build`" in before.output
    assert before.output.rstrip().endswith("3 check(s) failed, 1 warning(s)")
    assert after.exit_code == 0, after.output
    assert "WARN  application 'hotline': not registered" in after.output
    assert after.output.rstrip().endswith("all checks passed, 1 warning(s)")


def test_without_the_password_nothing_is_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    result = CliRunner().invoke(main, ["ari", "doctor", "--config", str(ari_line_file(tmp_path))])
    assert result.exit_code == 2
    assert PASSWORD_ENV in result.output
