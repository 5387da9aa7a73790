"""Putting advisors and callback requests into a test database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from callflow.engine.commands import StoreCallback
from callflow.engine.vocabulary import CallbackStatus
from callflow.store.callbacks import create_callback
from callflow.store.models import (
    Advisor,
    AdvisorLanguage,
    AdvisorSkill,
    AdvisorState,
    CallbackRequest,
)
from callflow.store.session import Database

T0 = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)  # Monday 10:00 in Helsinki


def add_advisor(
    session: Session,
    name: str,
    skills: tuple[str, ...] = ("nurse",),
    languages: tuple[str, ...] = ("fi",),
    *,
    enabled: bool = True,
) -> int:
    """A signed-in advisor, ready since long before any test's clock."""
    ready = T0 - timedelta(days=3650)
    advisor = Advisor(
        name=name,
        enabled=enabled,
        admin=False,
        state=AdvisorState.AVAILABLE,
        state_since=ready,
        ready_at=ready,
        created_at=T0,
    )
    session.add(advisor)
    session.flush()
    session.add_all(AdvisorSkill(advisor_id=advisor.id, skill=s) for s in skills)
    session.add_all(AdvisorLanguage(advisor_id=advisor.id, language=lang) for lang in languages)
    session.flush()
    return advisor.id


def add_callback(
    session: Session,
    number: str,
    *,
    topic: str = "health",
    language: str = "fi",
    entered: datetime = T0,
    deadline_class: int = 1,
    not_before: datetime | None = None,
) -> int:
    request = create_callback(
        session,
        StoreCallback(
            number_e164=number,
            topic=topic,
            language=language,
            requested_at=entered + timedelta(seconds=30),
            queue_entered_at=entered,
            not_before=not_before or entered,
            due_at=entered + timedelta(hours=5),
            expected_at=entered + timedelta(minutes=30),
            deadline_class=deadline_class,
        ),
        call_id=None,
        now=entered,
    )
    session.flush()
    return request.id


def finish(session: Session, callback_id: int, now: datetime) -> None:
    """Mark a claimed callback done, freeing its advisor (what the dispatcher will do)."""
    request = session.get(CallbackRequest, callback_id)
    assert request is not None
    if request.advisor_id is not None:
        advisor = session.get(Advisor, request.advisor_id)
        assert advisor is not None
        advisor.state = AdvisorState.AVAILABLE
        advisor.ready_at = now
    request.advisor_id = None
    request.status = CallbackStatus.COMPLETED
    request.lease_owner = None
    request.lease_expires_at = None
    request.closed_at = now
    request.updated_at = now


def number(i: int) -> str:
    return f"+35840{i:07d}"


class Restarting:
    """The test's real database, refusing new connections while it is "down" as a server
    being restarted does, or a SQLite file whose volume went (the driver's own error and
    words, raised where it would connect)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.down = False
        self.refused = 0
        sqlite = database.engine.dialect.name == "sqlite"
        self.says = "unable to open database file" if sqlite else "the server is restarting"
        event.listen(database.engine, "do_connect", self._connect)

    def _connect(self, dialect: Any, _record: Any, _args: Any, _params: Any) -> None:
        if self.down:
            self.refused += 1
            raise dialect.loaded_dbapi.OperationalError(self.says)

    def stop(self) -> None:
        self.down = True
        self.database.engine.dispose()  # the pooled connections went with it

    def start(self) -> None:
        self.down = False
