"""``callflow ari doctor`` against a fake Asterisk 22: what it finds, and the fix it gives."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from callflow.config.models import HotlineConfig
from callflow.errors import StoreError
from callflow.providers.ari.doctor import AdvisorReader, Finding, Status, examine
from callflow.providers.ari.resources import OPERATIONS
from callflow.providers.ari.settings import PASSWORD_ENV, AriSettings
from callflow.providers.ari.sounds import sound_files
from callflow.store.advisors import AdvisorView
from callflow.store.models import AdvisorState
from tests.fakes.ari_docs import API_DOCS, ApiDocs, require_shared
from tests.fakes.ari_server import PASSWORD, FakeAsterisk
from tests.providers.ari.lines import with_ari, with_connect
from tests.providers.ari.rig import rig, run

SHIPPED_DIALPLAN = Path(__file__).parents[3] / "config" / "asterisk" / "extensions.conf"
STOCK_MOH = "[general]\n\n[default]\nmode=files\ndirectory=moh\n"
"""The stock musiconhold.conf's classes (its comments left out)."""
NOWHERE = Path("/nonexistent/asterisk")


def settings(
    config: HotlineConfig, url: str, password: str = PASSWORD, **changes: object
) -> AriSettings:
    return AriSettings.from_environment(
        with_ari(config, url=url, **changes), {PASSWORD_ENV: password}
    )


def asterisk_host(folder: Path, music: Sequence[str] = ("macroform-the_simplicity.wav",)) -> Path:
    """Asterisk's configuration directory on a host set up for the line: callflow's
    dialplan (as shipped in config/asterisk) and the stock music classes, with *music*
    in the default class's directory."""
    etc, moh = folder / "etc-asterisk", folder / "var-lib-asterisk" / "moh"
    etc.mkdir()
    moh.mkdir(parents=True)
    (etc / "asterisk.conf").write_text(f"[directories]\nastdatadir => {moh.parent}\n")
    shutil.copy(SHIPPED_DIALPLAN, etc / "extensions.conf")
    (etc / "musiconhold.conf").write_text(STOCK_MOH)
    for name in music:
        (moh / name).write_bytes(b"RIFF")
    return etc


def advisor(name: str, dial_string: str | None, *, enabled: bool = True) -> AdvisorView:
    return AdvisorView(
        id=len(name),
        name=name,
        enabled=enabled,
        admin=False,
        state=AdvisorState.OFFLINE,
        state_since=datetime(2025, 1, 6, 9, tzinfo=UTC),
        ready_at=None,
        dial_string=dial_string,
        skills=("nurse",),
        languages=("fi",),
    )


def reading(*advisors: AdvisorView) -> AdvisorReader:
    return lambda: advisors


NOBODY = reading()


async def findings(
    of: AriSettings, *, host: Path = NOWHERE, advisors: AdvisorReader = NOBODY
) -> dict[str, Finding]:
    return {
        finding.check: finding
        async for finding in examine(of, advisors=advisors, asterisk_etc=host, timeout=1.0)
    }


def with_every_sound(
    fake: FakeAsterisk, config: HotlineConfig, *, but: tuple[str, ...] = ()
) -> None:
    for file in sound_files(config, settings(config, fake.url).ari):
        if file.name not in but:
            fake.add_sound(file.name, 1.0)


class TestReadyAsterisk:
    def test_all_is_well_while_the_line_is_served(
        self, fake_ari: FakeAsterisk, config: HotlineConfig, tmp_path: Path
    ) -> None:
        """The line's application held by a running client, every sound present, the AMD
        context and hold music there, the advisor's phone registered."""
        fake_ari.add_endpoint("PJSIP/anna-desk")

        async def scenario() -> dict[str, Finding]:
            async with rig(fake_ari):
                with_every_sound(fake_ari, config)
                return await findings(
                    settings(config, fake_ari.url),
                    host=asterisk_host(tmp_path),
                    advisors=reading(advisor("anna", "PJSIP/anna-desk")),
                )

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
            "answering-machine detection": Status.OK,
            "dialplan context 'callflow-amd'": Status.OK,
            "hold music 'default'": Status.OK,
            "advisors' phones": Status.OK,
        }
        assert found["Asterisk version"].detail == "22.10.1"
        assert found["advisors' phones"].detail == "1 of 1 found online"
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
        shutil.copytree(require_shared(API_DOCS), docs)
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
                    fake_ari, config, but=("sv/callflow/greeting", "sv/callflow/number-100")
                )
                return await findings(settings(config, fake_ari.url))

        found = run(scenario())
        assert found["application 'hotline'"].status is Status.WARN
        assert "callflow serve" in found["application 'hotline'"].fix
        assert found["sounds (fi)"].status is Status.OK
        swedish = found["sounds (sv)"]
        assert swedish.status is Status.FAIL
        assert swedish.detail.startswith("2 of ")
        assert "sv/callflow/greeting" in swedish.detail
        assert "sv/callflow/number-100" in swedish.detail
        assert "callflow prompts build" in swedish.fix


