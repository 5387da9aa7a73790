"""``callflow ari``: check the Asterisk a line runs on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from callflow.cli.common import EXIT_FAILURE, config_option, load, log_level_option, reports_errors
from callflow.providers.ari.doctor import Finding, Status, examine
from callflow.providers.ari.settings import AriSettings


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
@config_option
@log_level_option("error")
@reports_errors
def doctor(timeout: float, config_file: Path | None, log_level: str) -> None:
    """Check the configured Asterisk: ARI reachable and the user accepted, its version,
    every ARI operation callflow uses, the event websocket, the line's Stasis application,
    and every sound file the line plays. Each problem comes with a fix.

    Exit 0 when nothing failed (warnings allowed), 1 otherwise; 2 for a configuration
    problem (no [provider.ari], ARI_PASSWORD unset).
    """
    settings = AriSettings.from_environment(load(config_file, log_level))
    findings = asyncio.run(_report(settings, timeout))
    failed = sum(f.status is Status.FAIL for f in findings)
    warned = sum(f.status is Status.WARN for f in findings)
    if failed:
        click.echo(f"{failed} check(s) failed, {warned} warning(s)")
        raise SystemExit(EXIT_FAILURE)
    click.echo(f"all checks passed, {warned} warning(s)" if warned else "all checks passed")


async def _report(settings: AriSettings, timeout: float) -> list[Finding]:
    findings = []
    async for finding in examine(settings, timeout=timeout):
        findings.append(finding)
        click.echo(f"{finding.status.value:5} {finding.check}: {finding.detail}")
        if finding.fix:
            click.echo(f"{'':5} fix: {finding.fix}")
    return findings
