"""The line's rules changed while it runs, on the fake Asterisk.

Admins change the rules through :class:`~callflow.service.rules.LineRules` (the one
path under the CLI, the API and the pages), here from another thread as they would be.
The adapter steps each event under the rules in force, tells every caller waiting in a
queue of a change at once, and renders the prompt files a change needs where Asterisk's
sounds directory is its to write (:mod:`callflow.providers.ari.live_sounds`).
"""

from __future__ import annotations

import asyncio
import shutil
import wave
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from callflow.config.load import load_config
from callflow.config.models import AriConfig
from callflow.engine.state import Menu
from callflow.engine.vocabulary import EventKind
from callflow.providers.ari.live_sounds import LiveSounds
from callflow.providers.ari.sounds import SoundFile
from callflow.providers.ari.speech import TOOLS, Renderer, espeak_renderer
from callflow.service.rules import LineRules
from callflow.store.models import Advisor, AdvisorState, CallEvent
from callflow.store.session import Database
from tests.cli.settings_helpers import run as run_command
from tests.fakes.ari_server import FakeAsterisk
from tests.providers.ari.adapter_rig import AdapterRig, running_line
from tests.providers.ari.lines import ari_line_file
from tests.providers.ari.rig import run
from tests.providers.ari.test_adapter import closed_in_store, queued_for_health
from tests.providers.ari.test_adapter_callbacks import offered_and_taken, played, requests
from tests.store.helpers import add_advisor

OUTAGE = {
    "fi": "Terveysaseman tietojärjestelmässä on häiriö.",
    "sv": "Det är en störning i hälsostationens datasystem.",
    "en": "The health centre's computer system is down.",
}
EMERGENCY_ON = {"texts": OUTAGE, "mode": "serve", "start": "2026-01-12T09:00:00"}
EMERGENCY = "sound:fi/callflow/emergency_line"
CLOSED_FOR_AN_HOUR = {
    "start": "2026-01-12T10:00:00",
    "end": "2026-01-12T11:00:00",
    "reason": "Staff meeting",
}


@pytest.fixture
def rules(tmp_path: Path, database: Database) -> LineRules:
    """The line's rules as ``callflow serve`` runs them: its file, settings stored over it."""
    return LineRules.load(load_config(ari_line_file(tmp_path)), database)


def section(rules: LineRules) -> AriConfig:
    assert rules.config.provider.ari is not None
    return rules.config.provider.ari


def speaking() -> Renderer:
    """As the line renders (espeak-ng and sox) where they are installed, else a second of
    silence per file, written where they would write it."""
    if all(shutil.which(tool) for tool in TOOLS):
        return espeak_renderer()

    def silence(file: SoundFile, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(target), "wb") as sound:
            sound.setnchannels(1)
            sound.setsampwidth(2)
            sound.setframerate(8000)
            sound.writeframes(b"\0\0" * 8000)

    return silence


async def change(rig: AdapterRig, rules: LineRules, key: str, value: Any) -> None:
    """An admin's change, made in another thread as the CLI's or the API's would be."""
    now = rig.clock.now()
    await asyncio.to_thread(rules.change, key, value, by="admin", now=now)


def outcomes(fake: FakeAsterisk, channel: str) -> list[tuple[list[str], str]]:
    """Each ARI playback on *channel*: its media, and how it finished."""
    finished = {
        event["playback"]["id"]: event["playback"]["state"]
        for _, event in fake.events_sent
        if event["type"] == "PlaybackFinished"
    }
    return [
        (request.query["media"].split(","), finished.get(request.query["playbackId"], ""))
        for request in fake.requests
        if request.operation == "channels.play" and channel in request.path
    ]


def kinds_logged(database: Database, call_id: str) -> list[EventKind]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(CallEvent.kind).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
            )
        )


async def at_topic_menu(rig: AdapterRig, number: str) -> str:
    """A caller dials in and picks Finnish; the channel, once the topic menu is asked."""
    channel = await rig.call_in(number)
    await rig.press(channel, "1")
    await rig.until(
        lambda: "sound:fi/callflow/topic_intro" in played(rig.fake, channel), "the topic menu"
    )
    return channel