class TestAnsweringMachineDetection:
    def test_app_amd_not_loaded_fails_naming_amd_conf(
        self, fake_ari: FakeAsterisk, config: HotlineConfig, tmp_path: Path
    ) -> None:
        """A stock install without amd.conf: every callback's resident would be hung up."""
        fake_ari.unload_module("app_amd.so")

        async def scenario() -> dict[str, Finding]:
            async with fake_ari:
                return await findings(settings(config, fake_ari.url), host=asterisk_host(tmp_path))

        amd = run(scenario())["answering-machine detection"]
        assert amd.status is Status.FAIL
        assert "app_amd.so is not loaded" in amd.detail and "No application 'AMD'" in amd.detail
        assert "amd.conf" in amd.fix and "module load app_amd.so" in amd.fix
        assert "machine_detection = false" in amd.fix

    def test_without_machine_detection_nothing_of_amd_is_asked(
        self, fake_ari: FakeAsterisk, config: HotlineConfig, tmp_path: Path
    ) -> None:
        fake_ari.unload_module("app_amd.so")

        async def scenario() -> dict[str, Finding]:
            async with fake_ari:
                line = settings(with_connect(config, machine_detection=False), fake_ari.url)
                return await findings(line, host=asterisk_host(tmp_path))

        found = run(scenario())
        assert "answering-machine detection" not in found
        assert "dialplan context 'callflow-amd'" not in found
        assert found["hold music 'default'"].status is Status.OK  # the other checks still run
        assert not [r for r in fake_ari.requests if r.path.startswith("/ari/asterisk/modules")]

    def test_a_dialplan_without_the_amd_context_fails(
        self, fake_ari: FakeAsterisk, config: HotlineConfig, tmp_path: Path
    ) -> None:
        """The context is looked for in extensions.conf and the files it includes: the
        shipped one is found there, one named otherwise in amd_context is not."""
        host = asterisk_host(tmp_path)
        (host / "extensions.conf").write_text("[general]\n#include callflow/*.conf\n")
        (host / "callflow").mkdir()
        shutil.copy(SHIPPED_DIALPLAN, host / "callflow" / "hotline.conf")

        async def scenario(context: str) -> Finding:
            async with fake_ari:
                line = settings(config, fake_ari.url, amd_context=context)
                return (await findings(line, host=host))[f"dialplan context {context!r}"]

        assert run(scenario("callflow-amd")).status is Status.OK
        missing = run(scenario("residents-amd"))
        assert missing.status is Status.FAIL
        assert "not in" in missing.detail and "hung up" in missing.detail
        assert "as [residents-amd]" in missing.fix and "dialplan reload" in missing.fix

    def test_off_the_asterisk_host_it_says_how_to_look(
        self, fake_ari: FakeAsterisk, config: HotlineConfig
    ) -> None:
        async def scenario() -> dict[str, Finding]:
            async with fake_ari:
                return await findings(settings(config, fake_ari.url), host=NOWHERE)

        found = run(scenario())
        context = found["dialplan context 'callflow-amd'"]
        assert context.status is Status.WARN
        assert 'asterisk -rx "dialplan show s@callflow-amd"' in context.fix
        music = found["hold music 'default'"]
        assert music.status is Status.WARN
        assert "moh show classes" in music.fix and "moh show files" in music.fix


