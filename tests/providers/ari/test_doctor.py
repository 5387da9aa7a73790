"""``callflow ari doctor`` against a fake Asterisk 22: what it finds, and the fix it gives."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

from callflow.config.models import HotlineConfig
from callflow.providers.ari.doctor import Finding, Status, examine
from callflow.providers.ari.resources import OPERATIONS
from callflow.providers.ari.settings import PASSWORD_ENV, AriSettings
from callflow.providers.ari.sounds import sound_files
from tests.fakes.ari_docs import API_DOCS, ApiDocs
from tests.fakes.ari_server import PASSWORD, FakeAsterisk
from tests.providers.ari.lines import with_ari
from tests.providers.ari.rig import rig, run


def settings(config: HotlineConfig, url: str, password: str = PASSWORD) -> AriSettings:
    return AriSettings.from_environment(with_ari(config, url=url), {PASSWORD_ENV: password})


async def findings(of: AriSettings) -> dict[str, Finding]:
    return {finding.check: finding async for finding in examine(of, timeout=1.0)}


def with_every_sound(
    fake: FakeAsterisk, config: HotlineConfig, *, but: tuple[str, ...] = ()
) -> None:
    for file in sound_files(config, settings(config, fake.url).ari):
        if file.name not in but:
            fake.add_sound(file.name, 1.0)


class TestReadyAsterisk:
    def test_all_is_well_while_the_line_is_served(
        self, fake_ari: FakeAsterisk, config: HotlineConfig
    ) -> None:
        """The line's application held by a running client, every sound present."""

        async def scenario() -> dict[str, Finding]:
            async with rig(fake_ari):
                with_every_sound(fake_ari, config)
                return await findings(settings(config, fake_ari.url))

        found = run(scenario())
        assert {check: f.status for check, f in found.items()} == {
            "ARI": Status.OK,
            "Asterisk version": Status.OK,
            "ARI operations": Status.OK,
            "event websocket": Status.OK,
            "application 'hotline'": Status.OK,
            "sounds (fi)": Status.OK,
            "sounds (sv)": Status.OK,
            "sounds (en)": Status.OK,
        }
        assert found["Asterisk version"].detail == "22.10.1"
        assert (
            found["ARI operations"].detail == f"all {len(OPERATIONS)} the adapter uses are offered"
        )

    def test_the_probe_never_takes_the_line_s_application_over(
        self, fake_ari: FakeAsterisk, config: HotlineConfig
    ) -> None:
        """The websocket is tried with an application of its own: the running line's
        socket is not replaced (no ApplicationReplaced), its calls still reach it."""

        async def scenario() -> None:
            async with rig(fake_ari) as line:
                await findings(settings(config, fake_ari.url))
                assert not [e for e in fake_ari.sent() if e["type"] == "ApplicationReplaced"]
                await line.inbound_call()

        run(scenario())


class TestProblems:
    def test_a_wrong_password_stops_at_the_first_check_with_the_fix(
        self, fake_ari: FakeAsterisk, config: HotlineConfig
    ) -> None:
        async def scenario() -> dict[str, Finding]:
            async with fake_ari:
                return await findings(settings(config, fake_ari.url, password="guess"))

        found = run(scenario())
        assert list(found) == ["ARI"]
        assert found["ARI"].status is Status.FAIL
        assert "401" in found["ARI"].detail
        assert PASSWORD_ENV in found["ARI"].fix and "ari.conf" in found["ARI"].fix

    def test_nobody_listening_says_where_to_look(self, config: HotlineConfig) -> None:
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        found = run(findings(settings(config, f"http://127.0.0.1:{port}")))
        assert list(found) == ["ARI"]
        assert found["ARI"].status is Status.FAIL
        assert "http.conf" in found["ARI"].fix

    def test_an_operation_the_server_lacks_is_named(
        self, config: HotlineConfig, tmp_path: Path
    ) -> None:
        """An Asterisk whose api-docs have no ``channels.play``: the adapter could not speak."""
        docs = tmp_path / "api-docs"
        shutil.copytree(API_DOCS, docs)
        channels = json.loads((docs / "channels.json").read_text())
        for api in channels["apis"]:
            api["operations"] = [op for op in api["operations"] if op["nickname"] != "play"]
        (docs / "channels.json").write_text(json.dumps(channels))
        fake = FakeAsterisk(api_docs=ApiDocs(docs))

        async def scenario() -> dict[str, Finding]:
            async with fake:
                return await findings(settings(config, fake.url))

        operations = run(scenario())["ARI operations"]
        assert operations.status is Status.FAIL
        assert "channels.play (POST /channels/{channelId}/play)" in operations.detail
        assert not fake.violations()

    def test_missing_sounds_and_a_stopped_line_are_reported_apart(
        self, fake_ari: FakeAsterisk, config: HotlineConfig
    ) -> None:
        """Sounds missing fail per language, naming them; an application nobody holds is
        a warning (before the first start it cannot be otherwise)."""

        async def scenario() -> dict[str, Finding]:
            async with fake_ari:
                with_every_sound(
                    fake_ari, config, but=("sv/callflow/greeting", "sv/digits/hundred")
                )
                return await findings(settings(config, fake_ari.url))

        found = run(scenario())
        assert found["application 'hotline'"].status is Status.WARN
        assert "callflow serve" in found["application 'hotline'"].fix
        assert found["sounds (fi)"].status is Status.OK
        swedish = found["sounds (sv)"]
        assert swedish.status is Status.FAIL
        assert swedish.detail.startswith("2 of ")
        assert "sv/callflow/greeting" in swedish.detail and "sv/digits/hundred" in swedish.detail
        assert "callflow prompts build" in swedish.fix
