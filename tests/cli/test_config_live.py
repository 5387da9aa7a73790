"""`callflow config history|undo|reload`, `config check` with the stored settings, and
`callflow prompts set`: every change kept with who and when and undone as a change of its
own; a reload asked for only of a file that passes every check; the check showing the
settings in force and where each comes from."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from callflow.cli.settings_common import changed_by
from callflow.store.line_settings import RELOAD_KEY
from callflow.store.migrate import upgrade
from callflow.store.session import Database
from tests.cli.settings_helpers import (
    ARI_SECTION,
    EXAMPLE_TEXT,
    HELSINKI,
    IN_FORCE_SOON,
    changes,
    in_force,
    line_file,
    refused,
    run,
    stored,
)
from tests.conftest import EXAMPLE_CONFIG

pytestmark = pytest.mark.slow_on_postgresql

CLOSURE = ("calendar", "close", "--from", "2027-03-09T10:00", "--for", "1h", "--reason", "Meeting")
CLOSURE_KEY = "calendar.closures.2027-03-09T10:00"
TUESDAY_10_30 = datetime(2027, 3, 9, 10, 30, tzinfo=HELSINKI)


@pytest.fixture
def two_changes(database_url: str) -> str:
    """A closure, then a queue's threshold."""
    assert run(database_url, *CLOSURE).exit_code == 0
    assert run(database_url, "queues", "set", "health", "overflow.queue_length", "5").exit_code == 0
    return database_url


def other_without_callbacks(tmp_path: Path) -> Path:
    """The example line, its queue `other` taking no callbacks (and serving at closing)."""
    ending = "callbacks = { enabled = true, when_closed = true }\n\n[menu]"
    assert EXAMPLE_TEXT.count(ending) == 1
    path = tmp_path / "edited.toml"
    path.write_text(
        EXAMPLE_TEXT.replace(ending, "callbacks = { enabled = false }\n\n[menu]"), "utf-8"
    )
    return path


class TestHistory:
    def test_latest_first_with_when_who_key_old_and_new(self, two_changes: str) -> None:
        result = run(two_changes, "config", "history")
        assert result.exit_code == 0, result.output
        latest, first = result.stdout.splitlines()
        kept = {c.id: c for c in changes(two_changes)}
        for row, change_id in ((latest, 2), (first, 1)):
            at = kept[change_id].at.astimezone(HELSINKI)
            assert row.startswith(f"#{change_id}     {at:%Y-%m-%d %H:%M}  {changed_by()}  ")
        assert latest.endswith("  queues.health.overflow.queue_length  the file's → 5")
        assert first.endswith(
            f"  {CLOSURE_KEY}  the file's → closed 2027-03-09 10:00–11:00 (Meeting)"
        )

    def test_by_key_and_limit(self, two_changes: str) -> None:
        result = run(two_changes, "config", "history", "--key", "calendar.")
        assert result.stdout.count("\n") == 1
        assert CLOSURE_KEY in result.stdout
        result = run(two_changes, "config", "history", "--limit", "1")
        assert result.stdout.count("\n") == 1
        assert "queues.health" in result.stdout

    def test_json_for_scripts(self, two_changes: str) -> None:
        result = run(two_changes, "config", "history", "--json")
        assert result.exit_code == 0, result.output
        latest, first = json.loads(result.stdout)
        assert latest | {"at": None} == {
            "id": 2,
            "at": None,
            "by": changed_by(),
            "key": "queues.health.overflow.queue_length",
            "old": None,
            "new": 5,
            "undoes": None,
        }
        at = datetime.fromisoformat(first["at"])
        assert at.utcoffset() == at.astimezone(HELSINKI).utcoffset()  # the line's time
        assert first["new"]["reason"] == "Meeting"

    def test_none_yet(self, database_url: str) -> None:
        result = run(database_url, "config", "history")
        assert result.exit_code == 0, result.output
        assert result.stdout == "No changes stored.\n"