class TestHoldMusic:
    def test_an_empty_class_holds_callers_in_silence(
        self, fake_ari: FakeAsterisk, config: HotlineConfig, tmp_path: Path
    ) -> None:
        """The stock default class without the MOH sound package: its directory has only
        what Asterisk skips (hidden files, names without a format)."""
        host = asterisk_host(tmp_path, music=(".keep", "README"))

        async def scenario() -> dict[str, Finding]:
            async with fake_ari:
                return await findings(settings(config, fake_ari.url), host=host)

        music = run(scenario())["hold music 'default'"]
        assert music.status is Status.FAIL
        moh = tmp_path / "var-lib-asterisk" / "moh"
        assert music.detail == f"nothing to play in {moh}: callers hold in silence"
        assert "asterisk-moh-opsound" in music.fix and "moh reload" in music.fix

    def test_a_class_asterisk_does_not_have_fails(
        self, fake_ari: FakeAsterisk, config: HotlineConfig, tmp_path: Path
    ) -> None:
        """hold_music names a class only a template defines; a class inheriting from it
        with its own directory is found."""
        host = asterisk_host(tmp_path)
        (host / "musiconhold.conf").write_text(
            STOCK_MOH + "[calm](!)\nmode = files ; a template\n"
            f"[lobby](calm)\ndirectory => {tmp_path / 'var-lib-asterisk' / 'moh'}\n"
        )

        async def scenario(music_class: str) -> Finding:
            async with fake_ari:
                line = settings(config, fake_ari.url, hold_music=music_class)
                return (await findings(line, host=host))[f"hold music {music_class!r}"]

        calm = run(scenario("calm"))
        assert calm.status is Status.FAIL
        assert calm.detail == f"no class [calm] in {host / 'musiconhold.conf'}"
        assert "hold_music" in calm.fix
        assert run(scenario("lobby")).status is Status.OK


class TestAdvisorPhones:
    def test_an_endpoint_asterisk_lacks_fails_naming_the_advisor(
        self, fake_ari: FakeAsterisk, config: HotlineConfig
    ) -> None:
        """Only enabled advisors with a dial string are rung, so only they are checked;
        an offline phone and a dial string that is no endpoint's name are warnings."""
        fake_ari.add_endpoint("PJSIP/anna-desk")
        fake_ari.add_endpoint("PJSIP/cecilia-desk", state="offline")
        advisors = reading(
            advisor("anna", "PJSIP/anna-desk"),
            advisor("bertil", "PJSIP/bertil-desk"),
            advisor("cecilia", "PJSIP/cecilia-desk"),
            advisor("dora", "Local/200@advisor"),
            advisor("erik", "PJSIP/gone", enabled=False),
            advisor("frida", None),
        )

        async def scenario() -> dict[str, Finding]:
            async with fake_ari:
                return await findings(settings(config, fake_ari.url), advisors=advisors)

        found = run(scenario())
        bertil = found["advisor 'bertil'"]
        assert bertil.status is Status.FAIL
        assert bertil.detail == "no endpoint PJSIP/bertil-desk: the line cannot ring them"
        assert "pjsip.conf" in bertil.fix and "callflow advisors disable bertil" in bertil.fix
        assert found["advisor 'cecilia'"].status is Status.WARN
        assert "offline" in found["advisor 'cecilia'"].detail
        assert found["advisor 'dora'"].status is Status.WARN
        assert "channel originate Local/200@advisor" in found["advisor 'dora'"].fix
        assert "advisor 'anna'" not in found and "advisor 'erik'" not in found
        assert found["advisors' phones"].detail == "1 of 4 found online"

    def test_an_endpoint_in_state_unknown_is_not_found_online(
        self, fake_ari: FakeAsterisk, config: HotlineConfig
    ) -> None:
        """Asterisk has the endpoint but does not track whether its phone is reachable: the
        doctor cannot tell whether it rings, so it warns and says how to ring it by hand."""
        fake_ari.add_endpoint("PJSIP/anna-desk")
        fake_ari.add_endpoint("IAX2/gustav-desk", state="unknown")
        advisors = reading(
            advisor("anna", "PJSIP/anna-desk"), advisor("gustav", "IAX2/gustav-desk")
        )

        async def scenario() -> dict[str, Finding]:
            async with fake_ari:
                return await findings(settings(config, fake_ari.url), advisors=advisors)

        found = run(scenario())
        gustav = found["advisor 'gustav'"]
        assert gustav.status is Status.WARN
        assert gustav.detail.startswith("IAX2/gustav-desk is defined, but Asterisk does not know")
        assert "channel originate IAX2/gustav-desk" in gustav.fix
        assert found["advisors' phones"].detail == "1 of 2 found online"

    def test_a_database_it_cannot_read_is_one_failed_check(
        self, fake_ari: FakeAsterisk, config: HotlineConfig
    ) -> None:
        def unreachable() -> list[AdvisorView]:
            raise StoreError("database postgresql is not available: connection refused")

        async def scenario() -> dict[str, Finding]:
            async with fake_ari:
                return await findings(settings(config, fake_ari.url), advisors=unreachable)

        phones = run(scenario())["advisors' phones"]
        assert phones.status is Status.FAIL
        assert "connection refused" in phones.detail and "--database-url" in phones.fix
