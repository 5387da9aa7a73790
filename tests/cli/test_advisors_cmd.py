"""`callflow advisors` as an admin runs it: the token it prints lets the advisor in,
bad skills are refused before anything is stored, and NAME may be an id."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from callflow.cli import main
from callflow.store.advisors import advisor_for_token, list_advisors
from callflow.store.session import Database
from tests.conftest import EXAMPLE_CONFIG

SHOWN_ONCE = "shown only now"
HELSINKI = ZoneInfo("Europe/Helsinki")


def run(database_url: str, *args: str) -> Result:
    options = ["--config", str(EXAMPLE_CONFIG), "--database-url", database_url]
    return CliRunner().invoke(main, ["advisors", *args, *options])


def token_in(result: Result) -> str:
    """The token is the line after the one saying it is shown only now."""
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    (said,) = [i for i, line in enumerate(lines) if SHOWN_ONCE in line]
    return lines[said + 1]


def holder(database_url: str, token: str) -> str | None:
    database = Database.connect(database_url)
    try:
        with database.reading() as session:
            advisor = advisor_for_token(session, token)
            return None if advisor is None else advisor.name
    finally:
        database.close()


def stored(database_url: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]]:
    """Each advisor's skills, languages and whether enabled, by name."""
    database = Database.connect(database_url)
    try:
        with database.reading() as session:
            return {a.name: (a.skills, a.languages, a.enabled) for a in list_advisors(session)}
    finally:
        database.close()


@pytest.fixture
def anna(database_url: str) -> str:
    """Nurse Anna, Finnish and Swedish; returns her first token."""
    result = run(
        database_url,
        "add",
        "anna",
        "--skill",
        "nurse",
        "--language",
        "fi",
        "--language",
        "sv",
        "--dial-string",
        "PJSIP/advisor-12",
    )
    return token_in(result)


def test_the_token_printed_once_lets_the_new_advisor_in(database_url: str, anna: str) -> None:
    assert holder(database_url, anna) == "anna"
    assert stored(database_url) == {"anna": (("nurse",), ("fi", "sv"), True)}


@pytest.mark.parametrize(
    ("option", "bad", "allowed"),
    [
        ("--skill", "doctor", "nurse, social_counsellor, service_advisor"),
        ("--language", "de", "fi, sv, en"),
    ],
)
def test_an_unknown_skill_or_language_is_refused_and_nothing_stored(
    database_url: str, option: str, bad: str, allowed: str
) -> None:
    good = {"--skill": "nurse", "--language": "fi"}
    good[option] = bad
    result = run(database_url, "add", "bob", *(part for pair in good.items() for part in pair))
    assert result.exit_code == 2
    assert f"{option} '{bad}'" in result.stderr and allowed in result.stderr
    assert SHOWN_ONCE not in result.stdout
    assert stored(database_url) == {}


def test_every_bad_value_is_named_at_once(database_url: str) -> None:
    result = run(database_url, "add", "bob", "--skill", "doctor", "--language", "de")
    assert result.exit_code == 2
    assert "--skill 'doctor'" in result.stderr and "--language 'de'" in result.stderr
    assert stored(database_url) == {}


def test_adding_a_name_twice_changes_nothing(database_url: str, anna: str) -> None:
    result = run(database_url, "add", "anna", "--skill", "social_counsellor", "--language", "en")
    assert result.exit_code == 1
    assert "exists" in result.stderr and "advisors skills anna" in result.stderr
    assert stored(database_url)["anna"] == (("nurse",), ("fi", "sv"), True)
    assert holder(database_url, anna) == "anna"


def test_a_name_of_digits_is_refused_as_it_reads_as_an_id(database_url: str) -> None:
    result = run(database_url, "add", "42", "--skill", "nurse", "--language", "fi")
    assert result.exit_code == 2
    assert "looks like an id" in result.stderr
    assert stored(database_url) == {}


def test_list_shows_each_advisor_as_a_table_and_as_json(database_url: str, anna: str) -> None:
    token_in(run(database_url, "add", "bo", "--skill", "social_counsellor", "--language", "sv"))
    table = run(database_url, "list")
    assert table.exit_code == 0, table.output
    header, anna_row, bo_row = table.stdout.splitlines()[1:]
    assert header.split() == [
        "name",
        "id",
        "enabled",
        "admin",
        "state",
        "since",
        "skills",
        "languages",
        "dial",
    ]
    assert anna_row.split()[:5] == ["anna", "1", "yes", "no", "offline"]
    assert anna_row.split()[-3:] == ["nurse", "fi,sv", "PJSIP/advisor-12"]
    assert bo_row.split()[0] == "bo" and "social_counsellor" in bo_row

    listed = json.loads(run(database_url, "list", "--format", "json").stdout)
    assert [(a["name"], a["skills"], a["languages"]) for a in listed] == [
        ("anna", ["nurse"], ["fi", "sv"]),
        ("bo", ["social_counsellor"], ["sv"]),
    ]
    since = datetime.fromisoformat(listed[0]["since"])
    assert since.utcoffset() == since.astimezone(HELSINKI).utcoffset()


def test_skills_replaces_what_they_serve_by_name_or_id(database_url: str, anna: str) -> None:
    result = run(database_url, "skills", "1", "--skill", "social_counsellor", "--language", "en")
    assert result.exit_code == 0, result.output
    assert "anna (id 1)" in result.stdout
    assert stored(database_url)["anna"] == (("social_counsellor",), ("en",), True)

    refused = run(database_url, "skills", "anna", "--skill", "nurse", "--language", "xx")
    assert refused.exit_code == 2 and "'xx'" in refused.stderr
    assert stored(database_url)["anna"] == (("social_counsellor",), ("en",), True)


def test_a_new_token_replaces_the_old_one(database_url: str, anna: str) -> None:
    result = run(database_url, "token", "anna")
    new = token_in(result)
    assert "old one no longer works" in result.stdout
    assert holder(database_url, new) == "anna"
    assert holder(database_url, anna) is None


def test_disabling_revokes_the_token_and_keeps_the_advisor(database_url: str, anna: str) -> None:
    result = run(database_url, "disable", "anna")
    assert result.exit_code == 0, result.output
    assert "disabled anna (id 1)" in result.stdout
    assert holder(database_url, anna) is None
    assert stored(database_url)["anna"] == (("nurse",), ("fi", "sv"), False)

    again = run(database_url, "disable", "1")
    assert again.exit_code == 0 and "already disabled" in again.stdout
    no_token = run(database_url, "token", "anna")
    assert no_token.exit_code == 1 and "disabled" in no_token.stderr
    assert SHOWN_ONCE not in no_token.stdout


@pytest.mark.parametrize("command", ["disable", "token"])
def test_an_unknown_name_or_id_is_a_clear_error(database_url: str, command: str) -> None:
    for name in ("zed", "99"):
        result = run(database_url, command, name)
        assert result.exit_code == 1
        assert f"no advisor '{name}'" in result.stderr
    unknown = run(database_url, "skills", "zed", "--skill", "nurse", "--language", "fi")
    assert unknown.exit_code == 1 and "no advisor 'zed'" in unknown.stderr
