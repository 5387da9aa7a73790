"""Prompt files for the rules in force: what a change renders, and how a prompt whose file
may be missing is played (:mod:`callflow.providers.ari.live_sounds`,
:func:`callflow.providers.ari.playbacks.chunks`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from callflow.config.load import load_config
from callflow.config.models import AriConfig
from callflow.engine.prompts import PromptRef, prompt
from callflow.errors import CallflowError
from callflow.providers.ari.live_sounds import LiveSounds
from callflow.providers.ari.playbacks import MOST_PLAYBACKS, chunks
from callflow.providers.ari.sounds import SoundFile
from callflow.service.rules import LineRules
from callflow.store.session import Database
from tests.providers.ari.lines import ari_line_file
from tests.store.helpers import T0

OUTAGE = {"fi": "Häiriö.", "sv": "Störning.", "en": "An outage."}
EMERGENCY_ON = {"texts": OUTAGE, "start": "2026-01-12T09:00:00"}
EMERGENCY = "fi/callflow/emergency_line"


@pytest.fixture
def rules(tmp_path: Path, database: Database) -> LineRules:
    return LineRules.load(load_config(ari_line_file(tmp_path)), database)


def section(rules: LineRules) -> AriConfig:
    assert rules.config.provider.ari is not None
    return rules.config.provider.ari


class Voice:
    """Renders a file as its text, and remembers what it was asked to say."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def __call__(self, file: SoundFile, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.text, encoding="utf-8")
        self.said.append(file.name)


def followed(sounds: LiveSounds) -> None:
    """What the rules in force need, rendered (in the event loop the line runs in)."""

    async def follow() -> None:
        sounds.follow()
        await sounds.settled()

    asyncio.run(follow())


class TestChunks:
    def test_prompts_are_one_playback(self, rules: LineRules) -> None:
        refs = (prompt("greeting", "fi"), prompt("topic_intro", "fi"))
        (one,) = chunks("ch", "p1", refs, rules.config, section(rules))
        assert one.media == ("sound:fi/callflow/greeting", "sound:fi/callflow/topic_intro")

    def test_a_prompt_whose_file_may_be_missing_is_a_playback_of_its_own(
        self, rules: LineRules
    ) -> None:
        rules.change("emergency.line", EMERGENCY_ON, by="admin", now=T0)
        refs = (
            prompt("greeting", "fi"),
            prompt("emergency_line", "fi"),
            prompt("topic_intro", "fi"),
            prompt("goodbye", "fi"),
        )
        pieces = chunks("ch", "p1", refs, rules.config, section(rules), {EMERGENCY})
        assert [piece.media for piece in pieces] == [
            ("sound:fi/callflow/greeting",),
            ("sound:fi/callflow/emergency_line",),
            ("sound:fi/callflow/topic_intro", "sound:fi/callflow/goodbye"),
        ]
        assert [piece.playback_id for piece in pieces] == ["ch~p1~0", "ch~p1~1", "ch~p1~2"]

    def test_no_more_playbacks_than_a_restart_looks_for(self, rules: LineRules) -> None:
        refs = tuple(PromptRef("greeting", "fi") for _ in range(MOST_PLAYBACKS + 3))
        pieces = chunks("ch", "p1", refs, rules.config, section(rules), {"fi/callflow/greeting"})
        assert len(pieces) == MOST_PLAYBACKS
        assert len(pieces[-1].media) == 4


class TestLiveSounds:
    def test_a_change_renders_only_the_files_whose_text_changed(
        self, rules: LineRules, tmp_path: Path
    ) -> None:
        voice = Voice()
        sounds = LiveSounds(rules, section(rules), tmp_path, render=voice)
        rules.change("languages.fi.prompts.goodbye", "Hei hei.", by="admin", now=T0)
        with capture_logs() as logs:
            followed(sounds)
        assert voice.said == ["fi/callflow/goodbye"]
        assert (tmp_path / "fi/callflow/goodbye.wav").read_text(encoding="utf-8") == "Hei hei."
        assert not sounds.unverified()
        (rendered,) = [log for log in logs if log["event"] == "ari.prompts_rendered"]
        assert rendered["rendered"] == ["fi/callflow/goodbye"]

    def test_settings_stored_before_the_start_are_rendered_at_the_start(
        self, rules: LineRules, tmp_path: Path
    ) -> None:
        rules.change("emergency.line", EMERGENCY_ON, by="admin", now=T0)
        voice = Voice()
        followed(LiveSounds(rules, section(rules), tmp_path, render=voice))
        assert sorted(voice.said) == [f"{code}/callflow/emergency_line" for code in sorted(OUTAGE)]

    def test_a_recording_is_kept_and_said_to_be(self, rules: LineRules, tmp_path: Path) -> None:
        recording = tmp_path / "fi/callflow/goodbye.gsm"
        recording.parent.mkdir(parents=True)
        recording.write_bytes(b"recorded")
        voice = Voice()
        sounds = LiveSounds(rules, section(rules), tmp_path, render=voice)
        rules.change("languages.fi.prompts.goodbye", "Hei hei.", by="admin", now=T0)
        with capture_logs() as logs:
            followed(sounds)
        assert voice.said == [] and recording.read_bytes() == b"recorded"
        (rendered,) = [log for log in logs if log["event"] == "ari.prompts_rendered"]
        assert rendered["recordings_kept"] == ["fi/callflow/goodbye"]

    def test_a_render_that_fails_is_logged_and_the_file_stays_unverified(
        self, rules: LineRules, tmp_path: Path
    ) -> None:
        def mute(file: SoundFile, target: Path) -> None:
            raise CallflowError("espeak-ng and sox not found")

        sounds = LiveSounds(rules, section(rules), tmp_path, render=mute)
        rules.change("emergency.line", EMERGENCY_ON, by="admin", now=T0)
        with capture_logs() as logs:
            followed(sounds)
        (failed,) = [log for log in logs if log["event"] == "ari.prompts_not_rendered"]
        assert "espeak-ng" in failed["error"] and "callflow prompts build" in failed["fix"]
        assert EMERGENCY in sounds.unverified()

    def test_where_asterisks_sounds_are_not_here_a_build_is_asked_for(
        self, rules: LineRules, tmp_path: Path
    ) -> None:
        voice = Voice()
        sounds = LiveSounds(rules, section(rules), tmp_path / "elsewhere", render=voice)
        rules.change("emergency.line", EMERGENCY_ON, by="admin", now=T0)
        with capture_logs() as logs:
            followed(sounds)
            followed(sounds)  # nothing new: asked once
        (asked,) = [log for log in logs if log["event"] == "ari.prompts_to_build"]
        expected = [f"{code}/callflow/emergency_line" for code in sorted(OUTAGE)]
        assert sorted(asked["files"]) == expected
        assert voice.said == [] and EMERGENCY in sounds.unverified()