def test_an_emergency_message_is_rendered_then_said_after_the_language_until_switched_off(
    fake_ari: FakeAsterisk, rules: LineRules, database: Database
) -> None:
    """Asterisk's sounds directory is ours to write: the message's files are rendered, and
    the next caller hears it after choosing Finnish, before the topic menu."""
    assert fake_ari.sounds_dir is not None
    fake_ari.sounds_dir.mkdir()
    sounds = LiveSounds(rules, section(rules), fake_ari.sounds_dir, render=speaking())

    async def scenario() -> None:
        async with (
            fake_ari,
            running_line(fake_ari, rules.config, database, rules=rules, sounds=sounds) as rig,
        ):
            with capture_logs() as logs:
                await change(rig, rules, "emergency.line", EMERGENCY_ON)
                await rig.until(lambda: not sounds.unverified(), "the message rendered")
            (rendered,) = [log for log in logs if log["event"] == "ari.prompts_rendered"]
            assert sorted(rendered["rendered"]) == [
                f"{code}/callflow/emergency_line" for code in ("en", "fi", "sv")
            ]
            told = await at_topic_menu(rig, "+358401000001")
            heard = [media for media, state in outcomes(fake_ari, told) if state == "done"]
            assert [EMERGENCY] in heard, "played from the rendered file, to its end"
            said = played(fake_ari, told)
            assert said.index("sound:fi/callflow/greeting") < said.index(EMERGENCY)
            assert said.index(EMERGENCY) < said.index("sound:fi/callflow/topic_intro")

            await change(rig, rules, "emergency.line", None)
            untold = await at_topic_menu(rig, "+358401000002")
            assert EMERGENCY not in played(fake_ari, untold)

    run(scenario())


def test_where_the_files_cannot_be_rendered_a_build_is_asked_for_and_the_rest_is_heard(
    fake_ari: FakeAsterisk, rules: LineRules, database: Database, tmp_path: Path
) -> None:
    """Serve runs away from Asterisk: the message's files are named in the log, to be built
    there. A caller returning with an open callback hears the greeting, the message's
    file fails (Asterisk lacks it) alone, and the question about their callback follows."""
    elsewhere = LiveSounds(rules, section(rules), tmp_path / "not-asterisk")

    async def scenario() -> None:
        async with (
            fake_ari,
            running_line(fake_ari, rules.config, database, rules=rules, sounds=elsewhere) as rig,
        ):
            first = await offered_and_taken(rig)
            await rig.press(first, "1")
            await rig.until(lambda: bool(requests(database)), "a callback stored")
            await closed_in_store(rig, database, first)

            with capture_logs() as logs:
                await change(rig, rules, "emergency.line", EMERGENCY_ON)
                await rig.until(lambda: bool(elsewhere.unverified()), "the change followed")
            (asked,) = [log for log in logs if log["event"] == "ari.prompts_to_build"]
            assert "fi/callflow/emergency_line" in asked["files"]
            assert "callflow prompts build" in asked["fix"]

            again = await rig.call_in()
            await rig.until(lambda: rig.call(again).state.menu is Menu.PENDING, "the question")
            await rig.until(lambda: len(outcomes(fake_ari, again)) == 3, "three playbacks")
            await rig.until(lambda: all(state for _, state in outcomes(fake_ari, again)))
            (greeting, message, question) = outcomes(fake_ari, again)
            assert greeting == (["sound:fi/callflow/greeting"], "done")
            assert message == ([EMERGENCY], "failed")
            assert question[1] == "done" and "pending_exists" in question[0][0]
            await rig.press(again, "1")  # keep it
            assert (await closed_in_store(rig, database, again)).outcome == "callback_kept"

    run(scenario())


