"""Fixtures for report tests: an event log to write scenarios into, on both databases."""

from __future__ import annotations

import pytest

from callflow.store.session import Database
from tests.reports.eventlog import EventLog


@pytest.fixture
def log(database: Database) -> EventLog:
    return EventLog(database)
