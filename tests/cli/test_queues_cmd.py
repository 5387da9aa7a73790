"""`callflow queues` as an admin runs it after a bad Monday: a threshold or policy set is
in force, read as the file would write it; unset, the file's is back; an unknown queue or
key, or a value the file could not have, is refused with the key and why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callflow.cli.queues_cmd import toml_value
from callflow.cli.settings_common import changed_by
from tests.cli.settings_helpers import IN_FORCE_SOON, changes, in_force, refused, run, stored

pytestmark = pytest.mark.slow_on_postgresql


class TestSet:
    def test_a_number(self, database_url: str) -> None:
        result = run(database_url, "queues", "set", "health", "overflow.queue_length", "5")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            f"Queue health: overflow.queue_length 3 → 5: change #1 by {changed_by()}. "
            f"{IN_FORCE_SOON}\n"
        )
        assert in_force(database_url).config.queues["health"].overflow.queue_length == 5
        assert stored(database_url).values == {"queues.health.overflow.queue_length": 5}

    @pytest.mark.parametrize(
        ("queue", "key", "value", "kept", "attribute"),
        [
            ("health", "overflow.estimated_wait", "4m", "4m", timedelta(minutes=4)),
            ("other", "closing_policy", "callback", "callback", "callback"),
            ("health", "callbacks.enabled", "false", False, False),
            ("social", "callbacks.when_closed", "false", False, False),
            ("health", "callbacks.alternative_prompt", '"goodbye"', "goodbye", "goodbye"),
        ],
    )
    def test_values_are_read_as_the_file_reads_them(
        self,
        database_url: str,
        queue: str,
        key: str,
        value: str,
        kept: object,
        attribute: object,
    ) -> None:
        """`false` is a yes/no, `4m` a duration, `callback` a word: each where the file's
        would be."""
        if key == "callbacks.enabled":  # health closes with callbacks: it must serve first
            run(database_url, "queues", "set", queue, "closing_policy", "serve")
        result = run(database_url, "queues", "set", queue, key, value)
        assert result.exit_code == 0, result.output
        assert stored(database_url).values[f"queues.{queue}.{key}"] == kept
        found: object = in_force(database_url).config.queues[queue]
        for part in key.split("."):
            found = getattr(found, part)
        assert found == attribute

    def test_an_unknown_queue_is_refused(self, database_url: str) -> None:
        result = run(database_url, "queues", "set", "dental", "closing_policy", "serve")
        refused(
            result,
            "queues.dental.closing_policy: 'dental' — unknown queue; queues are: health, other, "
            "social",
        )
        assert changes(database_url) == []

    def test_a_key_not_changed_live_is_refused(self, database_url: str) -> None:
        result = run(database_url, "queues", "set", "health", "digit", "7")
        refused(result, "queues.health.digit: 'digit' — not set while the line runs; a queue's ")
        assert changes(database_url) == []

    @pytest.mark.parametrize(
        ("key", "value", "line"),
        [
            ("overflow.queue_length", "0", "queues.health.overflow.queue_length: 0 — "),
            ("overflow.estimated_wait", "soon", "queues.health.overflow.estimated_wait: 'soon'"),
            ("closing_policy", "hang_up", "queues.health.closing_policy: 'hang_up' — "),
        ],
    )
    def test_a_value_the_file_could_not_have_is_refused(
        self, database_url: str, key: str, value: str, line: str
    ) -> None:
        result = run(database_url, "queues", "set", "health", key, value)
        refused(result, line)
        assert changes(database_url) == []
        assert in_force(database_url).config.queues["health"].overflow.queue_length == 3

    def test_a_change_that_breaks_another_rule_names_it(self, database_url: str) -> None:
        """Health hands its callers callbacks at closing: callbacks cannot be switched off
        under it, and the problem names the setting that needs them."""
        result = run(database_url, "queues", "set", "health", "callbacks.enabled", "false")
        refused(result, "queues.health.closing_policy: 'callback' — needs callbacks.enabled")
        assert stored(database_url).values == {}


class TestUnset:
    def test_back_to_the_files(self, database_url: str) -> None:
        run(database_url, "queues", "set", "health", "overflow.estimated_wait", "4m")
        result = run(database_url, "queues", "unset", "health", "overflow.estimated_wait")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(
            "Queue health: overflow.estimated_wait 4m → 3m, the file's: change #2"
        )
        wait = in_force(database_url).config.queues["health"].overflow.estimated_wait
        assert wait == timedelta(minutes=3)
        assert stored(database_url).values == {}

    def test_not_stored_changes_nothing(self, database_url: str) -> None:
        result = run(database_url, "queues", "unset", "health", "overflow.estimated_wait")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "Queue health: overflow.estimated_wait is the file's (3m): nothing changed.\n"
        )
        assert changes(database_url) == []

    def test_an_unknown_key_is_refused(self, database_url: str) -> None:
        result = run(database_url, "queues", "unset", "health", "colour")
        refused(result, "queues.health.colour: 'colour' — not set while the line runs")


class TestShow:
    def test_each_setting_and_where_it_comes_from(self, database_url: str) -> None:
        run(database_url, "queues", "set", "other", "closing_policy", "callback")
        result = run(database_url, "queues", "show")
        assert result.exit_code == 0, result.output
        rows = result.stdout.splitlines()
        assert [row for row in rows if not row.startswith(" ")] == ["health:", "social:", "other:"]
        other = rows[rows.index("other:") :]
        (policy,) = [row for row in other if row.split()[0] == "closing_policy"]
        assert policy.split()[1] == "callback"
        assert f"stored: change #1 by {changed_by()} at " in policy
        (length,) = [row for row in other if row.split()[0] == "overflow.queue_length"]
        assert length.split()[1:] == ["4", "file"]
        (prompt,) = [row for row in other if row.split()[0] == "callbacks.alternative_prompt"]
        assert prompt.split()[1:] == ["(none)", "default"]

    def test_one_queue(self, database_url: str) -> None:
        result = run(database_url, "queues", "show", "social")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("social:\n")
        assert "health:" not in result.stdout

    def test_an_unknown_queue(self, database_url: str) -> None:
        result = run(database_url, "queues", "show", "dental")
        assert result.exit_code == 2
        assert "'dental' is not a queue; queues are: health, social, other" in result.stderr


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("5", 5),
        ("2.5", 2.5),
        ("true", True),
        ("4m", "4m"),
        ('"4m"', "4m"),
        ("serve", "serve"),
        ("2027-03-09", "2027-03-09"),
        ("[1, 2]", "[1, 2]"),
        ("5\nother = 6", "5\nother = 6"),
    ],
)
def test_a_value_is_what_the_file_would_read(written: str, read: object) -> None:
    """A value after `key =` in the file; anything else (a bare word, a table) is text."""
    assert toml_value(written) == read
