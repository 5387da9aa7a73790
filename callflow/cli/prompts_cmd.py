"""``callflow prompts``: a prompt's text changed while the line runs, and sound files for
an Asterisk line from the texts."""

from __future__ import annotations

from pathlib import Path

import click

from callflow.cli.common import (
    config_option,
    load,
    log_level_option,
    reports_errors,
    with_stored_settings,
)
from callflow.cli.settings_common import (
    changed_by,
    done,
    line_options,
    now,
    open_line,
    reports_changes,
)
from callflow.config import live_keys
from callflow.providers.ari.settings import ari_section
from callflow.providers.ari.sounds import sound_files
from callflow.providers.ari.speech import ASTERISK_SOUNDS, MANIFEST, Outcome, build_sounds


@click.group("prompts")
def prompts_group() -> None:
    """Prompt texts and sound files."""


@prompts_group.command("set")
@click.argument("language")
@click.argument("key")
@click.argument("text")
@line_options
@reports_changes
def set_prompt(
    language: str,
    key: str,
    text: str,
    config_file: Path | None,
    database_url: str | None,
    log_level: str,
) -> None:
    """Say TEXT for prompt KEY in LANGUAGE (e.g. `fi greeting "Tervetuloa …"`), in place
    of the file's, with the placeholders that prompt takes (`{next_opening}`, …).
    `callflow config undo` puts the earlier text back."""
    with open_line(config_file, database_url, log_level) as line:
        change = line.rules.change(
            live_keys.prompt_key(language, key), text, by=changed_by(), now=now()
        )
        asterisk = line.rules.config.provider.ari is not None
    click.echo(f"Prompt {key} in {language} set: {done(change)}")
    if asterisk:
        click.echo(
            "On Asterisk its sound file is rendered again by `callflow prompts build` on the "
            "Asterisk host (serve renders it itself where it runs there)."
        )


@prompts_group.command("build")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Where the files go (created if missing) [default: {ASTERISK_SOUNDS}, which must exist].",
)
@click.option(
    "--force",
    is_flag=True,
    help="Render our own earlier renders again too; recordings are never touched.",
)
@config_option
@log_level_option("warning")
@reports_errors
def build(out: Path | None, force: bool, config_file: Path | None, log_level: str) -> None:
    """Render every sound file the line plays that is not there yet, with espeak-ng and sox,
    as 8 kHz mono WAV: <out>/<language>/<sounds>/<name>.wav, the prompts' words and the
    number words (number-20, number-1, ...) numbers are said with in each language.

    A file already there in any format is a recording and is kept. Our own renders
    (listed with their texts in <out>/.callflow-prompts.json) are rendered again when
    their text has changed, and with --force.
    """
    config = with_stored_settings(load(config_file, log_level))  # texts changed live too
    section = ari_section(config)
    if out is None:
        out = ASTERISK_SOUNDS
        if not out.is_dir():
            raise click.UsageError(
                f"{out} does not exist: run this on the Asterisk host, or give --out DIR and "
                f"copy DIR's contents to {out} there"
            )

    def said(name: str, outcome: Outcome) -> None:
        click.echo(f"{outcome.value:9} {name}")

    report = build_sounds(sound_files(config, section), out, force=force, progress=said)
    counts = {outcome: len(report.named(outcome)) for outcome in Outcome}
    click.echo(
        f"{len(report.outcomes)} sound files in {out}: "
        f"{counts[Outcome.RENDERED]} rendered, {counts[Outcome.UPDATED]} updated, "
        f"{counts[Outcome.CURRENT]} our own and current, "
        f"{counts[Outcome.RECORDING]} recordings kept (our renders are listed in {out / MANIFEST})"
    )
