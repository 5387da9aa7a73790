"""Twilio at run time: the ``[provider.twilio]`` section, the account's secrets, the URLs.

The section is checked with the rest of the file; what it must agree with
elsewhere (a voice for every language, recordings only for prompts that
exist and take no placeholders) and the secrets, which come from the
environment, are checked here, when the provider starts, so ``callflow
serve`` refuses to run a line that would stumble at its first caller.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from callflow.config.models import PROMPT_PLACEHOLDERS, HotlineConfig, TwilioConfig
from callflow.errors import MISSING, ConfigError, Problem

ACCOUNT_SID_ENV = "TWILIO_ACCOUNT_SID"
AUTH_TOKEN_ENV = "TWILIO_AUTH_TOKEN"
ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    """The account whose number this is; the token signs webhooks and REST requests."""

    sid: str
    auth_token: str = field(repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> TwilioAccount:
        """The account from ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN``."""
        env = os.environ if environ is None else environ
        sid = env.get(ACCOUNT_SID_ENV, "").strip()
        token = env.get(AUTH_TOKEN_ENV, "").strip()
        problems = []
        if not ACCOUNT_SID.fullmatch(sid):
            problems.append(
                Problem(
                    ACCOUNT_SID_ENV,
                    MISSING if not sid else "(not shown)",
                    "set it to the account SID from the Twilio console: AC and 32 hex digits",
                )
            )
        if not token:
            problems.append(Problem(AUTH_TOKEN_ENV, MISSING, "set it to the account's auth token"))
        if problems:
            raise ConfigError("environment", problems)
        return cls(sid, token)


@dataclass(frozen=True, slots=True)
class TwilioSettings:
    """Everything the webhooks, the dialler and the connector need to know."""

    config: HotlineConfig
    account: TwilioAccount
    verify_signatures: bool = True
    """False only with the explicit development flag: any request is then believed."""

    @property
    def twilio(self) -> TwilioConfig:
        section = self.config.provider.twilio
        assert section is not None, "TwilioSettings are made only for a Twilio line"
        return section

    def url(self, path: str, **query: str | int) -> str:
        """The absolute URL of *path* as Twilio must call it (the one it will sign)."""
        tail = f"?{urlencode(query)}" if query else ""
        return f"{self.twilio.public_url}{path}{tail}"

    def queue_name(self, topic: str) -> str:
        """The Twilio queue of *topic*: one per topic, created by Twilio on first use."""
        return f"{self.twilio.queue_prefix}{topic}"


def twilio_settings(
    config: HotlineConfig,
    account: TwilioAccount,
    *,
    verify_signatures: bool = True,
) -> TwilioSettings:
    """Settings for *config*'s Twilio line; :class:`ConfigError` if it cannot work."""
    section = config.provider.twilio
    if section is None:
        raise ConfigError(
            "configuration", [Problem("provider.twilio", MISSING, "this line has no Twilio")]
        )
    problems = section_problems(config, section)
    if problems:
        raise ConfigError(str(config.source or "configuration"), problems)
    return TwilioSettings(config, account, verify_signatures)


def section_problems(config: HotlineConfig, section: TwilioConfig) -> list[Problem]:
    """What in ``[provider.twilio]`` does not fit the rest of the configuration."""
    problems = []
    for code in config.language_order:
        if code not in section.voices:
            problems.append(
                Problem(
                    f"provider.twilio.voices.{code}",
                    MISSING,
                    f"give the <Say> voice for {config.languages[code].name}, "
                    'like { voice = "Polly.Suvi", language = "fi-FI" }',
                )
            )
    for code in sorted(set(section.voices) - set(config.languages)):
        problems.append(
            Problem(
                f"provider.twilio.voices.{code}",
                code,
                f"not a language of this line; languages: {', '.join(config.language_order)}",
            )
        )
    for code, recordings in sorted(section.audio.items()):
        language = config.languages.get(code)
        if language is None:
            problems.append(
                Problem(
                    f"provider.twilio.audio.{code}",
                    code,
                    f"not a language of this line; languages: {', '.join(config.language_order)}",
                )
            )
            continue
        for key in sorted(recordings):
            if key not in language.prompts:
                problems.append(
                    Problem(f"provider.twilio.audio.{code}.{key}", key, "no such prompt")
                )
            elif PROMPT_PLACEHOLDERS.get(key):
                problems.append(
                    Problem(
                        f"provider.twilio.audio.{code}.{key}",
                        key,
                        "this prompt has placeholders, so it is spoken (<Say>), not recorded",
                    )
                )
    return problems
