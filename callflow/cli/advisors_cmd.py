"""``callflow advisors``: who answers the line, what they serve, their API tokens and
their links to set a password for the pages.

Skills and languages are checked against the configuration before anything
is stored: an advisor with a skill no queue asks for, or a language the line
does not speak, would silently never be given a callback. A password is never
typed here: the command prints a one-time link (:func:`issue_password_link`)
the person opens to set their own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from callflow.cli.common import (
    config_option,
    database_option,
    load,
    log_level_option,
    open_database,
    reports_errors,
)
from callflow.config.addresses import password_link_url
from callflow.config.models import HotlineConfig
from callflow.engine.clock import SystemClock
from callflow.errors import UnknownAdvisor
from callflow.reports.text import _aligned
from callflow.store.advisors import (
    AdvisorView,
    disable_advisor,
    find_advisor,
    holds_assignment,
    issue_token,
    list_advisors,
    register_advisor,
)
from callflow.store.models import LONGEST_NAME
from callflow.store.sign_ins import issue_password_link

FORMATS = ("table", "json")
MAX_DIAL_STRING = 200


@click.group("advisors")
def advisors_group() -> None:
    """Advisors: add them, list them, change what they serve, disable them, renew tokens
    and password links.

    NAME may also be an advisor's id (`callflow advisors list` shows both).
    """


def _skill_options(function: click.decorators.FC) -> click.decorators.FC:
    function = click.option(
        "--language",
        "languages",
        multiple=True,
        required=True,
        metavar="CODE",
        help="A language they speak, from the configuration's languages (repeat for more).",
    )(function)
    return click.option(
        "--skill",
        "skills",
        multiple=True,
        required=True,
        metavar="SKILL",
        help="A skill from the configuration's `skills` (repeat for more).",
    )(function)


@advisors_group.command("add")
@click.argument("name")
@_skill_options
@click.option("--dial-string", default=None, help="How the line rings them, e.g. PJSIP/advisor-12.")
@click.option(
    "--admin", is_flag=True, help="May manage advisors and callbacks (the API and /admin)."
)
@click.option("--supervisor", is_flag=True, help="Sees the wallboard and every advisor's state.")
@config_option
@database_option
@log_level_option("warning")
@reports_errors
def advisors_add(
    name: str,
    skills: tuple[str, ...],
    languages: tuple[str, ...],
    dial_string: str | None,
    admin: bool,
    supervisor: bool,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Add advisor NAME and print their API token and their link to set a password, both
    shown only this once."""
    _check_name(name)
    if dial_string is not None and not 0 < len(dial_string) <= MAX_DIAL_STRING:
        raise click.BadParameter(
            f"give 1 to {MAX_DIAL_STRING} characters, e.g. PJSIP/advisor-12",
            param_hint="--dial-string",
        )
    config = load(config_file, log_level)
    _check_skills(config, skills, languages)
    database = open_database(config, database_url)
    now = SystemClock().now()
    try:
        with database.transaction() as session:
            try:
                existing = find_advisor(session, name)
            except UnknownAdvisor:
                pass
            else:
                raise click.ClickException(
                    f"advisor {name!r} exists (id {existing.id}); `callflow advisors skills "
                    f"{name}` changes what they serve, `callflow advisors token {name}` "
                    "gives them a new token"
                )
            advisor_id = register_advisor(
                session,
                name,
                skills,
                languages,
                now,
                dial_string=dial_string,
                admin=admin,
                supervisor=supervisor,
            )
            token = issue_token(session, advisor_id)
            link_token = issue_password_link(session, advisor_id, now)
    finally:
        database.close()
    roles = " and ".join(
        role for role, has in (("admin", admin), ("supervisor", supervisor)) if has
    )
    click.echo(f"added {roles or 'advisor'} {name} (id {advisor_id}): {_serves(skills, languages)}")
    _show_token(name, token)
    _show_link(config, name, link_token)


@advisors_group.command("list")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for a terminal, json for scripts.",
)
@config_option
@database_option
@log_level_option("warning")
@reports_errors
def advisors_list(
    output_format: str, config_file: Path | None, database_url: str | None, log_level: str
) -> None:
    """Every advisor, enabled or not, by name; times in the line's timezone."""
    config = load(config_file, log_level)
    zone = ZoneInfo(config.line.timezone)
    database = open_database(config, database_url)
    try:
        with database.reading() as session:
            advisors = list_advisors(session)
    finally:
        database.close()
    if output_format == "json":
        click.echo(json.dumps([_as_json(a, zone) for a in advisors], ensure_ascii=False, indent=2))
        return
    if not advisors:
        click.echo("no advisors yet; `callflow advisors add` adds one")
        return
    titles = [
        "name", "id", "enabled", "admin", "supervisor", "state", "since", "skills", "languages",
        "dial",
    ]  # fmt: skip
    rows = [
        (
            a.name,
            [
                str(a.id),
                _yes_no(a.enabled),
                _yes_no(a.admin),
                _yes_no(a.supervisor),
                a.state.value,
                f"{a.state_since.astimezone(zone):%Y-%m-%d %H:%M}",
                ",".join(a.skills),
                ",".join(a.languages),
                a.dial_string or "–",
            ],
        )
        for a in advisors
    ]
    click.echo(f"{len(advisors)} advisor(s); times in {config.line.timezone}")
    click.echo("\n".join(_aligned(titles, rows)))


