"""`callflow callbacks` as an admin runs it: the open requests in claim order, the at-risk and
manual follow-up lists, one request's history, cancelling; numbers masked throughout."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from callflow.cli import main
from callflow.config.models import HotlineConfig
from callflow.engine.vocabulary import AttemptResult, CallbackStatus, EventKind
from callflow.store.claims import claim_next_callback
from callflow.store.models import CallbackRequest, CallEvent
from callflow.store.session import Database
from callflow.store.upkeep import flag_callbacks_at_risk
from callflow.values.numbers import mask_digits
from tests.conftest import EXAMPLE_CONFIG
from tests.store.helpers import T0, add_advisor, add_callback, number
from tests.store.test_callback_views import call_back, fail_for_good


def run(database_url: str, *args: str) -> Result:
    options = ["--config", str(EXAMPLE_CONFIG), "--database-url", database_url]
    return CliRunner().invoke(main, ["callbacks", *args, *options])


@dataclass(frozen=True)
class Morning:
    """A morning on the line: one request failed after three attempts, one completed,
    four open (one flagged at risk), and the database they are in."""

    url: str
    failed: int
    completed: int
    at_risk: int
    escalated: int
    social: int
    health: int

    @property
    def open_in_claim_order(self) -> list[int]:
        return [self.at_risk, self.escalated, self.social, self.health]


@pytest.fixture
def morning(database: Database, database_url: str, config: HotlineConfig) -> Morning:
    with database.transaction() as session:
        nurse = add_advisor(session, "anna")
        failed = add_callback(session, number(1))
        fail_for_good(session, config, nurse)
        completed = add_callback(session, number(2))
        call_back(session, config, nurse, AttemptResult.REACHED, timedelta(hours=2))
        # Due five hours after entering: this one is due within the half-hour margin.
        at_risk = add_callback(session, number(3), entered=T0 - timedelta(hours=4, minutes=50))
        escalated = add_callback(
            session, number(4), entered=T0 + timedelta(minutes=20), deadline_class=0
        )
        social = add_callback(session, number(5), topic="social", entered=T0 + timedelta(minutes=5))
        health = add_callback(session, number(6), entered=T0 + timedelta(minutes=10))
        assert flag_callbacks_at_risk(session, T0, timedelta(minutes=30)) == [at_risk]
    return Morning(database_url, failed, completed, at_risk, escalated, social, health)


def table_ids(result: Result) -> list[int]:
    """The id column of a table: the lines after the heading and the column titles."""
    assert result.exit_code == 0, result.output
    return [int(row.split()[0]) for row in result.stdout.splitlines()[2:]]


def no_full_number(result: Result) -> None:
    for i in range(1, 7):
        assert number(i) not in result.output


def test_list_shows_the_open_requests_in_claim_order_masked(morning: Morning) -> None:
    result = run(morning.url, "list")
    assert table_ids(result) == morning.open_in_claim_order
    assert result.stdout.startswith("4 callback request(s) (pending, in_progress)")
    assert mask_digits(number(3)) in result.stdout
    no_full_number(result)
    at_risk_row = result.stdout.splitlines()[2]
    assert "at risk" in at_risk_row
    assert "2026-01-12 05:10  2026-01-12 10:10" in at_risk_row  # entered and due, local time


def test_failed_requests_are_the_manual_follow_up_list(morning: Morning) -> None:
    result = run(morning.url, "list", "--status", "failed")
    assert table_ids(result) == [morning.failed]
    assert "not reached in 3 attempts" in result.stdout
    both = run(morning.url, "list", "--status", "failed", "--status", "completed")
    assert table_ids(both) == [morning.completed, morning.failed]  # newest first


def test_at_risk_and_topic_narrow_the_list(morning: Morning) -> None:
    assert table_ids(run(morning.url, "list", "--at-risk")) == [morning.at_risk]
    assert table_ids(run(morning.url, "list", "--topic", "social")) == [morning.social]
    assert table_ids(run(morning.url, "list", "--limit", "2")) == morning.open_in_claim_order[:2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--topic", "dental"], "health, social, other"),
        (["--at-risk", "--status", "failed"], "--at-risk lists open requests"),
        (["--show-numbers"], "--format json or csv"),
        (["--status", "lost"], "'lost' is not one of"),
    ],
)
def test_a_list_that_cannot_be_answered_is_refused(
    morning: Morning, args: list[str], message: str
) -> None:
    result = run(morning.url, "list", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_json_and_csv_mask_numbers_unless_asked(morning: Morning) -> None:
    listed = json.loads(run(morning.url, "list", "--format", "json").stdout)
    assert [r["id"] for r in listed] == morning.open_in_claim_order
    assert listed[0]["number_e164"] == mask_digits(number(3))
    assert listed[0]["at_risk_at"] == "2026-01-12T10:00:00+02:00"
    assert listed[0]["status"] == "pending"

    shown = json.loads(run(morning.url, "list", "--format", "json", "--show-numbers").stdout)
    assert shown[0]["number_e164"] == number(3)

    rows = list(csv.DictReader(io.StringIO(run(morning.url, "list", "--format", "csv").stdout)))
    assert [int(r["id"]) for r in rows] == morning.open_in_claim_order
    assert rows[0]["number_e164"] == mask_digits(number(3))
    assert rows[0]["closed_at"] == ""


def test_show_has_every_attempt_its_events_and_a_masked_number(morning: Morning) -> None:
    result = run(morning.url, "show", str(morning.failed))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith(f"Callback {morning.failed}: failed since 2026-01-12 11:02")
    assert mask_digits(number(1)) in text
    no_full_number(result)
    attempts = text.split("\nAttempts\n")[1].split("\n\nEvents\n")[0].splitlines()[1:]
    assert [row.split()[:2] for row in attempts] == [["1", "anna"], ["2", "anna"], ["3", "anna"]]
    assert all("no_answer" in row for row in attempts)
    assert "2026-01-12 10:00:00" in attempts[0]  # claimed, in local time
    events = text.split("\nEvents\n")[1]
    assert events.count("callback.attempt_ended") == 3
    assert "callback.failed" in events


def test_show_includes_the_advisors_coding(morning: Morning) -> None:
    result = run(morning.url, "show", str(morning.completed))
    assert result.exit_code == 0, result.output
    assert "reached" in result.stdout
    assert "simple_need / own_services / health" in result.stdout


def test_show_as_json(morning: Morning) -> None:
    shown = json.loads(run(morning.url, "show", str(morning.failed), "--format", "json").stdout)
    assert shown["request"]["status"] == "failed"
    assert shown["request"]["number_e164"] == mask_digits(number(1))
    assert [a["result"] for a in shown["attempts"]] == ["no_answer"] * 3
    assert shown["events"][-1]["kind"] == "callback.failed"
    full = json.loads(
        run(morning.url, "show", str(morning.failed), "--format", "json", "--show-numbers").stdout
    )
    assert full["request"]["number_e164"] == number(1)


def test_an_unknown_id_is_a_clear_error(morning: Morning) -> None:
    for command in ("show", "cancel"):
        result = run(morning.url, command, "999")
        assert result.exit_code == 1
        assert "no callback request 999" in result.stderr


def stored(database: Database, callback_id: int) -> CallbackRequest:
    with database.reading() as session:
        request = session.get(CallbackRequest, callback_id)
        assert request is not None
        return request


def test_cancel_closes_an_open_request_once(morning: Morning, database: Database) -> None:
    result = run(morning.url, "cancel", str(morning.health), "--reason", "resident came in")
    assert result.exit_code == 0, result.output
    assert f"cancelled callback {morning.health} (was pending)" in result.stdout
    request = stored(database, morning.health)
    assert (request.status, request.closed_reason) == (CallbackStatus.CANCELLED, "resident came in")
    with database.reading() as session:
        logged = session.scalars(
            select(CallEvent.data).where(
                CallEvent.callback_id == morning.health,
                CallEvent.kind == EventKind.CALLBACK_CANCELLED,
            )
        ).all()
    assert logged == [{"by": "admin", "reason": "resident came in"}]
    assert morning.health not in table_ids(run(morning.url, "list"))

    again = run(morning.url, "cancel", str(morning.health))
    assert again.exit_code == 1
    assert "already cancelled" in again.stderr and "nothing changed" in again.stderr
    assert stored(database, morning.health).closed_reason == "resident came in"


def test_a_finished_request_cannot_be_cancelled(morning: Morning, database: Database) -> None:
    result = run(morning.url, "cancel", str(morning.failed))
    assert result.exit_code == 1
    assert "already failed" in result.stderr
    assert stored(database, morning.failed).status is CallbackStatus.FAILED


def test_cancelling_a_request_being_called_ends_its_attempt(
    morning: Morning, database: Database
) -> None:
    with database.transaction() as session:
        claimed = claim_next_callback(
            session, None, T0 + timedelta(hours=3), owner="w", lease=timedelta(seconds=90)
        )
    assert claimed is not None and claimed.callback_id == morning.at_risk
    result = run(morning.url, "cancel", str(morning.at_risk))
    assert result.exit_code == 0 and "(was in_progress)" in result.stdout
    shown = json.loads(run(morning.url, "show", str(morning.at_risk), "--format", "json").stdout)
    assert shown["request"]["status"] == "cancelled"
    assert [a["result"] for a in shown["attempts"]] == ["interrupted"]


def test_reason_must_fit(morning: Morning) -> None:
    result = run(morning.url, "cancel", str(morning.health), "--reason", "x" * 65)
    assert result.exit_code == 2 and "1 to 64 characters" in result.stderr
