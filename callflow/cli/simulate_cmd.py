"""``callflow simulate``: days of the line, or a steady load, in seconds."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import click

from callflow.cli.common import (
    config_option,
    load,
    log_level_option,
    reports_errors,
    with_stored_settings,
)
from callflow.cli.times import LocalDate
from callflow.config.models import HotlineConfig
from callflow.providers.sim.runs import calls_already_in, line_for, run_days, throwaway_database
from callflow.providers.sim.stationary import StationaryLoad, run_stationary
from callflow.reports.kpis import compute_report
from callflow.reports.text import render_table
from callflow.store.session import Database

MAX_DAYS = 366
MAX_CALLS_PER_DAY = 1_000_000
MAX_STATIONARY_HOURS = 100_000


@click.command("simulate")
@click.option("--date", "first", type=LocalDate(), help="First day to simulate (local date).")
@click.option("--days", type=click.IntRange(1, MAX_DAYS), default=None, help="[default: 1]")
@click.option(
    "--advisors",
    type=click.IntRange(1, 10_000),
    default=None,
    help="People in the staffing plan [default: as configured]; shared out over the skills.",
)
@click.option(
    "--calls-per-day",
    type=click.FloatRange(min=0, max=MAX_CALLS_PER_DAY, min_open=True),
    default=None,
    help="An ordinary weekday's calls [default: [simulation] in the config].",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same run.")
@click.option(
    "--database-url",
    default=None,
    help="Keep the run's events here for `callflow report` [default: a throwaway SQLite file].",
)
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table")
@click.option("--stationary", is_flag=True, help="A steady textbook load instead of days.")
@click.option("--calls-per-hour", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--mean-handle-s", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option(
    "--hours", type=click.FloatRange(min=0, max=MAX_STATIONARY_HOURS, min_open=True), default=None
)
@click.option(
    "--mean-patience-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Mean patience in the queue [default: callers never give up].",
)
@config_option
@log_level_option("warning")
@reports_errors
def simulate(
    first: date | None,
    days: int,
    advisors: int | None,
    calls_per_day: float | None,
    seed: int,
    database_url: str | None,
    output_format: str,
    stationary: bool,
    calls_per_hour: float | None,
    mean_handle_s: float | None,
    hours: float | None,
    mean_patience_s: float | None,
    config_file: Any,
    log_level: str,
) -> None:
    """Run the real engine, store and callback claims against simulated callers and advisors.

    Days: `--date 2026-01-12 [--days 5] [--advisors 3]` prints the KPIs of
    `callflow report` for those days. Stationary: `--stationary --calls-per-hour 60
    --mean-handle-s 300 --advisors 6 --hours 500 [--mean-patience-s 180]` runs the
    textbook queue (Poisson arrivals, exponential times, no callbacks, never closed).
    """
    day_flags = {"--date": first, "--days": days, "--calls-per-day": calls_per_day}
    steady_flags = {
        "--calls-per-hour": calls_per_hour,
        "--mean-handle-s": mean_handle_s,
        "--hours": hours,
        "--mean-patience-s": mean_patience_s,
    }
    unused = [k for k, v in (day_flags if stationary else steady_flags).items() if v is not None]
    if unused:
        mode = "--stationary" if stationary else "a run of days (without --stationary)"
        raise click.UsageError(f"{', '.join(unused)} do(es) not apply to {mode}")
    config = with_stored_settings(load(config_file, log_level))
    if stationary:
        load_ = _stationary_load(calls_per_hour, mean_handle_s, advisors, hours, mean_patience_s)
        with _database(database_url) as database:
            figures = run_stationary(config, database, load_, seed=seed)
        _print(figures, output_format)
        return
    if first is None:
        raise click.UsageError("give --date (the first day), or --stationary with its load")
    line = line_for(config, advisors)
    with _database(database_url) as database:
        figures = _days(line, database, first, days or 1, seed, calls_per_day, advisors)
    _print(figures, output_format)


def _stationary_load(
    calls_per_hour: float | None,
    mean_handle_s: float | None,
    advisors: int | None,
    hours: float | None,
    mean_patience_s: float | None,
) -> StationaryLoad:
    given = {
        "--calls-per-hour": calls_per_hour,
        "--mean-handle-s": mean_handle_s,
        "--advisors": advisors,
        "--hours": hours,
    }
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise click.UsageError(f"--stationary needs {', '.join(missing)}")
    assert calls_per_hour and mean_handle_s and advisors and hours
    load_ = StationaryLoad(calls_per_hour, mean_handle_s, advisors, hours, mean_patience_s)
    if mean_patience_s is None and load_.load >= 1:
        raise click.UsageError(
            f"a load of {load_.load:.2f} per advisor (≥ 1) with callers who never give up "
            "grows without end; add advisors, lower --calls-per-hour, or give --mean-patience-s"
        )
    if hours <= load_.warmup_hours:
        raise click.UsageError(f"--hours must be above the {load_.warmup_hours:g} h warm-up")
    return load_


def _days(
    line: HotlineConfig,
    database: Database,
    first: date,
    days: int,
    seed: int,
    calls_per_day: float | None,
    advisors: int | None,
) -> dict[str, Any]:
    taken = calls_already_in(database, line, first, days)
    if taken:
        raise click.UsageError(
            f"the database already holds {taken} calls in those days; simulate into a fresh "
            "database (or leave out --database-url), or choose other days"
        )
    with _progress() as progress:
        run = run_days(
            line,
            database,
            first,
            days,
            seed=seed,
            calls_per_day=calls_per_day,
            on_callers=progress.start if progress else None,
            on_arrival=progress.step if progress else None,
        )
    figures = compute_report(database, line, run.first, run.last, now=run.simulation.clock.now())
    figures["simulation"] = {
        "seed": seed,
        "days": days,
        "advisors": advisors if advisors is not None else sum(b.advisors for b in line.staffing),
        "calls": run.callers,
        "web_requests": run.simulation.tally.web_requests,
        "surveys_answered": run.simulation.tally.surveys_answered,
        "wall_s": round(run.wall_s, 2),
    }
    return figures


class _Bar:
    """A progress bar over the callers, on a terminal only."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, total: int) -> None:
        self._bar = click.progressbar(length=total, label="simulating", file=sys.stderr)
        self._bar.__enter__()

    def step(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@contextmanager
def _progress() -> Iterator[_Bar | None]:
    if not sys.stderr.isatty():
        yield None
        return
    bar = _Bar()
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def _database(url: str | None) -> Iterator[Database]:
    """The database named, kept afterwards; without one, a throwaway file."""
    if url is None:
        with throwaway_database() as database:
            yield database
        return
    database = Database.connect(url)
    try:
        yield database
    finally:
        database.close()


def _print(figures: dict[str, Any], output_format: str) -> None:
    if output_format == "json":
        click.echo(json.dumps(figures, ensure_ascii=False, indent=2))
    elif "period" in figures:
        report = dict(figures)
        run = report.pop("simulation")
        click.echo(render_table(report), nl=False)
        click.echo(
            f"\n{run['calls']} simulated calls, {run['web_requests']} web requests, "
            f"{run['surveys_answered']} survey answers, seed {run['seed']}, {run['wall_s']} s"
        )
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            click.echo(f"{key:<{width}}  {value}")
