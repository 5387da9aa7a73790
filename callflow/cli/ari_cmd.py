"""``callflow ari``: check the Asterisk a line runs on."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from callflow.cli.common import (
    EXIT_FAILURE,
    config_option,
    database_option,
    load,
    log_level_option,
    open_to_read,
    reports_errors,
)
from callflow.config.load import database_url as resolve_database_url
from callflow.config.models import HotlineConfig
from callflow.errors import StoreError
from callflow.providers.ari.doctor import AdvisorReader, Finding, Status, Unread, examine
from callflow.providers.ari.settings import AriSettings
from callflow.store.advisors import AdvisorView, list_advisors
from callflow.store.migrate import revision_mismatch
from callflow.values.numbers import mask_numbers_in

ASTERISK_ETC = Path("/etc/asterisk")


@click.group("ari")
def ari_group() -> None:
    """Asterisk (ARI) tools."""


@ari_group.command("doctor")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds each request and the websocket probe may take.",
)
@click.option(
    "--asterisk-etc",
    type=click.Path(file_okay=False, path_type=Path),
    default=ASTERISK_ETC,
    show_default=True,
    help="Asterisk's configuration directory, read when the doctor runs on Asterisk's host "
    "(music on hold, the AMD context: ARI shows neither).",
)
@config_option
@database_option
@log_level_option("error")
@reports_errors
def doctor(
    timeout: float,
    asterisk_etc: Path,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Check the configured Asterisk: ARI reachable and the user accepted, its version,
    every ARI operation callflow uses, the event websocket, the line's Stasis application,
    every sound file the line plays, answering-machine detection (app_amd and the AMD
    context), the hold music, and each enabled advisor's phone (their dial string's
    endpoint). Each problem comes with a fix. The line's database is only read, never
    created or migrated.

    Exit 0 when nothing failed (warnings allowed), 1 otherwise; 2 for a configuration
    problem (no [provider.ari], ARI_PASSWORD unset).
    """
    config = load(config_file, log_level)
    settings = AriSettings.from_environment(config)
    advisors = functools.partial(_advisors, config, database_url)
    findings = asyncio.run(_report(settings, advisors, asterisk_etc, timeout))
    failed = sum(f.status is Status.FAIL for f in findings)
    warned = sum(f.status is Status.WARN for f in findings)
    if failed:
        click.echo(f"{failed} check(s) failed, {warned} warning(s)")
        raise SystemExit(EXIT_FAILURE)
    click.echo(f"all checks passed, {warned} warning(s)" if warned else "all checks passed")


def _advisors(config: HotlineConfig, database_url: str | None) -> list[AdvisorView] | Unread:
    """The line's advisors, read when the doctor comes to their phones (a database it
    cannot reach, or a URL it cannot read, is then one failed check, not the end of the
    others). Nothing is created or migrated: a diagnostic leaves the line as it was."""
    url = resolve_database_url(config, database_url)
    database = open_to_read(url)
    if database is None:
        return Unread(
            f"there is no database file {make_url(url).database} (the doctor creates none)",
            "give the line's database (--database-url or CALLFLOW_DATABASE_URL); "
            "a new line gets one from `callflow db upgrade`",
        )
    try:
        mismatch = revision_mismatch(database)
        if mismatch is not None:
            return Unread(mismatch)
        with database.reading() as session:
            return list_advisors(session)
    except SQLAlchemyError as exc:  # a role without SELECT, a database of another program
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"the line's database cannot be read: {reason}") from exc
    finally:
        database.close()


async def _report(
    settings: AriSettings, advisors: AdvisorReader, asterisk_etc: Path, timeout: float
) -> list[Finding]:
    findings = []
    async for finding in examine(
        settings, advisors=advisors, asterisk_etc=asterisk_etc, timeout=timeout
    ):
        findings.append(finding)
        # An advisor's dial string may be their own mobile number: masked like every log.
        click.echo(mask_numbers_in(f"{finding.status.value:5} {finding.check}: {finding.detail}"))
        if finding.fix:
            click.echo(mask_numbers_in(f"{'':5} fix: {finding.fix}"))
    return findings
