"""Reports under the calendar in force at each moment: a closure stored today leaves
yesterday's figures as they were, one stored at 10:00 counts from 10:00, and neither rebuilds
the roll-up; an edited file still does."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from callflow.cli import main
from callflow.config.models import Closure, HotlineConfig
from callflow.reports.kpis import compute_report
from callflow.reports.rollup import rebuild_rollup, refresh_rollup
from callflow.store.line_settings import change_setting
from callflow.store.session import Database
from tests.conftest import EXAMPLE_CONFIG
from tests.reports.eventlog import EventLog, local
from tests.reports.test_rollup import facts

MONDAY, TUESDAY = "2026-01-12", "2026-01-13"
HOUR_S = 3600.0


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def close(database: Database, raw: dict[str, Any], day: str, hours: str, at: datetime) -> None:
    """An admin closes the line on local *day* from–to (``"10:00-11:00"``), at *at*."""
    start, end = hours.split("-")
    value = {"start": f"{day}T{start}", "end": f"{day}T{end}", "reason": "staff meeting"}
    with database.transaction() as session:
        change_setting(session, raw, f"calendar.closures.{day}T{start}", value, by="admin", now=at)


def report(database: Database, config: HotlineConfig, day: str, now: datetime) -> dict[str, Any]:
    first = date.fromisoformat(day)
    return compute_report(database, config, first, first, now=now)


def events(logs: Sequence[Mapping[str, Any]]) -> set[str]:
    return {entry["event"] for entry in logs}


def a_monday(log: EventLog) -> None:
    """Calls and callback requests through Monday, two of them answered on Tuesday."""
    for arrives, wait in (("10:15", 30), ("10:40", 200), ("13:00", 45)):
        at = local(MONDAY, arrives)
        log.call(at).topic(at).queued(at).answered(at + timedelta(seconds=wait), wait)
    log.call(local(MONDAY, "16:00"), closed=True)
    log.request(local(MONDAY, "10:20"), due=local(MONDAY, "15:00")).dialled(
        local(MONDAY, "11:30")
    ).completed(local(MONDAY, "11:40"))
    log.request(local(MONDAY, "14:30"), due=local(TUESDAY, "15:00")).dialled(
        local(TUESDAY, "09:30")
    ).completed(local(TUESDAY, "09:40"))
    log.request(local(MONDAY, "17:00"), due=local(TUESDAY, "15:00")).dialled(
        local(TUESDAY, "10:30")
    )
    log.save()


def test_a_closure_stored_today_for_yesterday_leaves_yesterday_s_figures(
    log: EventLog, database: Database, config: HotlineConfig, raw: dict[str, Any]
) -> None:
    a_monday(log)
    now = local(TUESDAY, "12:00")
    before = report(database, config, MONDAY, now)
    close(database, raw, MONDAY, "10:00-11:00", at=local(TUESDAY, "11:00"))
    with capture_logs() as logs:
        after = report(database, config, MONDAY, now)
    assert after == before
    assert "report.rollup_rebuilt" not in events(logs)
    assert before["callback_response_mean_working_s"] == (70 * 60 + 60 * 60 + 90 * 60) / 3

    # The same closure written into the file is the baseline changed for all time.
    meeting = Closure(start=datetime(2026, 1, 12, 10), end=datetime(2026, 1, 12, 11), reason="m")
    calendar = config.calendar.model_copy(update={"closures": [*config.calendar.closures, meeting]})
    edited = config.model_copy(update={"calendar": calendar})
    with capture_logs() as logs:
        rewritten = report(database, edited, MONDAY, now)
    assert "report.rollup_rebuilt" in events(logs)
    assert rewritten["callback_response_mean_working_s"] == (30 * 60 + 60 * 60 + 90 * 60) / 3


def test_callflow_report_on_yesterday_is_unchanged_by_a_closure_stored_today(
    log: EventLog, database: Database, database_url: str, raw: dict[str, Any]
) -> None:
    a_monday(log)

    def run() -> tuple[dict[str, Any], str]:
        args = ["--config", str(EXAMPLE_CONFIG), "--database-url", database_url]
        args += ["--from", MONDAY, "--to", MONDAY, "--format", "json", "--log-level", "info"]
        result = CliRunner().invoke(main, ["report", *args])
        assert result.exit_code == 0, result.output
        figures = json.loads(result.stdout)
        figures.pop("generated_at")
        return figures, result.stderr

    before, _ = run()
    close(database, raw, MONDAY, "10:00-11:00", at=local(TUESDAY, "11:00"))
    after, logged = run()
    assert after == before
    assert "report.rollup_retimed" in logged
    assert "report.rollup_rebuilt" not in logged


def test_a_closure_stored_at_ten_for_ten_to_eleven_counts_from_ten(
    log: EventLog, database: Database, config: HotlineConfig, raw: dict[str, Any]
) -> None:
    """A request made at 10:30, in the closure, waits for the 11:00 opening: dialled at
    11:30 it took 30 working minutes. One made at 09:30 had 30 open minutes before the
    closure and 30 after it."""
    close(database, raw, TUESDAY, "10:00-11:00", at=local(TUESDAY, "10:00"))
    early = log.request(local(TUESDAY, "09:30"), due=local(TUESDAY, "15:00"))
    early.dialled(local(TUESDAY, "11:30"))
    in_closure = log.request(local(TUESDAY, "10:30"), due=local(TUESDAY, "15:00"))
    in_closure.dialled(local(TUESDAY, "11:30"))
    log.save()
    figures = report(database, config, TUESDAY, now=local(TUESDAY, "16:00"))
    assert figures["callback_response_mean_working_s"] == (HOUR_S + HOUR_S / 2) / 2
    assert figures["callback_response_mean_calendar_s"] == (2 * HOUR_S + HOUR_S) / 2
    request = next(
        row for row in facts(database)["callbacks"] if row["callback_id"] == in_closure.callback_id
    )
    assert request["working_response_us"] == 30 * 60 * 1_000_000
    closes = local(TUESDAY, "15:00")
    assert request["working_day_closes_us"] == int(closes.timestamp()) * 1_000_000


def test_a_closure_stored_while_a_request_waits_moves_its_working_day_without_a_rebuild(
    log: EventLog, database: Database, config: HotlineConfig, raw: dict[str, Any]
) -> None:
    """At noon the line is closed from 13:00 for the rest of the day: a request made at
    11:00 and not yet dialled has missed its working day once 13:00 has passed, though no
    event of its own came after the change."""
    log.request(local(MONDAY, "10:00"), due=local(MONDAY, "15:00")).dialled(local(MONDAY, "10:30"))
    log.request(local(TUESDAY, "09:30"), due=local(TUESDAY, "15:00")).dialled(
        local(TUESDAY, "10:30")
    )
    log.request(local(TUESDAY, "11:00"), due=local(TUESDAY, "15:00"))
    log.save()
    watermark = refresh_rollup(database, config)
    close(database, raw, TUESDAY, "13:00-15:00", at=local(TUESDAY, "12:00"))
    with capture_logs() as logs:
        figures = report(database, config, TUESDAY, now=local(TUESDAY, "14:00"))
    assert figures["callbacks_same_day_share"] == 0.5
    assert events(logs) >= {"report.rollup_retimed"}
    assert "report.rollup_rebuilt" not in events(logs)
    stepwise = facts(database)
    assert rebuild_rollup(database, config) == watermark
    assert facts(database) == stepwise


def test_a_refresh_after_a_stored_change_equals_a_rebuild(
    log: EventLog, database: Database, config: HotlineConfig, raw: dict[str, Any]
) -> None:
    """Requests folded before a change, others and their dials after it, across two days:
    built in steps, the roll-up is what a rebuild under the same timeline makes. Monday's
    requests answered on Tuesday morning were folded before Tuesday 09:00–10:00 was closed
    (at 08:00 that morning): their working time to the dial now skips the closure, whether
    their working day was Monday or Tuesday."""
    a_monday(log)
    now = local(TUESDAY, "16:00")
    assert report(database, config, MONDAY, now)["callback_response_mean_working_s"] == (
        (70 + 60 + 90) * 60 / 3
    )
    close(database, raw, TUESDAY, "09:00-10:00", at=local(TUESDAY, "08:00"))
    close(database, raw, TUESDAY, "12:00-13:00", at=local(TUESDAY, "11:45"))
    log.request(local(TUESDAY, "11:50"), due=local(TUESDAY, "15:00")).dialled(
        local(TUESDAY, "13:10")
    )
    log.save()
    refresh_rollup(database, config)
    stepwise = facts(database)
    rebuild_rollup(database, config)
    assert facts(database) == stepwise
    monday = report(database, config, MONDAY, now)
    assert monday["callback_response_mean_working_s"] == (70 + 30 + 30) * 60 / 3
    tuesday = report(database, config, TUESDAY, now)
    assert tuesday["callback_response_mean_working_s"] == 20 * 60.0  # 11:50–12, 13–13:10
