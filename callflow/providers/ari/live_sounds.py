"""Sound files for the prompts changed while the line runs.

Asterisk plays files (:mod:`callflow.providers.ari.sounds`), so a prompt text an
admin changes live, or an emergency message switched on (said as the prompt
``emergency_<scope>``), says nothing new until its files are rendered. Where the
adapter runs on the Asterisk host (Asterisk's sounds directory is here and we may
write to it), it renders the files whose text changed itself, in a thread, as
``callflow prompts build`` does (:func:`~callflow.providers.ari.speech.build_sounds`:
our own renders are said again, recordings are kept), and logs what it rendered.
Elsewhere it logs, once per change, that ``callflow prompts build`` must be run on the
Asterisk host, naming the files.

A changed file is *unverified* until rendered here: a call plays its prompt in an ARI
playback of its own (:func:`~callflow.providers.ari.playbacks.chunks`), so a file
Asterisk lacks fails alone and the caller hears everything around it. Asterisk's
sound index cannot tell: it is read when Asterisk starts or reloads, not when a file
appears.

The files of the line's file are taken to be there, as at any start (``callflow ari
doctor`` checks them); the settings stored before this process started (a prompt
text, an emergency message) are changes from the file and treated as such at start.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence, Set
from pathlib import Path

import structlog

from callflow.config.models import AriConfig, HotlineConfig
from callflow.errors import CallflowError, ConfigError
from callflow.providers.ari.sounds import SoundFile, sound_files
from callflow.providers.ari.speech import (
    ASTERISK_SOUNDS,
    BuildReport,
    Outcome,
    Renderer,
    build_sounds,
)
from callflow.service.rules import LineRules

log = structlog.get_logger("callflow.ari")

BUILD = "run `callflow prompts build` on the Asterisk host"


class LiveSounds:
    """The sound files of the rules in force, kept on Asterisk as far as this process can.

    Used on the adapter's event loop: :meth:`unverified` as a call plays, :meth:`follow`
    when the rules change.
    """

    def __init__(
        self,
        rules: LineRules,
        ari: AriConfig,
        sounds_dir: Path = ASTERISK_SOUNDS,
        *,
        render: Renderer | None = None,
    ) -> None:
        self._rules = rules
        self._ari = ari
        self.sounds_dir = sounds_dir
        self._render = render
        """How a file is rendered (espeak-ng and sox unless told)."""
        self._seen = rules.baseline
        self._files = self._files_of(self._seen) or {}
        """Each file by name, as last rendered or taken to be there."""
        self._unverified: set[str] = set()
        self._renders: set[asyncio.Task[None]] = set()
        self._building = threading.Lock()
        """Renders take turns: the newest text of a file is the one left there."""

    def unverified(self) -> Set[str]:
        """The sound names (``fi/callflow/greeting``) that may not be on Asterisk yet."""
        self.follow()
        return self._unverified

    def follow(self) -> None:
        """Catch up with the rules in force: render (or ask for) the files they changed."""
        config = self._rules.config
        if config is self._seen:
            return
        self._seen = config
        files = self._files_of(config)
        if files is None:
            return
        changed = [file for name, file in files.items() if self._files.get(name) != file]
        self._files = files
        if not changed:
            return
        self._unverified.update(file.name for file in changed)
        if not _writable(self.sounds_dir):
            log.warning(
                "ari.prompts_to_build",
                files=[file.name for file in changed],
                why=f"the prompts changed and {self.sounds_dir} is not on this host or "
                "not ours to write",
                fix=BUILD,
            )
            return
        task = asyncio.get_running_loop().create_task(self._rendered(changed))
        self._renders.add(task)
        task.add_done_callback(self._renders.discard)

    async def settled(self) -> None:
        """Once the renders under way are over."""
        while self._renders:
            await asyncio.wait(set(self._renders))

    async def _rendered(self, files: Sequence[SoundFile]) -> None:
        names = [file.name for file in files]
        try:
            report = await asyncio.to_thread(self._build, files)
        except (CallflowError, OSError) as exc:
            log.warning("ari.prompts_not_rendered", files=names, error=str(exc), fix=BUILD)
            return
        self._unverified.difference_update(report.outcomes)
        log.info(
            "ari.prompts_rendered",
            rendered=report.named(Outcome.RENDERED) + report.named(Outcome.UPDATED),
            recordings_kept=report.named(Outcome.RECORDING),
            into=str(self.sounds_dir),
        )

    def _build(self, files: Sequence[SoundFile]) -> BuildReport:
        with self._building:
            return build_sounds(files, self.sounds_dir, render=self._render)

    def _files_of(self, config: HotlineConfig) -> dict[str, SoundFile] | None:
        try:
            files = sound_files(config, self._ari)
        except ConfigError as exc:  # a file read again with a language Asterisk cannot say
            log.error("ari.prompts_unsayable", problems=[str(p) for p in exc.problems])
            return None
        return {file.name: file for file in files}


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK)
