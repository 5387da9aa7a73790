"""The whisper as the engine gives it: a prompt in the line's own language, whatever the
caller's."""

from __future__ import annotations

from datetime import timedelta

from callflow.config.models import HotlineConfig
from callflow.engine.prompts import PromptRef, render_text
from callflow.engine.whisper import whisper


def test_topic_and_language_by_name_and_the_whole_minutes(config: HotlineConfig) -> None:
    said = whisper(config, "social", "sv", timedelta(minutes=7, seconds=59))
    assert said == PromptRef(
        "whisper",
        "fi",
        (("topic", "Sosiaalipalveluihin liittyvät asiat"), ("language", "svenska"), ("minutes", 7)),
    )
    assert render_text(said, config) == (
        "Takaisinsoitto. Aihe Sosiaalipalveluihin liittyvät asiat, kieli svenska. "
        "Soittaja on odottanut 7 minuuttia."
    )


def test_a_clock_that_ran_back_says_no_minutes(config: HotlineConfig) -> None:
    assert dict(whisper(config, "health", "fi", timedelta(seconds=-30)).params)["minutes"] == 0


def test_what_the_line_no_longer_has_is_left_unsaid(config: HotlineConfig) -> None:
    params = dict(whisper(config, "retired", "de", timedelta(minutes=3)).params)
    assert (params["topic"], params["language"]) == ("", "")
