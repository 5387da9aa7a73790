"""Rendering sound files: recordings are never touched, our own renders follow their texts."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from callflow.errors import CallflowError
from callflow.providers.ari.sounds import SoundFile
from callflow.providers.ari.speech import MANIFEST, Outcome, build_sounds, espeak_renderer
from tests.conftest import IN_CI

GREETING = SoundFile("fi/callflow/greeting", "fi", "Tervetuloa.")
GOODBYE = SoundFile("fi/callflow/goodbye", "fi", "Näkemiin.")
SEVEN = SoundFile("fi/callflow/number-7", "fi", "seitsemän")
HAVE_TOOLS = all(shutil.which(tool) for tool in ("espeak-ng", "sox"))


def written(file: SoundFile, target: Path) -> None:
    """A stand-in renderer: the text as the file's bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(file.text)


class TestWhatIsRendered:
    def test_missing_files_are_rendered_and_listed_as_ours(self, tmp_path: Path) -> None:
        report = build_sounds([GREETING, SEVEN], tmp_path, render=written)
        assert report.named(Outcome.RENDERED) == [GREETING.name, SEVEN.name]
        assert (tmp_path / "fi/callflow/number-7.wav").read_text() == "seitsemän"
        assert GREETING.name in (tmp_path / MANIFEST).read_text()

    def test_a_recording_in_any_format_is_kept(self, tmp_path: Path) -> None:
        recorded = tmp_path / "fi/callflow/greeting.gsm"
        recorded.parent.mkdir(parents=True)
        recorded.write_bytes(b"a nurse's voice")
        report = build_sounds([GREETING], tmp_path, force=True, render=written)
        assert report.named(Outcome.RECORDING) == [GREETING.name]
        assert recorded.read_bytes() == b"a nurse's voice"
        assert not (tmp_path / "fi/callflow/greeting.wav").exists()

    def test_a_recording_over_our_render_is_kept_even_with_force(self, tmp_path: Path) -> None:
        build_sounds([GREETING], tmp_path, render=written)
        ours = tmp_path / "fi/callflow/greeting.wav"
        ours.write_bytes(b"RIFF a recording")
        report = build_sounds([GREETING], tmp_path, force=True, render=written)
        assert report.named(Outcome.RECORDING) == [GREETING.name]
        assert ours.read_bytes() == b"RIFF a recording"

    def test_our_render_follows_a_changed_text(self, tmp_path: Path) -> None:
        build_sounds([GREETING, GOODBYE], tmp_path, render=written)
        changed = SoundFile(GREETING.name, "fi", "Hyvää päivää.")
        report = build_sounds([changed, GOODBYE], tmp_path, render=written)
        assert report.named(Outcome.UPDATED) == [GREETING.name]
        assert report.named(Outcome.CURRENT) == [GOODBYE.name]
        assert (tmp_path / "fi/callflow/greeting.wav").read_text() == "Hyvää päivää."

    def test_force_renders_our_own_again(self, tmp_path: Path) -> None:
        build_sounds([GREETING], tmp_path, render=written)
        report = build_sounds([GREETING], tmp_path, force=True, render=written)
        assert report.named(Outcome.UPDATED) == [GREETING.name]

    def test_nothing_to_say_needs_no_tools(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        build_sounds([GREETING], tmp_path, render=written)
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        assert build_sounds([GREETING], tmp_path).named(Outcome.CURRENT) == [GREETING.name]


class TestEspeak:
    def test_missing_tools_are_named_with_how_to_install_them(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        with pytest.raises(CallflowError, match="apt-get install espeak-ng sox"):
            build_sounds([GREETING], tmp_path)

    @pytest.mark.skipif(not HAVE_TOOLS and not IN_CI, reason="espeak-ng and sox not installed")
    def test_a_render_is_telephone_audio(self, tmp_path: Path) -> None:
        """8 kHz, mono, 16-bit, and it says something."""
        build_sounds([GREETING, SEVEN], tmp_path)
        for name in (GREETING.name, SEVEN.name):
            with wave.open(str(tmp_path / f"{name}.wav")) as audio:
                assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (
                    8000,
                    1,
                    2,
                )
                assert audio.getnframes() > 8000 * 0.2
        assert not list(tmp_path.rglob("*.partial"))

    @pytest.mark.skipif(not HAVE_TOOLS and not IN_CI, reason="espeak-ng and sox not installed")
    def test_a_language_espeak_cannot_speak_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(CallflowError, match="espeak-ng --voices"):
            espeak_renderer()(SoundFile("xq/callflow/greeting", "xq", "Hei."), tmp_path / "g.wav")
