"""Sound files for a fresh line, spoken by espeak-ng and made telephone-ready by sox.

``callflow prompts build`` renders each :class:`~callflow.providers.ari.sounds.SoundFile`
that has no file yet to ``<out>/<name>.wav``: 8 kHz, mono, 16-bit, as
Asterisk plays without transcoding on a telephone line. The voice is
espeak-ng's voice for the language code (``espeak-ng --voices`` lists them).

Admins replace renders with recordings, so a file is only ever rewritten
when it is provably our own render: the manifest ``<out>/.callflow-prompts.json``
records the text and the SHA-256 of every file we wrote. Any other file of
that name, in any format (``greeting.gsm``, ``greeting.wav`` recorded over
ours), is a recording and is kept. Our own render is rewritten when its
text has changed in the configuration, and with ``force`` always.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from callflow.errors import CallflowError
from callflow.providers.ari.sounds import SoundFile

ASTERISK_SOUNDS = Path("/var/lib/asterisk/sounds")
"""Asterisk's sounds directory, where the files go on the Asterisk host."""
MANIFEST = ".callflow-prompts.json"
TOOLS = ("espeak-ng", "sox")
INSTALL = "apt-get install espeak-ng sox"
TELEPHONE = ("-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer")


class Outcome(StrEnum):
    RENDERED = "rendered"
    """There was no file: ours now."""
    UPDATED = "updated"
    """Our own render, said again: its text changed (or ``force``)."""
    RECORDING = "recording"
    """A file we did not write: kept as it is."""
    CURRENT = "current"
    """Our own render of the same text: kept."""


@dataclass
class BuildReport:
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def named(self, outcome: Outcome) -> list[str]:
        return [name for name, found in self.outcomes.items() if found is outcome]


Renderer = Callable[[SoundFile, Path], None]


def build_sounds(
    files: Sequence[SoundFile],
    out: Path,
    *,
    force: bool = False,
    render: Renderer | None = None,
    progress: Callable[[str, Outcome], None] | None = None,
) -> BuildReport:
    """Render what *files* lack under *out*; see the module docstring. *render* writes one
    file (espeak-ng and sox by default, checked for only when something is to be said);
    *progress* hears of each file rendered or updated."""
    manifest = _read_manifest(out)
    report = BuildReport()
    speak = render
    try:
        for file in files:
            outcome = _outcome(file, out, manifest, force)
            if outcome in (Outcome.RENDERED, Outcome.UPDATED):
                if speak is None:
                    speak = espeak_renderer()
                target = out / f"{file.name}.wav"
                speak(file, target)
                manifest[file.name] = {"text": file.text, "sha256": _digest(target)}
                if progress is not None:
                    progress(file.name, outcome)
            report.outcomes[file.name] = outcome
    finally:
        _write_manifest(out, manifest)
    return report


def _outcome(
    file: SoundFile, out: Path, manifest: dict[str, dict[str, str]], force: bool
) -> Outcome:
    target = out / f"{file.name}.wav"
    existing = [
        p
        for p in target.parent.glob(f"{glob.escape(target.stem)}.*")
        if p.stem == target.stem and not p.name.startswith(".")
    ]
    if not existing:
        return Outcome.RENDERED
    ours = manifest.get(file.name)
    if existing != [target] or ours is None or ours.get("sha256") != _digest(target):
        return Outcome.RECORDING
    if force or ours.get("text") != file.text:
        return Outcome.UPDATED
    return Outcome.CURRENT


def espeak_renderer() -> Renderer:
    """Render with espeak-ng and sox; :class:`CallflowError` naming what to install when
    either is missing."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise CallflowError(
            f"{' and '.join(missing)} not found: prompts are rendered with espeak-ng and sox. "
            f"Install them ({INSTALL} on Debian or Ubuntu), or record every file yourself."
        )

    def render(file: SoundFile, target: Path) -> None:
        voice = file.language
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="callflow-prompt-") as scratch:
            spoken = Path(scratch) / "spoken.wav"
            _run(
                ["espeak-ng", "-b", "1", "--stdin", "-v", voice, "-w", str(spoken)],
                file,
                stdin=file.text,
                hint=f"is {voice!r} an espeak-ng voice? `espeak-ng --voices` lists them",
            )
            partial = target.with_name(f".{target.name}.partial")
            _run(["sox", str(spoken), *TELEPHONE, "-t", "wav", str(partial)], file)
            os.replace(partial, target)  # Asterisk never sees half a file

    return render


RENDER_TIMEOUT_S = 60
"""Seconds one espeak-ng or sox run may take (a prompt takes well under one): a tool that
hangs must not hold a line's renders, or its shutdown, for ever."""


def _run(command: list[str], file: SoundFile, *, stdin: str = "", hint: str = "") -> None:
    try:
        done = subprocess.run(
            command,
            input=stdin.encode(),
            capture_output=True,
            check=False,
            timeout=RENDER_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise CallflowError(
            f"{command[0]} took over {RENDER_TIMEOUT_S} s for {file.name} and was stopped"
        ) from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip()
        advice = f"; {hint}" if hint else ""
        raise CallflowError(
            f"{command[0]} failed for {file.name} (exit {done.returncode}): {said}{advice}"
        )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_manifest(out: Path) -> dict[str, dict[str, str]]:
    path = out / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except ValueError as exc:
        raise CallflowError(
            f"{path} is not the manifest callflow wrote ({exc}); move it away to start afresh "
            "(every file there then counts as a recording)"
        ) from exc
    if not isinstance(data, dict):
        raise CallflowError(f"{path} is not the manifest callflow wrote; move it away")
    return data


def _write_manifest(out: Path, manifest: dict[str, dict[str, str]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    partial = path.with_name(f"{MANIFEST}.partial")
    partial.write_text(json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False), "utf-8")
    os.replace(partial, path)