class TestUndo:
    def test_the_old_value_is_back_and_the_undo_is_kept(self, two_changes: str) -> None:
        result = run(two_changes, "config", "undo", "1")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            f"Undid change #1: {CLOSURE_KEY} back to the file's: change #3 by {changed_by()}. "
            f"{IN_FORCE_SOON}\n"
        )
        assert in_force(two_changes).calendar.is_open(TUESDAY_10_30)
        assert list(stored(two_changes).values) == ["queues.health.overflow.queue_length"]
        row = run(two_changes, "config", "history", "--limit", "1").stdout
        assert row.rstrip().endswith("the file's  (undoes #1)")

    def test_an_undo_undone(self, two_changes: str) -> None:
        run(two_changes, "config", "undo", "1")
        result = run(two_changes, "config", "undo", "3")
        assert result.exit_code == 0, result.output
        assert "back to closed 2027-03-09 10:00–11:00 (Meeting)" in result.stdout
        assert not in_force(two_changes).calendar.is_open(TUESDAY_10_30)

    def test_an_unknown_change_is_said_plainly(self, two_changes: str) -> None:
        result = run(two_changes, "config", "undo", "99")
        assert result.exit_code == 2
        assert result.stderr == (
            "error: no change 99 to undo; `callflow config history` lists them\n"
        )
        assert len(changes(two_changes)) == 2

    def test_an_undo_that_would_break_a_rule_is_refused(self, database_url: str) -> None:
        """Callbacks were switched off after health stopped handing them out at closing;
        putting health's closing policy back while they are off cannot be."""
        run(database_url, "queues", "set", "health", "closing_policy", "serve")
        run(database_url, "queues", "set", "health", "callbacks.enabled", "false")
        result = run(database_url, "config", "undo", "1")
        refused(result, "queues.health.closing_policy: 'callback' — needs callbacks.enabled")
        assert len(changes(database_url)) == 2


class TestReload:
    def test_requested_of_a_sound_file(self, database_url: str) -> None:
        result = run(database_url, "config", "reload")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            f"Reload of {EXAMPLE_CONFIG} requested: change #1 by {changed_by()}. "
            "Every running serve and worker reads its file again within 2 s.\n"
        )
        (change,) = changes(database_url)
        assert (change.key, change.by) == (RELOAD_KEY, changed_by())

    def test_a_broken_file_is_refused_whole(self, database_url: str, tmp_path: Path) -> None:
        """Every problem printed, exit 2, and no process is asked to read it."""
        broken = tmp_path / "hotline.toml"
        broken.write_text(
            EXAMPLE_TEXT.replace(
                'default_handle_time = "7m"', 'default_handle_time = "soon"'
            ).replace("queue_length = 4,", "queue_length = 0,"),
            encoding="utf-8",
        )
        result = run(database_url, "config", "reload", config=broken)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith(f"error: configuration {broken} has 2 problem(s):\n")
        assert "\n  queues.health.default_handle_time: 'soon' — " in result.stderr
        assert "\n  queues.other.overflow.queue_length: 0 — " in result.stderr
        assert changes(database_url) == []

    def test_a_file_the_stored_settings_do_not_fit_is_refused(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """A running process would refuse it too: the stored closing policy needs callbacks
        the new file switches off."""
        run(database_url, "queues", "set", "other", "closing_policy", "callback")
        edited = other_without_callbacks(tmp_path)
        result = run(database_url, "config", "reload", config=edited)
        assert result.exit_code == 2
        assert result.stderr.startswith(
            f"error: configuration {edited} with the settings stored in {database_url} "
            "has 1 problem(s):\n  queues.other.closing_policy: 'callback' — needs "
        )
        assert [c.key for c in changes(database_url)] == ["queues.other.closing_policy"]

    def test_no_reload_is_asked_of_a_line_without_a_database(self, tmp_path: Path) -> None:
        missing = tmp_path / "none.sqlite3"
        result = run(f"sqlite:///{missing}", "config", "reload")
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: no reload asked for: there is no database file {missing} yet\n"
        )
        assert not missing.exists()


