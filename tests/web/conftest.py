"""The web app on a real database (SQLite and PostgreSQL) with a fake clock, and the
advisors and assignments the API tests act on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from callflow.config.models import HotlineConfig
from callflow.engine.clock import FakeClock
from callflow.store.advisors import issue_token, register_advisor, set_advisor_state
from callflow.store.attempts import mark_dialled
from callflow.store.base import Base
from callflow.store.claims import claim_next_callback
from callflow.store.models import AdvisorState
from callflow.store.session import Database
from callflow.web.app import create_app
from tests.store.helpers import T0, add_callback

WORKER = "worker-1"
LEASE = timedelta(seconds=90)


class Api:
    """The app called through httpx's ASGI transport, one request at a time, each in an
    event loop of its own (Starlette's TestClient is deprecated with httpx)."""

    def __init__(self, app: FastAPI, *, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.headers = headers or {}
        self.cookies = httpx.Cookies()
        """Kept from one request to the next (a browser's, for the pages)."""

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://web.test",
                cookies=self.cookies,
                headers=self.headers,
            ) as client:
                answer = await client.request(method, url, **options)
                self.cookies = client.cookies
                return answer

        return asyncio.run(send())

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PUT", url, **options)


@dataclass(frozen=True, slots=True)
class Someone:
    """An advisor with their API token."""

    id: int
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def enrol(
    database: Database,
    name: str,
    *,
    skills: tuple[str, ...] = ("nurse",),
    languages: tuple[str, ...] = ("fi",),
    admin: bool = False,
    available: bool = True,
) -> Someone:
    with database.transaction() as session:
        advisor_id = register_advisor(session, name, skills, languages, T0, admin=admin)
        token = issue_token(session, advisor_id)
        if available:
            set_advisor_state(session, advisor_id, AdvisorState.AVAILABLE, T0)
    return Someone(advisor_id, token)


def assign(
    database: Database,
    advisor: Someone,
    number_e164: str,
    *,
    dialled: bool = True,
    at: datetime = T0,
) -> int:
    """A callback that entered the queue at T0, claimed for *advisor* by a worker *at*
    and, unless told otherwise, dialled then."""
    with database.transaction() as session:
        callback_id = add_callback(session, number_e164)
        claimed = claim_next_callback(session, advisor.id, at, owner=WORKER, lease=LEASE)
        assert claimed is not None and claimed.callback_id == callback_id
        if dialled:
            mark_dialled(session, callback_id, claimed.attempt_no, at, owner=WORKER)
    return callback_id


def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the API could change, to show that a refused request changed nothing."""
    tables = (
        "advisors",
        "advisor_skills",
        "advisor_languages",
        "callback_requests",
        "callback_attempts",
        "call_events",
    )
    with database.reading() as session:
        return {
            name: sorted(
                (tuple(row) for row in session.execute(select(Base.metadata.tables[name]))),
                key=repr,
            )
            for name in tables
        }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def client(config: HotlineConfig, database: Database, clock: FakeClock) -> Api:
    return Api(create_app(config, database, clock=clock))


@pytest.fixture
def anna(database: Database) -> Someone:
    return enrol(database, "Anna")


@pytest.fixture
def bert(database: Database) -> Someone:
    return enrol(database, "Bert")


@pytest.fixture
def admin(database: Database) -> Someone:
    return enrol(database, "Aino", admin=True, available=False)
