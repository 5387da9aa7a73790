"""``callflow prompts build``: a fresh Asterisk line speaks, recordings stay."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callflow.cli import main, prompts_cmd
from callflow.config.load import load_config
from callflow.providers.ari.settings import ari_section
from callflow.providers.ari.sounds import sound_files
from tests.conftest import EXAMPLE_CONFIG, IN_CI
from tests.providers.ari.lines import ari_line_file
from tests.providers.ari.test_speech import HAVE_TOOLS

SAID = ("fi/callflow/greeting", "sv/callflow/offer_callback-2", "en/callflow/number-40")


def build(*args: str) -> Result:
    return CliRunner().invoke(main, ["prompts", "build", *args])


@pytest.mark.skipif(not HAVE_TOOLS and not IN_CI, reason="espeak-ng and sox not installed")
def test_what_has_no_recording_is_rendered_once(tmp_path: Path) -> None:
    """Every file but three is recorded already: those three are rendered as telephone
    audio, the recordings are kept, and a second run has nothing to do."""
    config_file = ari_line_file(tmp_path)
    config = load_config(config_file)
    out = tmp_path / "sounds"
    for file in sound_files(config, ari_section(config)):
        if file.name not in SAID:
            recording = out / f"{file.name}.gsm"
            recording.parent.mkdir(parents=True, exist_ok=True)
            recording.write_bytes(b"recorded")

    first = build("--config", str(config_file), "--out", str(out))
    assert first.exit_code == 0, first.output
    assert sorted(line.split()[1] for line in first.output.splitlines()[:-1]) == sorted(SAID)
    assert "3 rendered, 0 updated, 0 our own and current, " in first.output
    for name in SAID:
        with wave.open(str(out / f"{name}.wav")) as audio:
            assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (
                8000,
                1,
                2,
            )
            assert audio.getnframes() > 0
    assert (out / "fi/callflow/goodbye.gsm").read_bytes() == b"recorded"

    again = build("--config", str(config_file), "--out", str(out))
    assert again.exit_code == 0, again.output
    assert "0 rendered, 0 updated, 3 our own and current, " in again.output


def test_without_out_the_asterisk_sounds_folder_must_be_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompts_cmd, "ASTERISK_SOUNDS", tmp_path / "no-asterisk-here")
    result = build("--config", str(ari_line_file(tmp_path)))
    assert result.exit_code == 2
    assert "--out DIR" in result.output


def test_a_line_without_asterisk_is_a_configuration_problem(tmp_path: Path) -> None:
    result = build("--config", str(EXAMPLE_CONFIG), "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "provider.ari" in result.output


def test_a_language_whose_numbers_we_cannot_say_is_refused(tmp_path: Path) -> None:
    """The English prompts as German ones would have their numbers said by nobody: the
    build names the language and what can be done, and renders nothing."""
    config_file = ari_line_file(tmp_path)
    text = config_file.read_text(encoding="utf-8")
    text = text.replace("[languages.en", "[languages.de").replace(" en = ", " de = ")
    text = text.replace("\nen = ", "\nde = ")  # the web page's consent, in the same language
    config_file.write_text(text.replace('"en"', '"de"'), encoding="utf-8")
    out = tmp_path / "sounds"
    result = build("--config", str(config_file), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert "1 problem(s)" in result.output
    assert "languages.de: 'de' — numbers in this language cannot be said" in result.output
    assert not out.exists()