@advisors_group.command("skills")
@click.argument("name")
@_skill_options
@config_option
@database_option
@log_level_option("warning")
@reports_errors
def advisors_skills(
    name: str,
    skills: tuple[str, ...],
    languages: tuple[str, ...],
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Replace the skills and languages of advisor NAME; a callback they hold now is
    finished as it is."""
    config = load(config_file, log_level)
    _check_skills(config, skills, languages)
    database = open_database(config, database_url)
    try:
        with database.transaction() as session:
            advisor = find_advisor(session, name)
            register_advisor(session, advisor.name, skills, languages, SystemClock().now())
            shown = f"{advisor.name} (id {advisor.id})"
    finally:
        database.close()
    click.echo(f"{shown} now serves {_serves(skills, languages)}")


@advisors_group.command("disable")
@click.argument("name")
@config_option
@database_option
@log_level_option("warning")
@reports_errors
def advisors_disable(
    name: str, config_file: Path | None, database_url: str | None, log_level: str
) -> None:
    """Give advisor NAME no more callbacks and revoke their API token; their history stays."""
    config = load(config_file, log_level)
    database = open_database(config, database_url)
    try:
        with database.transaction() as session:
            advisor = find_advisor(session, name)
            shown = f"{advisor.name} (id {advisor.id})"
            was_enabled = advisor.enabled
            if was_enabled:
                disable_advisor(session, advisor.id, SystemClock().now())
            busy = holds_assignment(session, advisor.id)
    finally:
        database.close()
    if not was_enabled:
        click.echo(f"{shown} was already disabled; nothing changed")
        return
    click.echo(f"disabled {shown}: no more callbacks, API token revoked, history kept")
    if busy:
        click.echo("they still hold a callback: that one is finished as it is", err=True)


@advisors_group.command("token")
@click.argument("name")
@config_option
@database_option
@log_level_option("warning")
@reports_errors
def advisors_token(
    name: str, config_file: Path | None, database_url: str | None, log_level: str
) -> None:
    """Issue a new API token for advisor NAME; their old token stops working now."""
    config = load(config_file, log_level)
    database = open_database(config, database_url)
    try:
        with database.transaction() as session:
            advisor = find_advisor(session, name)
            shown = advisor.name
            token = issue_token(session, advisor.id)
    finally:
        database.close()
    click.echo(f"new token for {shown}; the old one no longer works")
    _show_token(shown, token)


@advisors_group.command("password")
@click.argument("name")
@config_option
@database_option
@log_level_option("warning")
@reports_errors
def advisors_password(
    name: str, config_file: Path | None, database_url: str | None, log_level: str
) -> None:
    """Print a new one-time link for advisor NAME to set their password (valid 24 hours);
    an earlier link stops working, their password works until they set a new one."""
    config = load(config_file, log_level)
    database = open_database(config, database_url)
    try:
        with database.transaction() as session:
            advisor = find_advisor(session, name)
            shown = advisor.name
            link_token = issue_password_link(session, advisor.id, SystemClock().now())
    finally:
        database.close()
    click.echo(f"new password link for {shown}; an earlier link no longer works")
    _show_link(config, shown, link_token)


def _check_name(name: str) -> None:
    if not name or name != name.strip() or len(name) > LONGEST_NAME:
        raise click.BadParameter(
            f"give a name of 1 to {LONGEST_NAME} characters without surrounding spaces",
            param_hint="NAME",
        )
    if name.isdigit():
        # NAME may be an id everywhere else: a name of digits would be read as one.
        raise click.BadParameter(
            f"{name!r} looks like an id; give a name with letters", param_hint="NAME"
        )


def _check_skills(config: HotlineConfig, skills: Sequence[str], languages: Sequence[str]) -> None:
    """Refuse, naming every bad value and the allowed ones, before anything is stored."""
    problems = [
        f"{option} {', '.join(map(repr, unknown))}: not in the configuration; "
        f"use one of {', '.join(allowed)}"
        for option, values, allowed in (
            ("--skill", skills, config.skills),
            ("--language", languages, config.language_order),
        )
        if (unknown := sorted(set(values) - set(allowed)))
    ]
    if problems:
        raise click.UsageError("\n".join(problems))


def _serves(skills: Sequence[str], languages: Sequence[str]) -> str:
    return f"skills {', '.join(sorted(set(skills)))}; languages {', '.join(sorted(set(languages)))}"


def _show_token(name: str, token: str) -> None:
    click.echo(
        f"API token for {name}, shown only now (it is stored hashed and cannot be shown again; "
        f"`callflow advisors token {name}` issues a new one):"
    )
    click.echo(token)


def _show_link(config: HotlineConfig, name: str, link_token: str) -> None:
    click.echo(
        f"link for {name} to set a password, shown only now (valid 24 hours, works once; "
        f"`callflow advisors password {name}` makes a new one):"
    )
    click.echo(password_link_url(config, link_token))


def _as_json(advisor: AdvisorView, zone: ZoneInfo) -> dict[str, object]:
    return {
        "id": advisor.id,
        "name": advisor.name,
        "enabled": advisor.enabled,
        "admin": advisor.admin,
        "supervisor": advisor.supervisor,
        "state": advisor.state.value,
        "break_reason": advisor.break_reason,
        "since": _iso(advisor.state_since, zone),
        "ready_at": _iso(advisor.ready_at, zone),
        "skills": list(advisor.skills),
        "languages": list(advisor.languages),
        "dial_string": advisor.dial_string,
    }


def _iso(at: datetime | None, zone: ZoneInfo) -> str | None:
    return None if at is None else at.astimezone(zone).isoformat()


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"
