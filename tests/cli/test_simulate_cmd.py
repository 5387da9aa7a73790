"""``callflow simulate`` rehearses the line as it runs: the settings stored in the line's
database (a closure stored for a day) are in force in the what-if run too."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from callflow.cli import main
from callflow.config.load import CONFIG_ENV, DATABASE_ENV, load_config
from callflow.service.rules import LineRules
from callflow.store.migrate import upgrade
from callflow.store.session import Database
from tests.conftest import EXAMPLE_CONFIG, _empty_postgres


def simulated(line_database: str, day: str) -> dict[str, Any]:
    args = ["simulate", "--date", day, "--calls-per-day", "60", "--format", "json"]
    env = {CONFIG_ENV: str(EXAMPLE_CONFIG), DATABASE_ENV: line_database}
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


@pytest.mark.slow  # three what-if days
def test_a_day_closed_in_the_lines_database_is_closed_in_the_rehearsal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'line.sqlite3'}"
    assert simulated(url, "2026-01-14")["offered"] > 0, "no line database yet: the file's"
    database = Database.connect(url)
    upgrade(database)
    LineRules.load(load_config(EXAMPLE_CONFIG), database).change(
        "calendar.closures.2026-01-14",
        {"date": "2026-01-14", "reason": "Strike"},
        by="test",
        now=datetime.now(UTC),
    )
    database.close()
    closed = simulated(url, "2026-01-14")
    assert (closed["offered"], closed["simulation"]["calls"]) == (0, 0)


WEEK = ("2026-01-12", "2026-01-18")
"""Monday to Sunday in the winter peak: web requests come at the weekend too."""


def with_survey_on(folder: Path) -> Path:
    """The example line with the recommendation question switched on, everything else as
    it is (web requests are on there, six a day)."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    switched = re.sub(r"(\[survey\][^\[]*?)enabled = false", r"\1enabled = true", text, count=1)
    assert switched != text
    path = folder / "hotline.toml"
    path.write_text(switched, encoding="utf-8")
    return path


def invoke_json(args: list[str], config_file: Path) -> dict[str, Any]:
    result = CliRunner().invoke(
        main, [*args, "--format", "json"], env={CONFIG_ENV: str(config_file)}
    )
    assert result.exit_code == 0, result.output
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


@pytest.mark.postgres
@pytest.mark.slow  # a week, twice
def test_a_simulated_week_with_web_requests_and_the_survey_reports_alike_on_both_databases(
    sqlite_template: Path, postgres_url: str, tmp_path: Path
) -> None:
    """`callflow simulate --days 7` with web requests and the survey on, then `callflow
    report` for that week: web requests are made and called back, residents answer on
    every channel, and the report (channels, NPS, reaction times) is the same to the
    digit on SQLite and on PostgreSQL."""
    config_file = with_survey_on(tmp_path)
    sqlite = tmp_path / "week.sqlite3"
    shutil.copy(sqlite_template, sqlite)
    _empty_postgres(postgres_url)
    reports, runs = [], []
    for url in (f"sqlite:///{sqlite}", postgres_url):
        simulate = ["simulate", "--date", WEEK[0], "--days", "7", "--seed", "11"]
        runs.append(invoke_json([*simulate, "--database-url", url], config_file)["simulation"])
        period = ["report", "--from", WEEK[0], "--to", WEEK[1], "--database-url", url]
        reports.append(invoke_json(period, config_file))
    for figures in reports:
        figures.pop("generated_at")
    on_sqlite, on_postgresql = reports
    assert on_sqlite == on_postgresql
    run = runs[0]
    assert {k: v for k, v in run.items() if k != "wall_s"} == {
        k: v for k, v in runs[1].items() if k != "wall_s"
    }
    assert run["web_requests"] > 20 and run["surveys_answered"] > 10

    channels = on_sqlite["by_channel"]
    assert set(channels) == {"phone", "callback", "web"}
    for name, row in channels.items():
        assert row["contacts"] > 0, name
        assert 0 < row["taken_up"] <= row["contacts"], name
        assert row["reaction_time_mean_s"] > 0 and row["reaction_time_p90_s"] > 0, name
    # A call is answered in minutes; a request waits for the dialling window (a
    # weekend's web requests until Monday).
    assert channels["phone"]["reaction_time_mean_s"] < channels["web"]["reaction_time_mean_s"]
    assert on_sqlite["survey_responses"] == run["surveys_answered"]
    assert 0.1 < on_sqlite["survey_response_rate"] < 0.6  # survey_answer_share = 0.3
    assert -100 <= on_sqlite["nps"] <= 100
    assert on_sqlite["nps"] > 0  # the example's scores lean to 9 and 10
