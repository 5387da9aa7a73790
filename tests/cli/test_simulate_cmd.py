"""``callflow simulate`` rehearses the line as it runs: the settings stored in the line's
database (a closure stored for a day) are in force in the what-if run too."""

from __future__ import annotations

import json
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
from tests.conftest import EXAMPLE_CONFIG


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
