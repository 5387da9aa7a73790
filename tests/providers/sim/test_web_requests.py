"""Simulated residents leave requests on the web page: around the clock, through the
page's own rule (channel web, the promise from the next opening), and are called back
like any other request."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.calendar import Calendar
from callflow.engine.vocabulary import Channel, EventKind
from callflow.logging import configure_logging
from callflow.providers.sim.simulation import Simulation
from callflow.store.models import CallbackAttempt, CallbackRequest, CallEvent
from callflow.store.queues import sync_queues
from callflow.store.session import Database

SUNDAY = date(2026, 1, 11)


@pytest.fixture(scope="module", autouse=True)
def _quiet() -> Iterator[None]:
    configure_logging("warning")
    yield
    structlog.reset_defaults()


def line(config: HotlineConfig, *, per_day: float, **web: object) -> HotlineConfig:
    simulation = config.simulation.model_copy(update={"web_requests_per_day": per_day})
    web_requests = config.web_requests.model_copy(update=web)
    return config.model_copy(update={"simulation": simulation, "web_requests": web_requests})


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path, config: HotlineConfig) -> Iterator[Database]:
    path = tmp_path / "web.sqlite3"
    shutil.copy(sqlite_template, path)
    database = Database.connect(f"sqlite:///{path}")
    with database.transaction() as session:
        sync_queues(session, config, datetime.fromisoformat("2026-01-01T00:00:00+00:00"))
    yield database
    database.close()


def weekend_and_monday(database: Database, config: HotlineConfig) -> Simulation:
    start = Calendar.from_config(config).at_minute(SUNDAY, 0)
    simulation = Simulation(config, database, seed=3, start=start, calls_per_day=20)
    simulation.schedule_days(SUNDAY, 2)
    simulation.run_until(None)
    simulation.close()
    return simulation


def web_requests(database: Database) -> list[CallbackRequest]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(CallbackRequest)
                .where(CallbackRequest.channel == Channel.WEB)
                .order_by(CallbackRequest.id)
            )
        )


def test_requests_come_around_the_clock_and_are_called_back_in_the_window(
    database: Database, config: HotlineConfig
) -> None:
    busy_page = line(config, per_day=40)
    simulation = weekend_and_monday(database, busy_page)
    calendar = simulation.calendar
    made = web_requests(database)
    assert len(made) == simulation.tally.web_requests
    assert 50 < len(made) < 110  # two days at 40 a day
    assert len({r.number_e164 for r in made}) == len(made)
    assert all(r.description and r.call_id is None for r in made)
    assert {r.topic for r in made} <= set(busy_page.queues)
    hours = {calendar.local(r.created_at).hour for r in made}
    assert len(hours) > 16  # not only while the line is open
    sunday = [r for r in made if calendar.local_date(r.created_at) == SUNDAY]
    assert sunday and all(calendar.local_date(r.due_at) > SUNDAY for r in sunday)
    with database.reading() as session:
        logged = session.scalars(
            select(CallEvent).where(
                CallEvent.kind == EventKind.CALLBACK_REQUESTED,
                CallEvent.callback_id.in_([r.id for r in made]),
            )
        ).all()
        attempts = session.scalars(
            select(CallbackAttempt).where(CallbackAttempt.callback_id.in_([r.id for r in made]))
        ).all()
    assert len(logged) == len(made)
    assert all(e.data["channel"] == "web" and e.call_id is None for e in logged)
    assert attempts, "the web requests were never called back"
    window = busy_page.callbacks.retry.allowed_hours
    for attempt in attempts:
        assert attempt.dialled_at is not None
        local = calendar.local(attempt.dialled_at)
        minute = local.hour * 60 + local.minute
        assert calendar.is_open(attempt.dialled_at)
        assert window.start_minute <= minute < window.end_minute
        assert calendar.local_date(attempt.dialled_at) == SUNDAY + timedelta(days=1)


def test_only_the_queues_that_take_web_requests_get_them(
    database: Database, config: HotlineConfig
) -> None:
    weekend_and_monday(database, line(config, per_day=30, queues=["social"]))
    made = web_requests(database)
    assert made and {r.topic for r in made} == {"social"}


@pytest.mark.parametrize(("per_day", "enabled"), [(0, True), (30, False)])
def test_no_requests_while_nobody_writes_or_the_page_takes_none(
    database: Database, config: HotlineConfig, per_day: float, enabled: bool
) -> None:
    simulation = weekend_and_monday(database, line(config, per_day=per_day, enabled=enabled))
    assert web_requests(database) == [] and simulation.tally.web_requests == 0
