"""``callflow ari``: check the Asterisk a line runs on."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import click

from callflow.cli.common import (
    EXIT_FAILURE,
    config_option,
    database_option,
    load,
    log_level_option,
    open_database,
    reports_errors,
)
from callflow.config.models import HotlineConfig
from callflow.providers.ari.doctor import AdvisorReader, Finding, Status, examine
from callflow.providers.ari.settings import AriSettings
from callflow.store.advisors import AdvisorView, list_advisors

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
    endpoint). Each problem comes with a fix.

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


def _advisors(config: HotlineConfig, database_url: str | None) -> list[AdvisorView]:
    """The line's advisors, read when the doctor comes to their phones (a database it
    cannot reach is then one failed check, not the end of the others)."""
    database = open_database(config, database_url)
    try:
        with database.reading() as session:
            return list_advisors(session)
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
        click.echo(f"{finding.status.value:5} {finding.check}: {finding.detail}")
        if finding.fix:
            click.echo(f"{'':5} fix: {finding.fix}")
    return findings
