"""Asterisk at run time: the ``[provider.ari]`` section and the ARI password.

The section is checked with the rest of the file; what it must agree with
elsewhere and the password, which comes from the environment, are checked
here, when the provider (or ``callflow ari doctor``) starts, so nothing
talks to Asterisk with a configuration that would stumble at the first
caller. Prompt keys and queue names become sound file names and media URIs
(:mod:`callflow.providers.ari.sounds`): a comma would split ARI's media
list and a slash would point into another directory, so they are held to
plain names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callflow.config.models import AriConfig, HotlineConfig
from callflow.errors import MISSING, ConfigError, Problem
from callflow.providers.ari.calls import APOLOGY
from callflow.providers.ari.client import AriClient
from callflow.providers.ari.sounds import number_problems

PASSWORD_ENV = "ARI_PASSWORD"
SOUND_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class AriSettings:
    """Everything needed to reach this line's Asterisk; the password is never shown."""

    config: HotlineConfig
    ari: AriConfig
    password: str = field(repr=False)

    @classmethod
    def from_environment(
        cls, config: HotlineConfig, environ: Mapping[str, str] | None = None
    ) -> AriSettings:
        """Settings for *config*'s Asterisk with the password from ``ARI_PASSWORD``;
        :class:`ConfigError` listing every problem if it cannot work."""
        source = str(config.source or "configuration")
        section = config.provider.ari
        if section is None:
            raise ConfigError(source, [_MISSING_SECTION])
        problems = section_problems(config)
        env = os.environ if environ is None else environ
        password = env.get(PASSWORD_ENV, "")
        if not password.strip():
            problems.append(
                Problem(
                    PASSWORD_ENV,
                    MISSING,
                    f"set the environment variable to the password of ARI user "
                    f"{section.username!r} in Asterisk's ari.conf",
                )
            )
        if problems:
            raise ConfigError(source, problems)
        return cls(config, section, password)

    def client(self, **options: Any) -> AriClient:
        """A client for the line's Stasis application; *options* go to :class:`AriClient`."""
        return AriClient(self.ari.url, self.ari.username, self.password, self.ari.app, **options)


def ari_section(config: HotlineConfig) -> AriConfig:
    """*config*'s ``[provider.ari]``, for what needs no password (``callflow prompts
    build``); :class:`ConfigError` when it is missing or names unfit for sound files."""
    section = config.provider.ari
    problems = [_MISSING_SECTION] if section is None else section_problems(config)
    if problems or section is None:
        raise ConfigError(str(config.source or "configuration"), problems)
    return section


_MISSING_SECTION = Problem(
    "provider.ari",
    MISSING,
    "this line has no Asterisk; add a [provider.ari] section (config/hotline.toml shows one)",
)


def section_problems(config: HotlineConfig) -> list[Problem]:
    """Names that cannot become sound files (prompt keys and queue names), and languages
    whose numbers we cannot say."""
    problems = number_problems(config)
    for code in config.languages:
        if APOLOGY not in config.languages[code].prompts:
            problems.append(
                Problem(
                    f"languages.{code}.prompts.{APOLOGY}",
                    MISSING,
                    "an Asterisk line needs this prompt: the apology a caller hears when their "
                    "call fails on our side, before [provider.ari] on_failure sends them on",
                )
            )
    allowed = "a sound file name: letters, digits, '_' and '-' only"
    for code in config.languages:
        for key in config.languages[code].prompts:
            if not SOUND_NAME.fullmatch(key):
                problems.append(Problem(f"languages.{code}.prompts", key, allowed))
    for name in config.queues:
        if not SOUND_NAME.fullmatch(name):
            problems.append(Problem(f"queues.{name}", name, allowed))
    return problems
