"""``callflow ari doctor``: the command an admin runs against their Asterisk (here a fake one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from callflow.cli import main
from callflow.config.load import DATABASE_ENV, load_config
from callflow.engine.clock import SystemClock
from callflow.providers.ari.settings import PASSWORD_ENV, ari_section
from callflow.providers.ari.sounds import sound_files
from callflow.store.advisors import register_advisor
from callflow.store.migrate import current_revision, head_revision, upgrade
from callflow.store.session import Database
from tests.fakes.ari_server import PASSWORD, FakeAsterisk
from tests.providers.ari.lines import ari_line_file
from tests.providers.ari.rig import run
from tests.providers.ari.test_doctor import asterisk_host
from tests.store.test_migrate import _downgrade


def doctor(config_file: Path, database_url: str | None, asterisk_etc: Path) -> Result:
    """The doctor on *database_url*; None gives none, so the configuration's is used."""
    given = [] if database_url is None else ["--database-url", database_url]
    return CliRunner().invoke(
        main,
        [
            "ari",
            "doctor",
            "--config",
            str(config_file),
            *given,
            "--asterisk-etc",
            str(asterisk_etc),
            "--timeout",
            "2",
        ],
        env={PASSWORD_ENV: PASSWORD, DATABASE_ENV: None},
    )


def doctor_on_a_ready_asterisk(
    tmp_path: Path, fake: FakeAsterisk, database_url: str | None, config_folder: Path | None = None
) -> Result:
    """The doctor against *fake* with every sound the line plays, so only the stopped
    line and what the advisors' check finds are left to report."""
    host = asterisk_host(tmp_path)
    folder = config_folder or tmp_path

    async def scenario() -> Result:
        async with fake:
            config_file = ari_line_file(folder, fake.url)
            config = load_config(config_file)
            for file in sound_files(config, ari_section(config)):
                fake.add_sound(file.name)
            return await asyncio.to_thread(doctor, config_file, database_url, host)

    return run(scenario(), timeout=30)


def with_advisor(database_url: str, name: str, dial_string: str) -> None:
    database = Database.connect(database_url)
    try:
        with database.transaction() as session:
            register_advisor(
                session, name, ["nurse"], ["fi"], SystemClock().now(), dial_string=dial_string
            )
    finally:
        database.close()


def test_missing_sounds_fail_until_they_are_there(tmp_path: Path, database_url: str) -> None:
    """First the sounds are missing: exit 1, each language's finding with its fix. Then
    they are there: exit 0, the stopped line only a warning."""
    fake = FakeAsterisk(endpoints={"PJSIP/anna-desk": "online"})
    with_advisor(database_url, "anna", "PJSIP/anna-desk")
    host = asterisk_host(tmp_path)

    async def scenario() -> tuple[Result, Result]:
        async with fake:
            config_file = ari_line_file(tmp_path, fake.url)
            # the command runs its own event loop; the fake answers from this one
            before = await asyncio.to_thread(doctor, config_file, database_url, host)
            config = load_config(config_file)
            for file in sound_files(config, ari_section(config)):
                fake.add_sound(file.name)
            after = await asyncio.to_thread(doctor, config_file, database_url, host)
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
    assert "OK    answering-machine detection: app_amd.so is running" in after.output
    assert "OK    advisors' phones: 1 of 1 found online" in after.output
    assert after.output.rstrip().endswith("all checks passed, 1 warning(s)")


def test_an_asterisk_without_amd_conf_or_an_advisor_s_phone_fails(
    tmp_path: Path, database_url: str
) -> None:
    """A stock install without amd.conf (app_amd not loaded) and an advisor whose endpoint
    is not in pjsip.conf: exit 1, each line saying what to do."""
    fake = FakeAsterisk()
    fake.unload_module("app_amd.so")
    with_advisor(database_url, "bertil", "PJSIP/bertil-desk")
    host = asterisk_host(tmp_path)

    async def scenario() -> Result:
        async with fake:
            config_file = ari_line_file(tmp_path, fake.url)
            config = load_config(config_file)
            for file in sound_files(config, ari_section(config)):
                fake.add_sound(file.name)
            return await asyncio.to_thread(doctor, config_file, database_url, host)

    result = run(scenario(), timeout=30)
    assert not fake.violations()
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    amd = lines.index(
        "FAIL  answering-machine detection: app_amd.so is not loaded (it needs amd.conf), and "
        "machine_detection is on: every callback's resident is hung up with "
        "\"No application 'AMD'\""
    )
    assert "amd.conf" in lines[amd + 1] and "module load app_amd.so" in lines[amd + 1]
    assert (
        "FAIL  advisor 'bertil': no endpoint PJSIP/bertil-desk: the line cannot ring them" in lines
    )
    assert result.output.rstrip().endswith("2 check(s) failed, 1 warning(s)")


