"""`callflow report` as an admin runs it: every format, a file, clear refusals."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callflow.cli import main
from callflow.store.session import Database
from tests.conftest import EXAMPLE_CONFIG
from tests.reports.eventlog import EventLog, local

MONDAY = "2026-01-12"
CONTRACT_KEYS = {
    "period",
    "queue",
    "timezone",
    "generated_at",
    "thresholds",
    "offered",
    "answered",
    "abandoned_ivr",
    "abandoned_queue",
    "short_abandons",
    "asa_s",
    "service_level",
    "wait_p50_s",
    "wait_p90_s",
    "callbacks_requested",
    "callbacks_completed",
    "callbacks_failed",
    "callbacks_expired",
    "callback_response_median_s",
    "answered_immediately_share",
    "callbacks_same_day_share",
    "callback_response_mean_working_s",
    "callback_response_mean_calendar_s",
    "promise_kept_share",
    "by_queue",
    "by_weekday",
    "by_hour",
    "by_reason",
    "by_referral",
    "wait_distribution",
    "callback_response_distribution",
    "surveys_asked",
    "survey_responses",
    "survey_response_rate",
    "nps",
    "by_channel",
    "surveys_by_week",
}
CHANNEL_KEYS = {
    "contacts",
    "taken_up",
    "reaction_time_mean_s",
    "reaction_time_p90_s",
    "surveys_asked",
    "survey_responses",
    "survey_response_rate",
    "nps",
}


def run(*args: str, database_url: str | None = None, config: Path = EXAMPLE_CONFIG) -> Result:
    options = ["--config", str(config)]
    if database_url is not None:
        options += ["--database-url", database_url]
    return CliRunner().invoke(main, ["report", *options, *args])


@pytest.fixture
def monday(database: Database, database_url: str) -> str:
    """Two answered calls and a callback dialled the same day, on Monday 2026-01-12."""
    log = EventLog(database)
    for arrives, wait in (("10:00", 30), ("11:00", 90)):
        at = local(MONDAY, arrives)
        log.call(at).topic(at).queued(at).answered(at + timedelta(seconds=wait), wait)
    log.request(local(MONDAY, "12:00"), due=local(MONDAY, "15:00")).dialled(
        local(MONDAY, "13:00")
    ).completed(local(MONDAY, "13:05"))
    log.save()
    return database_url


def test_json_carries_every_key_of_the_contract(monday: str) -> None:
    result = run("--from", MONDAY, "--to", MONDAY, "--format", "json", database_url=monday)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) >= CONTRACT_KEYS
    assert (figures["offered"], figures["answered"], figures["asa_s"]) == (2, 2, 60.0)
    assert figures["callbacks_same_day_share"] == 1.0


def test_nps_and_reaction_times_in_json_and_html(
    monday: str, database: Database, tmp_path: Path
) -> None:
    """Three answers after Monday's calls (10, 9, 0 → 100 × (2 − 1) / 3 = 33.3) with the
    minimum sample lowered to three in a copy of the example."""
    config = tmp_path / "hotline.toml"
    example = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    lowered = example.replace("nps_min_responses = 30", "nps_min_responses = 3")
    assert lowered != example
    config.write_text(lowered, encoding="utf-8")
    log = EventLog(database)
    for minute, score in enumerate([10, 9, 0, None]):
        log.survey(local(MONDAY, f"14:{minute:02d}"), score)
    log.save()
    args = ("--from", MONDAY, "--to", MONDAY)
    result = run(*args, "--format", "json", database_url=monday, config=config)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert (figures["nps"], figures["survey_responses"]) == (33.3, 3)
    assert figures["survey_response_rate"] == 0.75
    assert set(figures["by_channel"]) == {"phone", "callback", "web"}
    assert all(set(row) == CHANNEL_KEYS for row in figures["by_channel"].values())
    assert figures["by_channel"]["phone"]["reaction_time_mean_s"] == 60.0  # 30 s and 90 s
    assert figures["by_channel"]["callback"]["reaction_time_p90_s"] == 3600.0
    assert figures["surveys_by_week"]["2026-W03"]["nps"] == 33.3
    page = tmp_path / "report.html"
    result = run(*args, "--format", "html", "-o", str(page), database_url=monday, config=config)
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    week = html[html.index("<h2>NPS by week</h2>") :]
    assert "<td>2026-W03</td>" in week and "<td>33.3</td>" in week


def test_the_default_table_reads_on_a_terminal(monday: str) -> None:
    result = run("--from", MONDAY, "--to", "2026-01-16", database_url=monday)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Report 2026-01-12 – 2026-01-16, all queues (local time Europe/Helsinki)"
    assert "Statutory measures" in lines
    assert any(line.split() == ["asa_s", "1", "min", "00", "s"] for line in lines)


def test_csv_parses_into_one_figure_per_row(monday: str) -> None:
    result = run("--from", MONDAY, "--to", MONDAY, "--format", "csv", database_url=monday)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    found = {(r["section"], r["key"], r["measure"]): r["value"] for r in rows}
    assert found[("summary", "", "answered")] == "2"
    assert found[("by_queue", "health", "offered")] == "2"
    assert found[("by_weekday", "monday", "callbacks_requested")] == "1"


def test_html_goes_to_the_file_named(monday: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = run(
        "--from", MONDAY, "--to", MONDAY, "--format", "html", "-o", str(page), database_url=monday
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"wrote {page}" in result.stderr
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html


def test_rebuild_gives_the_same_figures(monday: str) -> None:
    args = ("--from", MONDAY, "--to", MONDAY, "--format", "json", "--queue", "health")
    first = json.loads(run(*args, database_url=monday).stdout)
    rebuilt = run(*args, "--rebuild", database_url=monday)
    assert rebuilt.exit_code == 0, rebuilt.output
    again = json.loads(rebuilt.stdout)
    assert {k: v for k, v in again.items() if k != "generated_at"} == {
        k: v for k, v in first.items() if k != "generated_at"
    }
    assert again["queue"] == "health"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-01-16", "--to", MONDAY], "2026-01-12 is before --from 2026-01-16"),
        (["--from", "12.1.2026", "--to", MONDAY], "'12.1.2026' is not a date like 2026-01-12"),
        (["--from", MONDAY, "--to", MONDAY, "--queue", "dental"], "no queue 'dental'"),
        (["--from", MONDAY, "--to", MONDAY, "--format", "pdf"], "'pdf' is not one of"),
        (["--to", MONDAY], "Missing option '--from'"),
    ],
)
def test_bad_input_is_explained_and_touches_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    database = tmp_path / "untouched.sqlite3"
    result = run(*args, database_url=f"sqlite:///{database}")
    assert result.exit_code == 2
    assert message in result.stderr
    assert not database.exists()


def test_an_output_file_in_a_missing_folder_is_refused_before_any_work(monday: str) -> None:
    result = run(
        "--from", MONDAY, "--to", MONDAY, "-o", "/proc/no-such/report.txt", database_url=monday
    )
    assert result.exit_code == 2
    assert "no folder /proc/no-such to write report.txt in" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_sqlite_database_is_not_created_but_named(tmp_path: Path) -> None:
    """A mistyped path would otherwise report an empty line as if nobody had called."""
    missing = tmp_path / "typo.sqlite3"
    result = run("--from", MONDAY, "--to", MONDAY, database_url=f"sqlite:///{missing}")
    assert result.exit_code == 2
    assert f"no database at {missing}" in result.stderr
    assert not missing.exists()
