"""`callflow advisors` as an admin runs it: the token and the password link it prints
let the advisor in, bad skills are refused before anything is stored, and NAME may be
an id."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from fastapi import FastAPI

from callflow.cli import main
from callflow.config.models import HotlineConfig
from callflow.engine.clock import SystemClock
from callflow.store.advisors import advisor_for_token, list_advisors
from callflow.store.session import Database
from callflow.web.app import create_app
from tests.conftest import EXAMPLE_CONFIG
from tests.web.pages.browsing import Visitor, csrf_of

SHOWN_ONCE = "shown only now"
HELSINKI = ZoneInfo("Europe/Helsinki")


def run(database_url: str, *args: str) -> Result:
    options = ["--config", str(EXAMPLE_CONFIG), "--database-url", database_url]
    return CliRunner().invoke(main, ["advisors", *args, *options])


def token_in(result: Result) -> str:
    """The token is the line after the one saying it is shown only now."""
    return _shown_once(result, "API token")


def link_in(result: Result) -> str:
    """The password link is the line after the one saying it is shown only now."""
    return _shown_once(result, "to set a password")


def _shown_once(result: Result, what: str) -> str:
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    (said,) = [i for i, line in enumerate(lines) if SHOWN_ONCE in line and what in line]
    return lines[said + 1]


def password_set_through(app: FastAPI, link: str, password: str) -> int:
    """The status of setting *password* through *link* in the pages (303: it was set)."""
    path = urlsplit(link).path
    visitor = Visitor(app)
    form = visitor.get(path)
    if form.status_code != 200:
        return form.status_code
    return visitor.post(path, data={"csrf": csrf_of(form), "password": password}).status_code


@pytest.fixture
def app(config: HotlineConfig, database: Database) -> FastAPI:
    """The pages on the database the commands write to, on the wall clock they use."""
    return create_app(config, database, clock=SystemClock())


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
        "supervisor",
        "state",
        "since",
        "skills",
        "languages",
        "dial",
    ]
    assert anna_row.split()[:6] == ["anna", "1", "yes", "no", "no", "offline"]
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


# -- password links ---------------------------------------------------------------------


def test_add_prints_a_password_link_the_advisor_signs_in_with(
    database_url: str, app: FastAPI
) -> None:
    result = run(
        database_url, "add", "sara", "--skill", "nurse", "--language", "fi", "--supervisor"
    )
    link = link_in(result)
    assert "added supervisor sara" in result.stdout
    assert link.startswith("http") and "/password/" in link

    assert password_set_through(app, link, "a long enough secret") == 303
    assert Visitor(app).sign_in("sara", "a long enough secret").status_code == 303
    listed = json.loads(run(database_url, "list", "--format", "json").stdout)
    assert [(a["name"], a["admin"], a["supervisor"]) for a in listed] == [("sara", False, True)]


def test_password_makes_a_new_link_and_the_earlier_one_stops_working(
    database_url: str, anna: str, app: FastAPI
) -> None:
    first = link_in(run(database_url, "password", "anna"))
    result = run(database_url, "password", "1")
    second = link_in(result)

    assert "an earlier link no longer works" in result.stdout
    assert password_set_through(app, first, "a long enough secret") == 404
    assert password_set_through(app, second, "a long enough secret") == 303
    assert password_set_through(app, second, "another long secret") == 404  # once only


def test_a_disabled_or_unknown_advisor_gets_no_password_link(database_url: str, anna: str) -> None:
    assert run(database_url, "disable", "anna").exit_code == 0

    disabled = run(database_url, "password", "anna")
    unknown = run(database_url, "password", "zed")

    assert disabled.exit_code == 1
    assert "advisor anna (id 1) is disabled" in disabled.stderr
    assert SHOWN_ONCE not in disabled.stdout
    assert unknown.exit_code == 1 and "no advisor 'zed'" in unknown.stderr