class TestCheck:
    def check(self, database_url: str, *args: str) -> str:
        result = run(database_url, "config", "check", "--at", "2027-03-08T08:00", *args)
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
        return result.stdout

    def test_stored_settings_are_in_force_and_say_where_they_come_from(
        self, two_changes: str
    ) -> None:
        out = self.check(two_changes)
        assert "  Tue 2027-03-09  09:00–10:00, 11:00–15:00  (partly closed: Meeting)\n" in out
        kept = {c.id: c for c in changes(two_changes)}
        at = kept[2].at.astimezone(HELSINKI)
        assert out.endswith(
            f"Stored settings over the file, from {two_changes}:\n"
            f"  {CLOSURE_KEY} = closed 2027-03-09 10:00–11:00 (Meeting)\n"
            f"      stored: change #1 by {changed_by()} at "
            f"{kept[1].at.astimezone(HELSINKI):%Y-%m-%d %H:%M}\n"
            "  queues.health.overflow.queue_length = 5 (in place of the file's: 3)\n"
            f"      stored: change #2 by {changed_by()} at {at:%Y-%m-%d %H:%M}\n"
        )

    def test_a_database_without_settings(self, database_url: str) -> None:
        out = self.check(database_url)
        assert out.endswith(
            f"\n\nNo stored settings in {database_url}: the file's rules are in force.\n"
        )
        assert "  Tue 2027-03-09  09:00–15:00\n" in out

    def test_a_fresh_database_file_is_said_in_one_line_and_left_as_it_was(
        self, tmp_path: Path
    ) -> None:
        """A check creates nothing and migrates nothing: a file not there stays not there,
        an empty one stays empty; each is one line, and the file is shown alone."""
        missing = tmp_path / "none.sqlite3"
        out = self.check(f"sqlite:///{missing}")
        assert out.endswith(
            f"\n\nStored settings not read (there is no database file {missing} yet): "
            "the file alone is shown.\n"
        )
        assert not missing.exists()
        empty = tmp_path / "empty.sqlite3"
        empty.touch()  # what SQLite makes of a file it is asked to open
        out = self.check(f"sqlite:///{empty}")
        last = out.splitlines()[-1]
        assert last.startswith("Stored settings not read (the database has no schema yet")
        assert "run `callflow db upgrade`" in last
        assert last.endswith("): the file alone is shown.")
        assert empty.stat().st_size == 0

    def test_an_upgraded_fresh_file(self, tmp_path: Path) -> None:
        fresh = tmp_path / "fresh.sqlite3"
        database = Database.connect(f"sqlite:///{fresh}")
        upgrade(database)
        database.close()
        out = self.check(f"sqlite:///{fresh}")
        assert out.endswith(
            f"No stored settings in sqlite:///{fresh}: the file's rules are in force.\n"
        )

    def test_a_file_the_stored_settings_do_not_fit(self, database_url: str, tmp_path: Path) -> None:
        run(database_url, "queues", "set", "other", "closing_policy", "callback")
        edited = other_without_callbacks(tmp_path)
        result = run(database_url, "config", "check", str(edited))
        assert result.exit_code == 2
        assert result.stderr.startswith(f"error: configuration {edited} with the settings stored")
        assert "\n  queues.other.closing_policy: 'callback' — needs " in result.stderr


class TestPromptsSet:
    def test_the_text_is_in_force(self, database_url: str) -> None:
        result = run(database_url, "prompts", "set", "sv", "greeting", "Välkommen!")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            f"Prompt greeting in sv set: change #1 by {changed_by()}. {IN_FORCE_SOON}\n"
        )
        assert in_force(database_url).config.languages["sv"].prompts["greeting"] == "Välkommen!"

    def test_an_unknown_language_is_refused(self, database_url: str) -> None:
        result = run(database_url, "prompts", "set", "de", "greeting", "Willkommen")
        refused(result, "languages.de.prompts.greeting: 'de' — unknown language; languages are: ")
        assert changes(database_url) == []

    def test_a_placeholder_the_prompt_does_not_take_is_refused(self, database_url: str) -> None:
        result = run(database_url, "prompts", "set", "fi", "greeting", "Hei {name}")
        refused(result, "languages.fi.prompts.greeting: 'Hei {name}' — unknown placeholder {name}")
        assert changes(database_url) == []

    def test_on_asterisk_the_sound_file_is_rendered_again_by_prompts_build(
        self, database_url: str, tmp_path: Path
    ) -> None:
        config = line_file(tmp_path, ARI_SECTION)
        result = run(database_url, "prompts", "set", "fi", "goodbye", "Näkemiin", config=config)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[1] == (
            "On Asterisk its sound file is rendered again by `callflow prompts build` on the "
            "Asterisk host (serve renders it itself where it runs there)."
        )
