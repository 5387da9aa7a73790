"""[provider.twilio] and the account: checked before the line takes a call."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from callflow.config.check import check_data
from callflow.config.models import HotlineConfig, TwilioVoice
from callflow.errors import ConfigError
from callflow.providers.twilio.settings import TwilioAccount, twilio_settings
from tests.conftest import EXAMPLE_CONFIG
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN
from tests.providers.twilio.conftest import with_twilio


class TestAccount:
    def test_from_the_environment(self) -> None:
        account = TwilioAccount.from_environment(
            {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
        )
        assert account.sid == ACCOUNT_SID
        assert AUTH_TOKEN not in repr(account)

    def test_missing_or_malformed_names_the_variables_never_the_values(self) -> None:
        with pytest.raises(ConfigError) as refused:
            TwilioAccount.from_environment({"TWILIO_ACCOUNT_SID": "AC-secret-looking"})
        text = str(refused.value)
        assert "TWILIO_ACCOUNT_SID" in text and "TWILIO_AUTH_TOKEN" in text
        assert "AC-secret-looking" not in text


class TestSection:
    def settings_problems(self, config: HotlineConfig, **changes: Any) -> list[str]:
        with pytest.raises(ConfigError) as refused:
            twilio_settings(with_twilio(config, **changes), TwilioAccount(ACCOUNT_SID, "t"))
        return [problem.path for problem in refused.value.problems]

    def test_every_language_needs_a_voice(self, config: HotlineConfig) -> None:
        voices = {"fi": TwilioVoice(voice="Polly.Suvi", language="fi-FI")}
        assert self.settings_problems(config, voices=voices) == [
            "provider.twilio.voices.sv",
            "provider.twilio.voices.en",
        ]

    def test_recordings_only_for_known_prompts_without_placeholders(
        self, config: HotlineConfig
    ) -> None:
        audio = {
            "fi": {
                "greeting": "https://a.fi/g.mp3",
                "closed": "https://a.fi/c.mp3",
                "whisper": "https://a.fi/w.mp3",
            },
            "de": {"greeting": "https://a.fi/d.mp3"},
            "sv": {"no_such_prompt": "https://a.fi/x.mp3"},
        }
        assert self.settings_problems(config, audio=audio) == [
            "provider.twilio.audio.de",
            "provider.twilio.audio.fi.closed",
            "provider.twilio.audio.fi.whisper",
            "provider.twilio.audio.sv.no_such_prompt",
        ]


def test_config_check_names_the_bad_keys() -> None:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["provider"] = {
        "twilio": {
            "public_url": "ftp://hotline.example.fi",
            "voices": {"fi": {"voice": "Polly.Suvi", "language": "finnish"}},
        }
    }
    raw["languages"]["fi"]["prompts"]["whisper"] = "{topic} {caller_number}"
    config, problems = check_data(raw)
    assert config is None
    assert sorted(p.path for p in problems) == [
        "languages.fi.prompts.whisper",
        "provider.twilio.public_url",
        "provider.twilio.voices.fi.language",
    ]
