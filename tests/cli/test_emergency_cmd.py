"""`callflow emergency` as an admin runs it on a bad day: switched on, the message is in
force (and a prompt of every language, so every provider says it); switched off, it is
gone; a message that leaves out a language or names no queue of the line is refused with
the key and why, and nothing is stored."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from callflow.cli.settings_common import changed_by
from callflow.config.models import emergency_prompt
from tests.cli.settings_helpers import (
    ARI_SECTION,
    IN_FORCE_SOON,
    changes,
    in_force,
    line_file,
    local_now,
    refused,
    run,
    stored,
)

pytestmark = pytest.mark.slow_on_postgresql

TEXTS = ("--text", "fi=Järjestelmähäiriö", "--text", "sv=Systemfel", "--text", "en=Outage")


class TestOn:
    def test_for_the_whole_line_from_now(self, database_url: str) -> None:
        before = local_now().replace(second=0, microsecond=0)
        result = run(database_url, "emergency", "on", *TEXTS)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(
            "Emergency message on for the whole line, mode serve, from "
        )
        assert result.stdout.endswith(
            f"until switched off: change #1 by {changed_by()}. {IN_FORCE_SOON}\n"
        )
        rules = in_force(database_url)
        message = rules.config.emergency["line"]
        assert message.texts == {"fi": "Järjestelmähäiriö", "sv": "Systemfel", "en": "Outage"}
        assert (message.mode, message.after_hours_offer, message.end) == ("serve", True, None)
        assert before <= message.start <= local_now()
        assert message.in_force(local_now())
        said = {
            code: lang.prompts[emergency_prompt("line")]
            for code, lang in rules.config.languages.items()
        }
        assert said == message.texts

    def test_for_a_queue_closing_it_later(self, database_url: str) -> None:
        result = run(
            database_url,
            *("emergency", "on", *TEXTS, "--queue", "health", "--mode", "close"),
            *(
                "--no-after-hours-offer",
                "--from",
                "2027-03-09 12:00",
                "--until",
                "2027-03-09T15:00",
            ),
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(
            "Emergency message on for queue health, mode close, no after-hours offer, "
            "from 2027-03-09 12:00 until 2027-03-09 15:00: change #1"
        )
        assert stored(database_url).values == {
            "emergency.health": {
                "texts": {"fi": "Järjestelmähäiriö", "sv": "Systemfel", "en": "Outage"},
                "mode": "close",
                "after_hours_offer": False,
                "start": "2027-03-09T12:00:00",
                "end": "2027-03-09T15:00:00",
            }
        }
        message = in_force(database_url).config.emergency["health"]
        assert not message.in_force(datetime(2027, 3, 9, 11, 59))
        assert message.in_force(datetime(2027, 3, 9, 12, 0))

    def test_callbacks_only(self, database_url: str) -> None:
        result = run(database_url, "emergency", "on", *TEXTS, "--mode", "callbacks-only")
        assert result.exit_code == 0, result.output
        assert in_force(database_url).config.emergency["line"].mode == "callbacks_only"

    def test_a_language_left_out_is_refused(self, database_url: str) -> None:
        result = run(database_url, "emergency", "on", *TEXTS[:4])
        refused(
            result,
            "emergency.line.texts.en: (missing) — the message must be said in every language "
            "of the line",
        )
        assert changes(database_url) == []

    def test_an_unknown_queue_is_refused(self, database_url: str) -> None:
        result = run(database_url, "emergency", "on", *TEXTS, "--queue", "dental")
        refused(result, "emergency.dental: 'dental' — 'line' or a queue; one of queues: ")
        assert changes(database_url) == []

    def test_an_end_before_the_start_is_refused(self, database_url: str) -> None:
        result = run(
            database_url,
            "emergency",
            "on",
            *TEXTS,
            "--from",
            "2027-03-09T12:00",
            "--until",
            "2027-03-09T11:00",
        )
        refused(result)
        assert "emergency.line: " in result.stderr
        assert "'end' must be after 'start'" in result.stderr
        assert stored(database_url).values == {}

    @pytest.mark.parametrize(
        ("texts", "said"),
        [
            (["--text", "Outage"], "write a language and its text"),
            (["--text", "fi=a", "--text", "fi=b"], "fi is given twice"),
        ],
    )
    def test_texts_must_be_written_code_equals_text(
        self, database_url: str, texts: list[str], said: str
    ) -> None:
        result = run(database_url, "emergency", "on", *texts)
        assert result.exit_code == 2
        assert said in result.stderr
        assert changes(database_url) == []

    def test_on_asterisk_the_sound_files_are_mentioned(
        self, database_url: str, tmp_path: Path
    ) -> None:
        config = line_file(tmp_path, ARI_SECTION)
        result = run(database_url, "emergency", "on", *TEXTS, config=config)
        assert result.exit_code == 0, result.output
        assert "`callflow prompts build`" in result.stdout
        plain = run(database_url, "emergency", "on", *TEXTS, "--mode", "close")
        assert "prompts build" not in plain.stdout


class TestOff:
    def test_the_message_is_gone(self, database_url: str) -> None:
        assert run(database_url, "emergency", "on", *TEXTS).exit_code == 0
        result = run(database_url, "emergency", "off")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            f"Emergency message off for the whole line: change #2 by {changed_by()}. "
            f"{IN_FORCE_SOON}\n"
        )
        config = in_force(database_url).config
        assert config.emergency == {}
        assert all(
            emergency_prompt("line") not in lang.prompts for lang in config.languages.values()
        )
        latest = changes(database_url)[0]
        assert (latest.key, latest.new_value) == ("emergency.line", None)

    def test_only_the_queue_named(self, database_url: str) -> None:
        run(database_url, "emergency", "on", *TEXTS)
        run(database_url, "emergency", "on", *TEXTS, "--queue", "social")
        assert run(database_url, "emergency", "off", "--queue", "social").exit_code == 0
        assert list(in_force(database_url).config.emergency) == ["line"]

    def test_nothing_on_changes_nothing(self, database_url: str) -> None:
        result = run(database_url, "emergency", "off")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "No emergency message is stored for the whole line: nothing changed.\n"
        )
        assert changes(database_url) == []

    def test_an_unknown_queue_is_named(self, database_url: str) -> None:
        result = run(database_url, "emergency", "off", "--queue", "dental")
        assert result.exit_code == 2
        assert "'dental' is not a queue; queues are: health, social, other" in result.stderr

    def test_the_files_own_message_stays(self, database_url: str, tmp_path: Path) -> None:
        """A message written in the file is the file's to remove; the command says how."""
        config = line_file(
            tmp_path,
            '[emergency.line]\ntexts = { fi = "a", sv = "b", en = "c" }\n'
            "start = 2027-01-01T00:00:00\n",
        )
        result = run(database_url, "emergency", "off", config=config)
        assert result.exit_code == 0, result.output
        assert "nothing changed" in result.stdout
        assert f"remove [emergency.line] from {config}" in result.stdout
        assert "`callflow config reload`" in result.stdout


class TestShow:
    def test_each_message_its_texts_and_where_it_comes_from(self, database_url: str) -> None:
        run(database_url, "emergency", "on", *TEXTS)
        run(
            database_url,
            "emergency",
            "on",
            *TEXTS,
            "--queue",
            "other",
            "--from",
            "2099-01-01T09:00",
        )
        result = run(database_url, "emergency", "show")
        assert result.exit_code == 0, result.output
        line, queue = result.stdout.split("Queue other: ")
        assert line.startswith("The whole line: in force now; mode serve, from ")
        assert "\n  fi: Järjestelmähäiriö\n  sv: Systemfel\n  en: Outage\n" in line
        assert f"  (stored: change #1 by {changed_by()} at " in line
        assert queue.startswith("not yet in force; mode serve, from 2099-01-01 09:00")
        assert "(stored: change #2 " in queue

    def test_none(self, database_url: str) -> None:
        result = run(database_url, "emergency", "show")
        assert result.exit_code == 0, result.output
        assert result.stdout == "No emergency message.\n"