def test_without_the_password_nothing_is_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    result = CliRunner().invoke(main, ["ari", "doctor", "--config", str(ari_line_file(tmp_path))])
    assert result.exit_code == 2
    assert PASSWORD_ENV in result.output


class TestTheLineSDatabaseIsOnlyRead:
    """A diagnostic never changes the system it diagnoses: the doctor neither migrates the
    line's database nor creates one, and a database it cannot use is one finding among
    the others, the summary still printed."""

    def test_a_database_at_an_older_revision_is_not_migrated(
        self, tmp_path: Path, database_url: str
    ) -> None:
        with_advisor(database_url, "anna", "PJSIP/anna-desk")
        database = Database.connect(database_url)
        try:
            _downgrade(database, "0006")
            fake = FakeAsterisk(endpoints={"PJSIP/anna-desk": "online"})
            result = doctor_on_a_ready_asterisk(tmp_path, fake, database_url)
            assert current_revision(database) == "0006"
        finally:
            upgrade(database)
            database.close()
        assert result.exit_code == 0, result.output
        assert (
            "WARN  advisors' phones: not checked: the database is at revision 0006, this "
            f"callflow expects {head_revision()}: run `callflow db upgrade`"
        ) in result.output.splitlines()
        assert result.output.rstrip().endswith("all checks passed, 2 warning(s)")

    def test_a_database_a_newer_callflow_upgraded_is_not_read(
        self, tmp_path: Path, database_url: str
    ) -> None:
        database = Database.connect(database_url)
        stamp = "UPDATE alembic_version SET version_num = :revision"
        try:
            with database.transaction() as session:
                session.execute(text(stamp), {"revision": "0999"})
            result = doctor_on_a_ready_asterisk(tmp_path, FakeAsterisk(), database_url)
            assert current_revision(database) == "0999"
        finally:
            with database.transaction() as session:
                session.execute(text(stamp), {"revision": head_revision()})
            database.close()
        assert result.exit_code == 0, result.output
        assert (
            "WARN  advisors' phones: not checked: the database is at revision 0999, which this "
            f"callflow (at {head_revision()}) does not know: a newer callflow upgraded it; "
            "use that one"
        ) in result.output.splitlines()

    def test_without_a_database_file_none_is_created(self, tmp_path: Path) -> None:
        etc = tmp_path / "etc"  # data_dir is ../data from the configuration file
        etc.mkdir()
        result = doctor_on_a_ready_asterisk(tmp_path, FakeAsterisk(), None, etc)
        data = tmp_path / "data"
        assert not data.exists()
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        missing = lines.index(
            "WARN  advisors' phones: not checked: there is no database file "
            f"{data / 'callflow.sqlite3'} (the doctor creates none)"
        )
        assert "--database-url" in lines[missing + 1]
        assert result.output.rstrip().endswith("all checks passed, 2 warning(s)")

    def test_a_database_url_it_cannot_read_is_one_failed_check(self, tmp_path: Path) -> None:
        url = "postgresql+psycopg://callflow:s3cret@db.example.fi:port/callflow"
        result = doctor_on_a_ready_asterisk(tmp_path, FakeAsterisk(), url)
        assert result.exit_code == 1, result.output
        lines = result.output.splitlines()
        phones = next(line for line in lines if line.startswith("FAIL  advisors' phones: "))
        assert "--database-url" in phones and "its port is not a number" in phones
        assert "s3cret" not in result.output
        assert "OK    answering-machine detection: app_amd.so is running" in lines
        assert result.output.rstrip().endswith("1 check(s) failed, 1 warning(s)")


def test_an_advisor_s_mobile_number_is_masked_in_the_report(
    tmp_path: Path, database_url: str
) -> None:
    """An advisor rung on their own mobile through the trunk: the report names them and
    their dial string with the number masked, as every log does."""
    fake = FakeAsterisk()
    with_advisor(database_url, "cecilia", "PJSIP/+358401234567@trunk")
    result = doctor_on_a_ready_asterisk(tmp_path, fake, database_url)
    assert "+358401234567" not in result.output
    assert "PJSIP/+*********567@trunk" in result.output