def test_a_queue_threshold_changed_live_changes_the_next_offer(
    fake_ari: FakeAsterisk, rules: LineRules, database: Database
) -> None:
    """Eight busy nurses: the second caller's wait is short and one caller is ahead, under
    health's threshold of three; at one caller ahead, their next announcement offers a
    callback."""
    with database.transaction() as session:
        for n in range(8):
            nurse = session.get(Advisor, add_advisor(session, f"Nurse {n}"))
            assert nurse is not None
            nurse.state = AdvisorState.BUSY

    def said(channel: str, prompt: str) -> bool:
        return any(f"/{prompt}-" in medium for medium in played(fake_ari, channel))

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, rules.config, database, rules=rules) as rig:
            await queued_for_health(rig, "+358401000001")
            second = await queued_for_health(rig, "+358401000002")
            await rig.until(lambda: said(second, "queue_position"), "the first announcement")
            assert not said(second, "offer_callback")

            await change(rig, rules, "queues.health.overflow.queue_length", 1)
            await rig.until(lambda: said(second, "offer_callback"), "offered at the next one")
            assert rig.call(second).state.menu is Menu.OFFER

    run(scenario())


def test_a_closure_stored_while_a_caller_waits_applies_the_closing_policy_at_once(
    fake_ari: FakeAsterisk, database: Database, tmp_path: Path
) -> None:
    """Health turns its queued callers into callbacks when it closes: a closure from now
    does so before the caller's next announcement, keeping their place, dropping nobody.
    Announcements ten minutes apart (six real seconds here): "at once" must not depend on
    how busy the machine running the test is."""
    line_file = ari_line_file(tmp_path)
    text = line_file.read_text(encoding="utf-8")
    assert 'announce_interval = "60s"' in text
    line_file.write_text(
        text.replace('announce_interval = "60s"', 'announce_interval = "10m"'), "utf-8"
    )
    rules = LineRules.load(load_config(line_file), database)

    async def scenario() -> None:
        async with fake_ari, running_line(fake_ari, rules.config, database, rules=rules) as rig:
            channel = await queued_for_health(rig)
            call = rig.call(channel)
            await rig.until(lambda: call.state.menu is Menu.OFFER, "the first announcement")
            await rig.press(channel, "2")  # no, thank you: waiting with music
            await rig.until(lambda: call.state.menu is None and call.state.in_queue, "waiting")
            next_announcement = call.state.announce_at
            assert next_announcement is not None

            await change(rig, rules, "calendar.closures.2026-01-12T10:00", CLOSED_FOR_AN_HOUR)
            await rig.until(lambda: call.state.menu is Menu.READBACK, "the number read back")
            assert rig.clock.now() < next_announcement, "told at once, not at the next turn"
            assert channel not in fake_ari.model.bridges["cf-queue-health"].channels
            await rig.press(channel, "1")
            await rig.until(lambda: bool(requests(database)), "the callback stored")
            (request,) = requests(database)
            assert request.queue_entered_at == call.state.queue_entered_at
            assert (await closed_in_store(rig, database, channel)).outcome == "callback_requested"
            assert EventKind.CLOSING_TIME in kinds_logged(database, call.state.call_id)

    run(scenario())


def test_an_emergency_message_switched_on_and_off_with_the_command_line(
    fake_ari: FakeAsterisk, rules: LineRules, database: Database, tmp_path: Path
) -> None:
    """``callflow emergency on`` run on the Asterisk host, against the line's database: the
    running line hears of it, renders the message and the next caller hears it; ``off``,
    and the one after does not."""
    assert fake_ari.sounds_dir is not None
    fake_ari.sounds_dir.mkdir()
    sounds = LiveSounds(rules, section(rules), fake_ari.sounds_dir, render=speaking())
    url = database.engine.url.render_as_string(hide_password=False)

    async def command(*args: str) -> None:
        result = await asyncio.to_thread(
            run_command, url, "emergency", *args, config=ari_line_file(tmp_path)
        )
        assert result.exit_code == 0, result.output
        assert await asyncio.to_thread(rules.refresh)  # as following the store does

    async def scenario() -> None:
        async with (
            fake_ari,
            running_line(fake_ari, rules.config, database, rules=rules, sounds=sounds) as rig,
        ):
            texts = [f"--text={code}={text}" for code, text in OUTAGE.items()]
            await command("on", *texts, "--from", "2026-01-12 09:00")
            await rig.until(lambda: not sounds.unverified(), "the message rendered")
            told = await at_topic_menu(rig, "+358401000001")
            assert EMERGENCY in played(fake_ari, told)

            await command("off")
            untold = await at_topic_menu(rig, "+358401000002")
            assert EMERGENCY not in played(fake_ari, untold)

    run(scenario())
