"""[provider.ari] and ARI_PASSWORD: checked before anything talks to Asterisk."""

from __future__ import annotations

import pytest

from callflow.config.models import HotlineConfig
from callflow.errors import ConfigError
from callflow.providers.ari.settings import PASSWORD_ENV, AriSettings, ari_section
from tests.fakes.ari_server import APP, PASSWORD, USERNAME
from tests.providers.ari.lines import with_ari


class TestFromEnvironment:
    def test_the_section_and_the_password_make_a_client(self, config: HotlineConfig) -> None:
        settings = AriSettings.from_environment(with_ari(config), {PASSWORD_ENV: PASSWORD})
        client = settings.client(timeout=1.0)
        assert client.base_url == "http://127.0.0.1:8088/ari/"
        assert (client.username, client.app) == (USERNAME, APP)
        assert PASSWORD not in repr(settings)

    def test_an_unset_password_is_named_never_shown(self, config: HotlineConfig) -> None:
        with pytest.raises(ConfigError) as refused:
            AriSettings.from_environment(with_ari(config), {PASSWORD_ENV: "  "})
        assert [p.path for p in refused.value.problems] == [PASSWORD_ENV]
        assert "ari.conf" in str(refused.value)

    def test_a_line_without_asterisk_says_where_to_add_it(self, config: HotlineConfig) -> None:
        with pytest.raises(ConfigError) as refused:
            AriSettings.from_environment(config, {PASSWORD_ENV: PASSWORD})
        assert [p.path for p in refused.value.problems] == ["provider.ari"]


class TestSoundNames:
    def test_prompt_keys_and_queue_names_must_be_plain_file_names(
        self, config: HotlineConfig
    ) -> None:
        """A comma would split ARI's media list, a slash point into another directory."""
        finnish = config.languages["fi"]
        odd_prompts = {**finnish.prompts, "ohje, kiire": "Soita 112."}
        languages = {
            **config.languages,
            "fi": finnish.model_copy(update={"prompts": odd_prompts}),
        }
        queues = {**config.queues, "ajan/varaus": config.queues["other"]}
        odd = with_ari(config).model_copy(update={"languages": languages, "queues": queues})
        with pytest.raises(ConfigError) as refused:
            AriSettings.from_environment(odd, {})
        assert [(p.path, p.value) for p in refused.value.problems[:2]] == [
            ("languages.fi.prompts", "ohje, kiire"),
            ("queues.ajan/varaus", "ajan/varaus"),
        ]
        assert refused.value.problems[2].path == PASSWORD_ENV
        with pytest.raises(ConfigError):
            ari_section(odd)

    def test_a_language_whose_numbers_cannot_be_said_is_refused_at_start(
        self, config: HotlineConfig
    ) -> None:
        """Asterisk would read its positions and times in no grammar at all."""
        languages = {**config.languages, "de": config.languages["en"]}
        german = with_ari(config).model_copy(update={"languages": languages})
        with pytest.raises(ConfigError) as refused:
            AriSettings.from_environment(german, {PASSWORD_ENV: PASSWORD})
        [problem] = refused.value.problems
        assert (problem.path, problem.value) == ("languages.de", "de")
        assert "number_words.py" in problem.allowed

    def test_an_asterisk_line_needs_the_apology_in_every_language(
        self, config: HotlineConfig
    ) -> None:
        """What a caller hears when their call fails on our side, before being sent on."""
        swedish = config.languages["sv"]
        prompts = {k: v for k, v in swedish.prompts.items() if k != "technical_problem"}
        languages = {**config.languages, "sv": swedish.model_copy(update={"prompts": prompts})}
        silent = with_ari(config).model_copy(update={"languages": languages})
        with pytest.raises(ConfigError) as refused:
            AriSettings.from_environment(silent, {PASSWORD_ENV: PASSWORD})
        [problem] = refused.value.problems
        assert problem.path == "languages.sv.prompts.technical_problem"

    def test_without_a_password_the_section_alone_serves_the_prompt_builder(
        self, config: HotlineConfig
    ) -> None:
        assert ari_section(with_ari(config, sounds="hotline/v2")).sounds == "hotline/v2"
